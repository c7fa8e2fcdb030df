//! Cost of the operations a reconciler runs on every pass, for the derived
//! enum of condition types AND for `String` types (what
//! `metav1.Condition.Type` is, and what users of foreign or dynamic types
//! hold), side by side with apimachinery's `meta.SetStatusCondition` and
//! `meta.FindStatusCondition` doing the same in Go, in the same run:
//!
//! * set: no-op, update (the reason changes), transition (the status
//!   changes), each on the last of 1, 10 and 32 conditions (the worst case
//!   of the linear lookup); find the last one;
//! * deserializing and serializing a status with 32 conditions (Rust only).
//!
//! The Go side (`benches/apimachinery`, a `testing.B` with pinned module
//! versions, built once with `go test -c`) runs each operation just before
//! and just after the Rust benchmarks of the same operation, so a change
//! of load hits both. The table at the end gives, per operation, the
//! fastest sample of each side (noise only ever adds time, so it is the
//! steadiest figure on a shared machine) and the medians, and the ratios.
//! Go is found as `$GO`, else `go` on `PATH`, else `/usr/local/go/bin/go`.
//!
//! `cargo bench -p konditions-core --bench conditions [-- <criterion filter>]`

// The report is the point of a benchmark.
#![allow(clippy::print_stdout)]

#[path = "../../tests/common/derived.rs"]
mod derived;

mod apimachinery;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Criterion;
use derived::GaugeCondition;
use konditions_core::{Clock, ConditionType, Conditions, ManualClock, Status, Verdict};

const SIZES: [usize; 3] = [1, 10, 32];

/// The operations, as the table names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Op {
    Noop,
    Update,
    Transition,
    Find,
}

impl Op {
    const ALL: [Op; 4] = [Op::Noop, Op::Update, Op::Transition, Op::Find];

    fn label(self) -> &'static str {
        match self {
            Op::Noop => "set no-op",
            Op::Update => "set update",
            Op::Transition => "set transition",
            Op::Find => "find",
        }
    }
}

/// A benchmark of the Rust side: (operation, n, type).
type Key = (Op, usize, &'static str);

/// What the Rust side measured: nanoseconds per iteration of each of
/// criterion's calls (warm-up first, then the samples).
static MEASURED: Mutex<BTreeMap<Key, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// How many of criterion's calls the table looks at: its samples (the
/// default sample size), after the warm-up.
const SAMPLES: usize = 100;

/// A clock fixed at one instant, without a lock (`ManualClock` takes a
/// mutex): the Go benchmark passes a fixed `LastTransitionTime`, so
/// neither side reads a clock.
struct Fixed(jiff::Timestamp);

impl Clock for Fixed {
    fn now(&self) -> jiff::Timestamp {
        self.0
    }
}

/// Times `routine` for criterion and keeps each call's time per iteration
/// for the table.
fn timed<O>(b: &mut criterion::Bencher<'_>, key: Key, mut routine: impl FnMut() -> O) {
    b.iter_custom(|iters| {
        let started = Instant::now();
        for _ in 0..iters {
            black_box(routine());
        }
        let took = started.elapsed();
        MEASURED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .push(took.as_nanos() as f64 / iters.max(1) as f64);
        took
    });
}

/// A condition type as a benchmark sees it: the derived enum or a string.
trait Kind: ConditionType + std::borrow::Borrow<Self::Key> {
    /// What `set` and `find` are called with: the enum itself, or `str`.
    type Key: PartialEq + ToOwned<Owned = Self> + ?Sized;
    const NAME: &'static str;
    fn number(i: usize) -> Self;
    fn key(&self) -> &Self::Key;
}

impl Kind for GaugeCondition {
    type Key = GaugeCondition;
    const NAME: &'static str = "enum";
    fn number(i: usize) -> Self {
        GaugeCondition::ALL[i]
    }
    fn key(&self) -> &Self {
        self
    }
}

impl Kind for String {
    type Key = str;
    const NAME: &'static str = "String";
    fn number(i: usize) -> Self {
        GaugeCondition::ALL[i].as_str().to_owned()
    }
    fn key(&self) -> &str {
        self
    }
}

fn list_of<T: Kind>(n: usize, clock: &impl Clock) -> Conditions<T> {
    let mut list = Conditions::default();
    for i in 0..n {
        list.set_with(
            clock,
            Some(1),
            T::number(i).key(),
            Verdict::new(Status::True, "Ready").message("all good"),
        )
        .unwrap();
    }
    list
}

/// Benchmarks `op` on the last of `n` conditions typed `T`.
fn bench<T: Kind>(c: &mut Criterion, op: Op, n: usize) {
    let clock = Fixed("2024-05-01T10:00:00Z".parse().expect("a time"));
    let mut list = list_of::<T>(n, &clock);
    // The last condition: the worst case of the linear lookup.
    let last = T::number(n - 1);
    let key = (op, n, T::NAME);
    let mut flip = false;
    c.bench_function(&format!("{}/{n}/{}", op.label(), T::NAME), |b| match op {
        Op::Noop => timed(b, key, || {
            list.set_with(
                &clock,
                Some(1),
                black_box(last.key()),
                Verdict::new(Status::True, "Ready").message("all good"),
            )
            .unwrap()
        }),
        Op::Update => timed(b, key, || {
            flip = !flip;
            let reason = if flip { "Waiting" } else { "Ready" };
            list.set_with(
                &clock,
                Some(1),
                black_box(last.key()),
                Verdict::new(Status::True, reason).message("all good"),
            )
            .unwrap()
        }),
        Op::Transition => timed(b, key, || {
            flip = !flip;
            let status = if flip { Status::False } else { Status::True };
            list.set_with(
                &clock,
                Some(1),
                black_box(last.key()),
                Verdict::new(status, "Ready").message("all good"),
            )
            .unwrap()
        }),
        Op::Find => timed(b, key, || {
            black_box(&list).find(black_box(last.key())).is_some()
        }),
    });
}

fn deserialize(c: &mut Criterion) {
    #[derive(serde::Deserialize)]
    struct BenchStatus {
        #[allow(dead_code)]
        conditions: Conditions<GaugeCondition>,
    }
    let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
    let status =
        serde_json::json!({ "conditions": list_of::<GaugeCondition>(32, &clock) }).to_string();
    c.bench_function("deserialize_status/32", |b| {
        b.iter(|| serde_json::from_str::<BenchStatus>(black_box(&status)).unwrap());
    });
    let list = list_of::<GaugeCondition>(32, &clock);
    c.bench_function("serialize/32", |b| {
        b.iter(|| serde_json::to_string(black_box(&list)).unwrap());
    });
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// One row of the table: Go's samples around the Rust ones.
struct Row {
    op: Op,
    n: usize,
    go: Vec<apimachinery::Sample>,
}

fn main() {
    let go = apimachinery::Go::build();
    println!("load average at start: {}", loadavg());
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    // A criterion filter (a plain word: `set`, `no-op/32`, `String`) also
    // picks which Go benchmarks run.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let mut rows = Vec::new();
    for op in Op::ALL {
        for n in SIZES {
            let id = format!("{}/{n}/", op.label());
            if ![format!("{id}enum"), format!("{id}String")]
                .iter()
                .any(|name| name.contains(&filter))
            {
                continue;
            }
            let mut samples = go.run(op, n);
            bench::<GaugeCondition>(&mut c, op, n);
            bench::<String>(&mut c, op, n);
            samples.extend(go.run(op, n));
            rows.push(Row { op, n, go: samples });
        }
    }
    deserialize(&mut c);
    c.final_summary();
    println!("load average at end: {}", loadavg());

    let measured = MEASURED.lock().unwrap_or_else(|p| p.into_inner());
    let rust = |op: Op, n: usize, ty: &str| {
        measured
            .get(&(op, n, ty))
            .map(|calls| calls[calls.len().saturating_sub(SAMPLES)..].to_vec())
            .filter(|samples| !samples.is_empty())
    };
    println!(
        "\nns per operation: fastest sample (median). konditions: criterion's {SAMPLES} samples; \
         apimachinery: {} runs of `testing.B` just before and {} just after.\n",
        apimachinery::COUNT,
        apimachinery::COUNT
    );
    println!(
        "| operation | n | konditions enum | konditions String | apimachinery | Go B/op, allocs/op | String / Go | enum / Go |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let (enum_ns, string_ns) = (rust(row.op, row.n, "enum"), rust(row.op, row.n, "String"));
        if enum_ns.is_none() && string_ns.is_none() {
            continue; // filtered out
        }
        let go_ns: Vec<f64> = row.go.iter().map(|s| s.ns).collect();
        let show = |v: &Option<Vec<f64>>| {
            v.as_ref().map_or("-".to_owned(), |v| {
                format!("{:.1} ({:.1})", min(v), median(v))
            })
        };
        // Fastest against fastest, and median against median.
        let ratio = |v: &Option<Vec<f64>>| {
            v.as_ref().map_or("-".to_owned(), |v| {
                format!(
                    "{:.2} ({:.2})",
                    min(v) / min(&go_ns),
                    median(v) / median(&go_ns)
                )
            })
        };
        let allocs = row
            .go
            .last()
            .map_or("-".to_owned(), |s| format!("{}, {}", s.bytes, s.allocs));
        println!(
            "| {} | {} | {} | {} | {:.1} ({:.1}) | {allocs} | {} | {} |",
            row.op.label(),
            row.n,
            show(&enum_ns),
            show(&string_ns),
            min(&go_ns),
            median(&go_ns),
            ratio(&string_ns),
            ratio(&enum_ns),
        );
    }
    println!(
        "\nkonditions' set and find do not allocate for either type (tests/noop_alloc.rs proves it with dhat for no-op, update, transition and find)."
    );
}
