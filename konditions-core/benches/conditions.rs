//! Cost of the operations a reconciler runs on every pass: set (no-op,
//! update, transition) and find on lists of 1, 10 and 32 conditions, and
//! deserializing a status with 32 conditions.

#[path = "../tests/common/numbered.rs"]
mod numbered;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use konditions_core::{Conditions, ManualClock, Status, Verdict};
use numbered::Numbered;

const SIZES: [u8; 3] = [1, 10, 32];

fn list_of(n: u8, clock: &ManualClock) -> Conditions<Numbered> {
    let mut list = Conditions::default();
    for i in 0..n {
        list.set_with(
            clock,
            Some(1),
            &Numbered(i),
            Verdict::new(Status::True, "Ready").message("all good"),
        )
        .unwrap();
    }
    list
}

fn set(c: &mut Criterion) {
    let clock = ManualClock::default();
    let mut group = c.benchmark_group("set");
    for n in SIZES {
        // The last condition: the worst case of the linear lookup.
        let last = Numbered(n - 1);
        group.bench_with_input(BenchmarkId::new("noop", n), &n, |b, &n| {
            let mut list = list_of(n, &clock);
            b.iter(|| {
                list.set_with(
                    &clock,
                    Some(1),
                    &black_box(last),
                    Verdict::new(Status::True, "Ready").message("all good"),
                )
                .unwrap()
            });
        });
        group.bench_with_input(BenchmarkId::new("update", n), &n, |b, &n| {
            let mut list = list_of(n, &clock);
            let mut flip = false;
            b.iter(|| {
                flip = !flip;
                let reason = if flip { "Waiting" } else { "Ready" };
                list.set_with(
                    &clock,
                    Some(1),
                    &black_box(last),
                    Verdict::new(Status::True, reason).message("all good"),
                )
                .unwrap()
            });
        });
        group.bench_with_input(BenchmarkId::new("transition", n), &n, |b, &n| {
            let mut list = list_of(n, &clock);
            let mut flip = false;
            b.iter(|| {
                flip = !flip;
                let status = if flip { Status::False } else { Status::True };
                list.set_with(
                    &clock,
                    Some(1),
                    &black_box(last),
                    Verdict::new(status, "Ready").message("all good"),
                )
                .unwrap()
            });
        });
    }
    group.finish();
}

fn find(c: &mut Criterion) {
    let clock = ManualClock::default();
    let mut group = c.benchmark_group("find");
    for n in SIZES {
        let list = list_of(n, &clock);
        let last = Numbered(n - 1);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(&list).find(black_box(&last)).is_some());
        });
    }
    group.finish();
}

fn deserialize(c: &mut Criterion) {
    #[derive(serde::Deserialize)]
    struct BenchStatus {
        #[allow(dead_code)]
        conditions: Conditions<Numbered>,
    }
    let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
    let status = serde_json::json!({ "conditions": list_of(32, &clock) }).to_string();
    c.bench_function("deserialize_status/32", |b| {
        b.iter(|| serde_json::from_str::<BenchStatus>(black_box(&status)).unwrap());
    });
    let list = list_of(32, &clock);
    c.bench_function("serialize/32", |b| {
        b.iter(|| serde_json::to_string(black_box(&list)).unwrap());
    });
}

criterion_group!(benches, set, find, deserialize);
criterion_main!(benches);
