//! Writes per task as a function of task duration over the lease: two
//! writes (acquire, release) plus a renewal every third of the lease.

use std::convert::Infallible;
use std::time::Duration;

use konditions_core::lock::Untyped;
use konditions_core::{KonditionnerStatus, Lock, Outcome, Verdict};
use kube::Api;

use crate::contention::release_verdict;
use crate::lock_support::{Relic, counting_client, create_relic};
use crate::range;

pub(crate) async fn run(api: &Api<Relic>) {
    const TASKS: usize = 2;
    println!(
        "\n## 3. Writes per task against task duration / lease ({TASKS} tasks per row, one worker, renewal every lease/3)\n"
    );
    println!(
        "| lease s | task / lease | task s | PATCH per task | expected: 2 + ⌈3·task/lease⌉ - 1 | GET per task | leases lost |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let (client, requests) = counting_client().await;
    let counted: Api<Relic> = Api::all(client);
    for lease in [Duration::from_secs(1), Duration::from_secs(3)] {
        for ratio in [0.2, 0.5, 1.0, 2.0, 3.0] {
            let task = lease.mul_f64(ratio);
            let mut copy = create_relic(api).await;
            let mut patches = Vec::new();
            let mut gets = 0;
            let mut lost = 0;
            for _ in 0..TASKS {
                let (g0, p0, _) = requests.snapshot();
                let outcome = Lock::new(counted.clone(), &copy, Untyped::new("Long"))
                    .holder("bench-writes")
                    .lease(lease)
                    .rerun()
                    .run(|ctx| async move {
                        tokio::time::sleep(task).await;
                        Ok::<_, Infallible>(if ctx.is_lost() {
                            Verdict::new(KonditionnerStatus::Error, "LeaseLost")
                        } else {
                            release_verdict(0)
                        })
                    })
                    .await
                    .expect("lock");
                let (g1, p1, _) = requests.snapshot();
                patches.push((p1 - p0) as f64);
                gets += g1 - g0;
                match outcome {
                    Outcome::Ran {
                        object, condition, ..
                    } => {
                        if condition.reason == "LeaseLost" {
                            lost += 1;
                        }
                        copy = *object;
                    }
                    other => panic!("one worker always runs: {other:?}"),
                }
            }
            // A renewal every lease/3 while the task runs (the next one waits
            // lease/3 after the previous one is stored): the ticks strictly
            // inside the task.
            let renewals = (task.as_secs_f64() * 3.0 / lease.as_secs_f64() - 1e-9).ceil() - 1.0;
            println!(
                "| {} | {ratio} | {:.1} | {} | {} | {:.1} | {lost} |",
                lease.as_secs(),
                task.as_secs_f64(),
                range(patches.iter().copied(), 0),
                2.0 + renewals,
                gets as f64 / TASKS as f64,
            );
        }
    }
}
