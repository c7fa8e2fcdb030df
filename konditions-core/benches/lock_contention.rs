//! Contention on the advisory lock, against the local control plane
//! (`cargo xtask controlplane up`): K workers, each with its own client and
//! its own cached copy of one object, run tasks under a lock for a few
//! seconds, either all on ONE condition or each on its own condition.
//!
//! Compared with konditionner's approach: set the condition Locked in the
//! cached object and write the whole status with its resourceVersion
//! (`replace_status`, no GET first), run the task, write the whole status
//! again; a 409 means re-read and retry.
//!
//! Reported per cell: executed tasks per second, p50/p99 acquire latency
//! (from deciding to run a task until it starts, retries included), API
//! requests and conflicts (refused writes) per executed task.
//!
//! `cargo bench -p konditions-core --bench lock_contention [-- <seconds per cell>]`

#[path = "../tests/lock_support/mod.rs"]
mod lock_support;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use konditions_core::{ConditionalResource, Lock, Outcome, Status, Verdict};
use kube::Api;
use kube::api::PostParams;
use lock_support::{Vault, counting_client, create_vault, install};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Approach {
    Lock,
    WholeStatus,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    OneCondition,
    OwnCondition,
}

#[derive(Default)]
struct Tally {
    tasks: usize,
    conflicts: usize,
    latencies: Vec<Duration>,
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench(Duration::from_secs(seconds)));
}

#[allow(clippy::print_stdout)] // the report is the point of a benchmark
async fn bench(per_cell: Duration) {
    let client = konditions_testing::client().await;
    install(&client).await;
    let ns = konditions_testing::namespace(&client).await;
    println!(
        "| approach | conditions | K | tasks/s | p50 acquire ms | p99 acquire ms | requests/task | conflicts/task |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for approach in [Approach::Lock, Approach::WholeStatus] {
        for target in [Target::OneCondition, Target::OwnCondition] {
            for workers in [1, 4, 8] {
                let name = format!(
                    "{}-{}-{workers}",
                    match approach {
                        Approach::Lock => "lock",
                        Approach::WholeStatus => "whole",
                    },
                    match target {
                        Target::OneCondition => "one",
                        Target::OwnCondition => "own",
                    }
                );
                create_vault(&ns.api(), &name).await;
                let started = Instant::now();
                let deadline = started + per_cell;
                let mut handles = Vec::new();
                for worker in 0..workers {
                    let (client, requests) = counting_client().await;
                    let api: Api<Vault> = Api::namespaced(client, ns.name());
                    let name = name.clone();
                    let type_ = match target {
                        Target::OneCondition => "Shared".to_owned(),
                        Target::OwnCondition => format!("Own{worker}"),
                    };
                    handles.push(tokio::spawn(async move {
                        let tally = match approach {
                            Approach::Lock => lock_worker(api, name, type_, worker, deadline).await,
                            Approach::WholeStatus => {
                                whole_status_worker(api, name, type_, deadline).await
                            }
                        };
                        (tally, requests.total())
                    }));
                }
                let mut total = Tally::default();
                let mut requests = 0;
                for handle in handles {
                    let (tally, sent) = handle.await.expect("worker");
                    total.tasks += tally.tasks;
                    total.conflicts += tally.conflicts;
                    total.latencies.extend(tally.latencies);
                    requests += sent;
                }
                let elapsed = started.elapsed().as_secs_f64();
                total.latencies.sort();
                let pct = |p: f64| {
                    let i = ((total.latencies.len() as f64 - 1.0) * p).round() as usize;
                    total
                        .latencies
                        .get(i)
                        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
                };
                let per_task = |n: usize| n as f64 / total.tasks.max(1) as f64;
                println!(
                    "| {} | {} | {workers} | {:.0} | {:.1} | {:.1} | {:.2} | {:.2} |",
                    match approach {
                        Approach::Lock => "konditions Lock (JSON Patch CAS)",
                        Approach::WholeStatus => "whole status + resourceVersion",
                    },
                    match target {
                        Target::OneCondition => "one shared",
                        Target::OwnCondition => "one each",
                    },
                    total.tasks as f64 / elapsed,
                    pct(0.5),
                    pct(0.99),
                    per_task(requests),
                    per_task(total.conflicts),
                );
            }
        }
    }
}

/// Runs tasks under [`Lock`] until the deadline; refreshes its copy only
/// when the outcome says it is stale or busy.
async fn lock_worker(
    api: Api<Vault>,
    name: String,
    type_: String,
    worker: usize,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut copy = api.get(&name).await.expect("get");
    let mut wanted = Instant::now();
    while Instant::now() < deadline {
        let mut started = None;
        let outcome = Lock::new(api.clone(), &copy, type_.clone())
            .holder(format!("bench-{worker}"))
            .rerun()
            .run(|_ctx| {
                started = Some(Instant::now());
                async move { Ok::<_, Infallible>(Verdict::new(Status::True, "Done")) }
            })
            .await
            .expect("lock");
        match outcome {
            Outcome::Ran { object, .. } => {
                tally.tasks += 1;
                tally.latencies.push(started.expect("ran") - wanted);
                copy = *object;
                wanted = Instant::now();
            }
            Outcome::Stale => {
                tally.conflicts += 1;
                copy = api.get(&name).await.expect("get");
            }
            Outcome::Busy(_) | Outcome::LostLease { .. } => {
                copy = api.get(&name).await.expect("get");
            }
            other => panic!("nothing fails or is deleted here: {other:?}"),
        }
    }
    tally
}

/// konditionner's way: whole-status writes guarded by resourceVersion, from
/// the cached object, re-read after a 409.
async fn whole_status_worker(
    api: Api<Vault>,
    name: String,
    type_: String,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut copy = api.get(&name).await.expect("get");
    let mut wanted = Instant::now();
    let params = PostParams::default();
    while Instant::now() < deadline {
        let current = copy.conditions().and_then(|c| c.find(&type_));
        if current.is_some_and(|c| c.reason == "Locked") {
            copy = api.get(&name).await.expect("get"); // busy
            continue;
        }
        let mut locked = copy.clone();
        locked
            .set_condition(&type_, Verdict::new(Status::Unknown, "Locked"))
            .expect("valid");
        match api.replace_status(&name, &params, &locked).await {
            Ok(mut object) => {
                tally.tasks += 1;
                tally.latencies.push(wanted.elapsed());
                // The task would run here; then the release, retried until it lands.
                loop {
                    object
                        .set_condition(&type_, Verdict::new(Status::True, "Done"))
                        .expect("valid");
                    match api.replace_status(&name, &params, &object).await {
                        Ok(stored) => {
                            copy = stored;
                            break;
                        }
                        Err(kube::Error::Api(s)) if s.code == 409 => {
                            tally.conflicts += 1;
                            object = api.get(&name).await.expect("get");
                        }
                        Err(e) => panic!("release: {e}"),
                    }
                }
                wanted = Instant::now();
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                tally.conflicts += 1;
                copy = api.get(&name).await.expect("get");
            }
            Err(e) => panic!("acquire: {e}"),
        }
    }
    tally
}
