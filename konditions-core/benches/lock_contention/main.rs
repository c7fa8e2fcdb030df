//! The advisory lock against konditionner's `Lock.Execute`, on the local
//! control plane (`cargo xtask controlplane up`).
//!
//! Three parts, in one run:
//!
//! 1. **Contention** ([`contention`]). K workers (1, 4, 8), each with its
//!    own client and its own cached copy of one object, run tasks under a
//!    lock, all on ONE condition or each on its own condition of that
//!    object; the workers are tasks of this process, or K processes (the
//!    way replicas are). The two approaches run interleaved, cell by cell,
//!    on a fresh object each:
//!    * konditions' [`Lock`](konditions_core::Lock): a JSON Patch
//!      compare-and-swap on the condition;
//!    * konditionner's `Execute`, reproduced: busy when the condition's
//!      status is `Locked`; else set it `Locked` in the cached object and
//!      write the whole status guarded by its resourceVersion, run the task,
//!      set the result and write the whole status again. A refused release
//!      is returned, as konditionner returns it, and the condition stays
//!      `Locked`: nothing ever unlocks it.
//!
//!    Every task's release names its round (`round N+1` after `round N`),
//!    so a stale copy can never pass a compare-and-swap by finding the
//!    same text again (no ABA), and a task that starts from a round another
//!    task already started from is a duplicate execution. Next to
//!    throughput and latency, the correctness columns: conditions left
//!    `Locked` when the cell ends, duplicate executions, and the most tasks
//!    seen running at once on one condition. Refused writes are counted the
//!    same way for both: 409 and 422 responses, at the transport.
//! 2. **Where one worker's time goes** ([`shapes`]). The request shapes of
//!    both approaches sent one at a time: time to the response headers at
//!    the transport, CPU of the API server, etcd and the client per
//!    request, bytes each way; and the client's CPU for encoding the
//!    request and decoding the response.
//! 3. **Writes per task** ([`writes`]) as a function of task duration over
//!    the lease: two writes plus a renewal every third of the lease.
//!
//! The load average (`/proc/loadavg`) is printed at the start and the end:
//! the machine is shared, so compare the ratios of one run, not absolute
//! numbers across runs.
//!
//! ```text
//! cargo bench -p konditions-core --bench lock_contention -- [--seconds S] [--reps N]
//!     [--task-ms MS] [--only contention,shapes,writes] [--workers 1,4,8]
//!     [--targets shared,own] [--placements threads,processes] [--approaches lock,konditionner]
//! ```

// The report is the point of a benchmark.
#![allow(clippy::print_stdout)]

#[path = "../../tests/lock_support/mod.rs"]
mod lock_support;

mod contention;
mod server;
mod shapes;
mod writes;

use std::time::Duration;

use kube::Api;
use lock_support::{Relic, install};

use contention::{Placement, Target};

/// The command line.
pub(crate) struct Options {
    per_cell: Duration,
    reps: usize,
    task: Duration,
    only: Option<Vec<String>>,
    workers: Vec<usize>,
    targets: Vec<Target>,
    placements: Vec<Placement>,
    approaches: Vec<String>,
}

/// The value after `flag`.
fn value(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The comma-separated list after `flag`, each item parsed by `parse`.
fn list<T>(args: &[String], flag: &str, default: Vec<T>, parse: impl Fn(&str) -> T) -> Vec<T> {
    value(args, flag).map_or(default, |v| v.split(',').map(&parse).collect())
}

impl Options {
    fn parse(args: &[String]) -> Self {
        let number = |flag: &str, default: u64| {
            value(args, flag).map_or(default, |v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{flag} takes a number, not `{v}`"))
            })
        };
        Self {
            per_cell: Duration::from_secs(number("--seconds", 3)),
            reps: number("--reps", 2).max(1) as usize,
            task: Duration::from_millis(number("--task-ms", 5)),
            only: value(args, "--only").map(|v| v.split(',').map(str::to_owned).collect()),
            workers: list(args, "--workers", vec![1, 4, 8], |k| {
                k.parse().expect("--workers takes numbers, e.g. 1,4,8")
            }),
            targets: list(
                args,
                "--targets",
                vec![Target::Shared, Target::Own],
                |t| match t {
                    "shared" => Target::Shared,
                    "own" => Target::Own,
                    other => panic!("--targets takes shared,own, not `{other}`"),
                },
            ),
            placements: list(
                args,
                "--placements",
                vec![Placement::Threads, Placement::Processes],
                |p| match p {
                    "threads" => Placement::Threads,
                    "processes" => Placement::Processes,
                    other => panic!("--placements takes threads,processes, not `{other}`"),
                },
            ),
            approaches: list(
                args,
                "--approaches",
                vec!["lock".to_owned(), "konditionner".to_owned()],
                str::to_owned,
            ),
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == part))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if args.first().map(String::as_str) == Some(contention::WORKER_FLAG) {
        // A worker process of a cell (see `Placement::Processes`).
        runtime.block_on(contention::worker_process(&args[1..]));
        return;
    }
    runtime.block_on(bench(Options::parse(&args)));
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

async fn bench(options: Options) {
    let client = konditions_testing::client().await;
    install(&client).await;
    let api: Api<Relic> = Api::all(client.clone());
    println!("load average at start: {}", loadavg());
    let processes = server::Processes::find();
    if options.runs("contention") {
        contention::run(&client, &api, processes, &options).await;
    }
    if options.runs("shapes") {
        shapes::run(&api, processes).await;
    }
    if options.runs("writes") {
        writes::run(&api).await;
    }
    println!("\nload average at end: {}", loadavg());
}

/// The `p` quantile of `samples`, in milliseconds.
pub(crate) fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

/// `lo-hi` of some numbers, or the one number when they agree.
pub(crate) fn range(values: impl IntoIterator<Item = f64>, decimals: usize) -> String {
    let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return "-".to_owned();
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = (format!("{lo:.decimals$}"), format!("{hi:.decimals$}"));
    if lo == hi { lo } else { format!("{lo}-{hi}") }
}
