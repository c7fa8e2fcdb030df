//! The advisory lock against the REAL API server of the local control plane
//! (`cargo xtask controlplane up`): races between workers with their own
//! clients and stale copies, crashes, lost leases, failures, request counts.
//!
//! No test asserts a duration: lease tests check the order of events (busy
//! before the expiry, taken over after it).

mod lock_support;

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use konditions_core::lock::{
    INVALID_RELEASE_REASON, LOCKED_REASON, TASK_FAILED_REASON, TASK_PANICKED_REASON,
};
use konditions_core::{
    ConditionalResource, KonditionnerStatus, Lock, LockInfo, ManualClock, Outcome, Reason, Release,
    Status, TaskError,
};
use kube::Api;
use kube::api::{Patch, PatchParams};
use lock_support::{Relic, Vault, counting_client, create_relic, create_vault, install};
use serde_json::json;
use tokio::sync::{Barrier, oneshot};

const PROVISIONED: &str = "Provisioned";

async fn setup() -> konditions_testing::TestNamespace {
    let client = konditions_testing::client().await;
    install(&client).await;
    konditions_testing::namespace(&client).await
}

/// An API for vaults in `ns` through a client of its own.
async fn own_vaults(ns: &konditions_testing::TestNamespace) -> Api<Vault> {
    Api::namespaced(konditions_testing::client().await, ns.name())
}

fn find<'a>(
    object: &'a Vault,
    type_: &str,
) -> Option<&'a konditions_core::Condition<String, Status>> {
    object.conditions()?.find(&type_.to_owned())
}

fn done(reason: &str, message: impl Into<String>) -> Result<Release<Status>, Infallible> {
    Ok(Release::new(Status::True, reason, message))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_racing_workers_run_each_transition_exactly_once() {
    const WORKERS: usize = 8;
    const ROUNDS: usize = 200;
    let ns = setup().await;
    create_vault(&ns.api(), "race").await;
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
    let barrier = Arc::new(Barrier::new(WORKERS));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let api = own_vaults(&ns).await;
        let (runs, barrier) = (runs.clone(), barrier.clone());
        workers.push(tokio::spawn(async move {
            // Each worker keeps its own copy and refreshes it only when told
            // it is stale or busy, as a reconciler with a cache would.
            let mut copy = api.get("race").await.unwrap();
            let mut outcomes = [0usize; 3]; // ran, busy, stale
            for round in 0..ROUNDS {
                barrier.wait().await;
                let target = format!("round {round}");
                loop {
                    // The intended transition: the condition reaches `round N`.
                    if find(&copy, PROVISIONED).is_some_and(|c| c.message == target) {
                        break;
                    }
                    let runs = runs.clone();
                    let message = target.clone();
                    let outcome = Lock::new(api.clone(), &copy, PROVISIONED.to_owned())
                        .holder(format!("worker-{worker}"))
                        .lease(Duration::from_secs(120))
                        .run(|_ctx| async move {
                            runs[round].fetch_add(1, Ordering::SeqCst);
                            done("Provisioned", message)
                        })
                        .await
                        .unwrap();
                    match outcome {
                        Outcome::Ran { object, error, .. } => {
                            assert!(error.is_none());
                            outcomes[0] += 1;
                            copy = *object;
                        }
                        Outcome::Busy(_) => {
                            outcomes[1] += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            copy = api.get("race").await.unwrap();
                        }
                        Outcome::Stale => {
                            outcomes[2] += 1;
                            copy = api.get("race").await.unwrap();
                        }
                        Outcome::LostLease { .. } => panic!("no lease can expire in this test"),
                    }
                }
            }
            outcomes
        }));
    }
    let mut totals = [0usize; 3];
    for worker in workers {
        let outcomes = worker.await.unwrap();
        for (total, n) in totals.iter_mut().zip(outcomes) {
            *total += n;
        }
    }
    let counts: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    let wrong: Vec<(usize, usize)> = counts
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, n)| n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "rounds not run exactly once (round, runs): {wrong:?}"
    );
    assert_eq!(totals[0], ROUNDS, "one Ran outcome per round");
    assert!(
        totals[1] + totals[2] > 0,
        "the workers did contend: {totals:?}"
    );
}

#[tokio::test]
async fn workers_locking_different_conditions_never_conflict() {
    const WORKERS: usize = 4;
    const ROUNDS: usize = 15;
    let ns = setup().await;
    create_vault(&ns.api(), "multi").await;
    let barrier = Arc::new(Barrier::new(WORKERS));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (client, requests) = counting_client().await;
        let api: Api<Vault> = Api::namespaced(client, ns.name());
        let barrier = barrier.clone();
        workers.push(tokio::spawn(async move {
            let type_ = format!("Step{worker}");
            let mut refused_writes = 0;
            for round in 0..=ROUNDS {
                // Every worker reads, then all lock at once: each copy misses
                // the others' writes of this round.
                let copy = api.get("multi").await.unwrap();
                barrier.wait().await;
                let (_, patches_before, _) = requests.snapshot();
                let outcome = Lock::new(api.clone(), &copy, type_.clone())
                    .holder(format!("worker-{worker}"))
                    .run(|_ctx| async move { done("Stepped", format!("round {round}")) })
                    .await
                    .unwrap();
                assert!(
                    matches!(outcome, Outcome::Ran { error: None, .. }),
                    "worker {worker} round {round}: {outcome:?}"
                );
                let (_, patches_after, _) = requests.snapshot();
                refused_writes += patches_after - patches_before - 2;
                if round > 0 {
                    // The condition exists: nothing but our own entry is tested.
                    assert_eq!(
                        patches_after - patches_before,
                        2,
                        "worker {worker} round {round}"
                    );
                }
                barrier.wait().await;
            }
            refused_writes
        }));
    }
    for worker in workers {
        // Round 0 inserts into an object without status: whoever loses the
        // race to create the list falls through to appending (a refused
        // request, never a failed acquisition).
        assert!(worker.await.unwrap() <= 2);
    }
    let object = ns.api::<Vault>().get("multi").await.unwrap();
    for worker in 0..WORKERS {
        let c = find(&object, &format!("Step{worker}")).unwrap();
        assert_eq!(c.message, format!("round {ROUNDS}"));
    }
}

#[tokio::test]
async fn an_abandoned_lock_is_busy_until_its_lease_expires_then_taken_over() {
    let ns = setup().await;
    create_vault(&ns.api(), "crash").await;
    let lease = Duration::from_secs(4);

    // Worker A acquires, then its task is aborted mid-way: no release.
    let a = own_vaults(&ns).await;
    let copy = a.get("crash").await.unwrap();
    let (started, started_rx) = oneshot::channel();
    let crashed = tokio::spawn(async move {
        Lock::new(a, &copy, PROVISIONED.to_owned())
            .holder("worker-a")
            .lease(lease)
            .run(|_ctx| async move {
                started.send(()).unwrap();
                futures::future::pending::<Result<Release<Status>, Infallible>>().await
            })
            .await
    });
    started_rx.await.unwrap();
    crashed.abort();
    assert!(crashed.await.unwrap_err().is_cancelled());

    let b = own_vaults(&ns).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let seen_takeover = Arc::new(Mutex::new(None::<LockInfo>));
    let attempt = |copy: Vault| {
        let (runs, seen_takeover) = (runs.clone(), seen_takeover.clone());
        Lock::new(b.clone(), &copy, PROVISIONED.to_owned())
            .holder("worker-b")
            .lease(lease)
            .run(move |ctx| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                *seen_takeover.lock().unwrap() = ctx.takeover().cloned();
                done("Provisioned", "after takeover")
            })
    };
    let first = attempt(b.get("crash").await.unwrap()).await.unwrap();
    let Outcome::Busy(held) = first else {
        panic!("expected Busy right after A acquired, got {first:?}")
    };
    assert_eq!(held.holder.as_deref(), Some("worker-a"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // Poll as a requeueing reconciler would, until the lease has expired.
    let mut busy = 1;
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match attempt(b.get("crash").await.unwrap()).await.unwrap() {
            Outcome::Busy(_) if busy < 400 => busy += 1,
            other => break other,
        }
    };
    let Outcome::Ran {
        takeover, error, ..
    } = outcome
    else {
        panic!("expected a takeover after the lease, got {outcome:?}")
    };
    assert!(error.is_none());
    let takeover = takeover.expect("the outcome reports the takeover");
    assert_eq!(takeover.holder.as_deref(), Some("worker-a"));
    assert_eq!(takeover, held);
    assert_eq!(
        seen_takeover.lock().unwrap().as_ref(),
        Some(&held),
        "the task is told"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stored = ns.api::<Vault>().get("crash").await.unwrap();
    assert_eq!(
        find(&stored, PROVISIONED).unwrap().message,
        "after takeover"
    );
}

#[tokio::test]
async fn an_expired_holder_cannot_release_over_the_new_holder() {
    let ns = setup().await;
    create_vault(&ns.api(), "fenced").await;
    let a = own_vaults(&ns).await;
    let copy = a.get("fenced").await.unwrap();
    let (started, started_rx) = oneshot::channel();
    let (finish, finish_rx) = oneshot::channel::<()>();
    let slow = tokio::spawn(async move {
        Lock::new(a, &copy, PROVISIONED.to_owned())
            .holder("worker-a")
            .lease(Duration::from_secs(60))
            .run(|_ctx| async move {
                started.send(()).unwrap();
                finish_rx.await.unwrap();
                done("ByA", "a finished late")
            })
            .await
    });
    started_rx.await.unwrap();

    // B with the real clock: busy. B with a clock past A's lease: takes over.
    let b = own_vaults(&ns).await;
    let locked = b.get("fenced").await.unwrap();
    let busy = Lock::new(b.clone(), &locked, PROVISIONED.to_owned())
        .holder("worker-b")
        .run(|_ctx| async move { done("ByB", "must not run") })
        .await
        .unwrap();
    assert!(matches!(busy, Outcome::Busy(_)), "{busy:?}");
    let later = ManualClock::new(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120));
    let took = Lock::new(b.clone(), &locked, PROVISIONED.to_owned())
        .holder("worker-b")
        .clock(later)
        .run(|ctx| async move {
            assert_eq!(ctx.takeover().unwrap().holder.as_deref(), Some("worker-a"));
            done("ByB", "b took over")
        })
        .await
        .unwrap();
    let Outcome::Ran {
        takeover: Some(_),
        condition: by_b,
        ..
    } = took
    else {
        panic!("expected B to take over, got {took:?}")
    };

    finish.send(()).unwrap();
    let late = slow.await.unwrap().unwrap();
    let Outcome::LostLease {
        current: Some(current),
        error: None,
    } = late
    else {
        panic!("expected LostLease for A, got {late:?}")
    };
    assert_eq!(current, by_b);
    let stored = ns.api::<Vault>().get("fenced").await.unwrap();
    assert_eq!(
        find(&stored, PROVISIONED),
        Some(&by_b),
        "B's condition is intact"
    );
}

#[derive(Debug)]
enum BucketError {
    Quota,
    Odd,
}

impl std::fmt::Display for BucketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Quota => f.write_str("quota exceeded: 10/10 buckets"),
            Self::Odd => f.write_str("odd failure"),
        }
    }
}

impl Reason for BucketError {
    fn reason(&self) -> &str {
        match self {
            Self::Quota => "QuotaExceeded",
            Self::Odd => "not a valid reason",
        }
    }
}

#[tokio::test]
async fn a_failed_task_releases_false_with_its_reason_and_text() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "failing").await;
    let mut copy = api.get("failing").await.unwrap();
    for (error, reason) in [
        (BucketError::Quota, "QuotaExceeded"),
        (BucketError::Odd, TASK_FAILED_REASON),
    ] {
        let text = error.to_string();
        let outcome = Lock::new(api.clone(), &copy, PROVISIONED.to_owned())
            .run(|_ctx| async move { Err::<Release<Status>, _>(error) })
            .await
            .unwrap();
        let Outcome::Ran {
            object,
            condition,
            error: Some(TaskError::Failed(_)),
            ..
        } = outcome
        else {
            panic!("expected a failed run, got {outcome:?}")
        };
        assert_eq!(
            (
                condition.status,
                condition.reason.as_str(),
                condition.message.as_str()
            ),
            (Status::False, reason, text.as_str())
        );
        let stored = api.get("failing").await.unwrap();
        assert_eq!(find(&stored, PROVISIONED), Some(&condition));
        copy = *object;
    }

    // A release the server would reject is an error too, never a stuck lock.
    let outcome = Lock::new(api.clone(), &copy, PROVISIONED.to_owned())
        .run(|_ctx| async move { done(LOCKED_REASON, "sneaky") })
        .await
        .unwrap();
    let Outcome::Ran {
        condition,
        error: Some(TaskError::InvalidRelease(_)),
        ..
    } = outcome
    else {
        panic!("expected an invalid release, got {outcome:?}")
    };
    assert_eq!(condition.status, Status::False);
    assert_eq!(condition.reason, INVALID_RELEASE_REASON);
}

fn must_not_run() -> Result<Release<Status>, Infallible> {
    panic!("a task must not run on a stale view")
}

fn explode() -> Result<Release<Status>, Infallible> {
    panic!("the bucket API returned nonsense")
}

#[tokio::test]
async fn a_panicking_task_releases_false_then_the_panic_resumes() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "panicky").await;
    let copy = api.get("panicky").await.unwrap();
    let run =
        Lock::new(api.clone(), &copy, PROVISIONED.to_owned()).run(|_ctx| async move { explode() });
    let payload = AssertUnwindSafe(run).catch_unwind().await.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the bucket API returned nonsense")
    );
    let stored = api.get("panicky").await.unwrap();
    let c = find(&stored, PROVISIONED).unwrap();
    assert_eq!(c.status, Status::False);
    assert_eq!(c.reason, TASK_PANICKED_REASON);
    assert_eq!(c.message, "the bucket API returned nonsense");
}

#[tokio::test]
async fn a_task_that_runs_costs_two_writes_and_no_read() {
    let ns = setup().await;
    let fresh = create_vault(&ns.api(), "cheap").await;
    let (client, requests) = counting_client().await;
    let api: Api<Vault> = Api::namespaced(client, ns.name());

    // On a fresh object (no status at all)...
    let outcome = Lock::new(api.clone(), &fresh, PROVISIONED.to_owned())
        .run(|_ctx| async move { done("Provisioned", "first") })
        .await
        .unwrap();
    assert_eq!(requests.snapshot(), (0, 2, 0), "GET, PATCH, other");
    let Outcome::Ran { object, .. } = outcome else {
        panic!("{outcome:?}")
    };
    // ...and on one whose condition exists.
    let outcome = Lock::new(api.clone(), &object, PROVISIONED.to_owned())
        .run(|ctx| async move {
            assert_eq!(ctx.previous().unwrap().message, "first");
            done("Provisioned", "second")
        })
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Ran { error: None, .. }));
    assert_eq!(requests.snapshot(), (0, 4, 0), "GET, PATCH, other");
}

#[tokio::test]
async fn changes_to_other_conditions_and_fields_do_not_fail_the_acquire() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "busy-object").await;
    for type_ in ["Other", PROVISIONED] {
        let copy = api.get("busy-object").await.unwrap();
        let outcome = Lock::new(api.clone(), &copy, type_.to_owned())
            .run(|_ctx| async move { done("Set", "initial") })
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Ran { .. }));
    }
    let copy = api.get("busy-object").await.unwrap();
    // Someone else changes another condition and another status field.
    let other: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/status/conditions/0/message", "value": "changed by someone"},
        {"op": "add", "path": "/status/phase", "value": "Elsewhere"},
    ]))
    .unwrap();
    api.patch_status(
        "busy-object",
        &PatchParams::default(),
        &Patch::Json::<()>(other),
    )
    .await
    .unwrap();
    let outcome = Lock::new(api.clone(), &copy, PROVISIONED.to_owned())
        .run(|_ctx| async move { done("Set", "mine") })
        .await
        .unwrap();
    let Outcome::Ran { object, .. } = outcome else {
        panic!("a change elsewhere made the acquire fail: {outcome:?}")
    };
    assert_eq!(
        find(&object, "Other").unwrap().message,
        "changed by someone"
    );
    assert_eq!(
        object.status.as_ref().unwrap().phase.as_deref(),
        Some("Elsewhere")
    );

    // The same copy is stale for our condition now: refused, task not run.
    let outcome = Lock::new(api.clone(), &copy, PROVISIONED.to_owned())
        .run(|_ctx| async move { must_not_run() })
        .await;
    assert!(matches!(outcome, Ok(Outcome::Stale)), "{outcome:?}");
}

#[tokio::test]
async fn a_second_insert_of_the_type_is_refused_by_the_map_list() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "inserts").await;
    let copy = api.get("inserts").await.unwrap();
    let first = Lock::new(api.clone(), &copy, "Other".to_owned())
        .run(|_ctx| async move { done("Set", "") })
        .await
        .unwrap();
    let Outcome::Ran { object, .. } = first else {
        panic!("{first:?}")
    };
    // Two workers whose copies lack the condition: both append it.
    let winner = Lock::new(own_vaults(&ns).await, &object, PROVISIONED.to_owned())
        .run(|_ctx| async move { done("Set", "winner") })
        .await
        .unwrap();
    assert!(matches!(winner, Outcome::Ran { .. }));
    let loser = Lock::new(own_vaults(&ns).await, &object, PROVISIONED.to_owned())
        .run(|_ctx| async move { done("Set", "loser") })
        .await
        .unwrap();
    assert!(matches!(loser, Outcome::Stale), "{loser:?}");
    let stored = api.get("inserts").await.unwrap();
    assert_eq!(stored.conditions().unwrap().len(), 2);
    assert_eq!(find(&stored, PROVISIONED).unwrap().message, "winner");
}

#[tokio::test]
async fn messages_go_escapes_compare_equal_so_the_next_lock_is_not_stale() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let fresh = create_vault(&api, "escapes").await;
    let text = "size <10> & \u{2028}odd\u{2029} \"quoted\" é";
    let outcome = Lock::new(api.clone(), &fresh, PROVISIONED.to_owned())
        .holder("pod <a>&b")
        .run(|_ctx| async move { done("Provisioned", text) })
        .await
        .unwrap();
    let Outcome::Ran { object, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(find(&object, PROVISIONED).unwrap().message, text);
    let again = Lock::new(api.clone(), &object, PROVISIONED.to_owned())
        .holder("pod <a>&b")
        .run(|_ctx| async move { done("Provisioned", "again") })
        .await
        .unwrap();
    assert!(
        matches!(again, Outcome::Ran { error: None, .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn cluster_scoped_resources_with_konditionner_statuses() {
    let client = konditions_testing::client().await;
    install(&client).await;
    let api: Api<Relic> = Api::all(client.clone());
    let relic = create_relic(&api).await;
    let name = relic.metadata.name.clone().unwrap();
    let observer = api.clone();
    let observed = name.clone();
    let outcome = Lock::new(api.clone(), &relic, "Excavated".to_owned())
        .holder("digger")
        .run(|ctx| async move {
            assert!(ctx.previous().is_none());
            // While the task runs, others see the lock.
            let now = observer.get(&observed).await.unwrap();
            let locked = now
                .conditions()
                .unwrap()
                .find(&"Excavated".to_owned())
                .unwrap();
            assert_eq!(locked.status, KonditionnerStatus::Locked);
            assert_eq!(locked.reason, LOCKED_REASON);
            let info = LockInfo::from_condition(locked, Duration::ZERO).unwrap();
            assert_eq!(info.holder.as_deref(), Some("digger"));
            assert_eq!(info.expires_at, ctx.expires_at());
            Ok::<_, Infallible>(Release::succeeded("Excavated", "found it"))
        })
        .await
        .unwrap();
    let Outcome::Ran { condition, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(condition.status, KonditionnerStatus::Completed);
    assert_eq!(condition.observed_generation, relic.metadata.generation);
    let stored = api.get(&name).await.unwrap();
    assert_eq!(
        stored.conditions().unwrap().find(&"Excavated".to_owned()),
        Some(&condition)
    );
    // The copy from before is stale now.
    let stale = Lock::new(api.clone(), &relic, "Excavated".to_owned())
        .run(|_ctx| async move { Ok::<_, Infallible>(Release::succeeded("Again", "")) })
        .await
        .unwrap();
    assert!(matches!(stale, Outcome::Stale), "{stale:?}");
}

/// A lock in an entry `Conditions` keeps raw (here: another tool's lock
/// with a sub-second timestamp; konditionner's, with no message, is the
/// other case) blocks like a typed one, and is taken over once expired.
#[tokio::test]
async fn a_lock_kept_raw_still_blocks_until_it_expires() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "raw-lock").await;
    let write_lock = |until: String| {
        let api = api.clone();
        async move {
            let condition = json!({
                "type": PROVISIONED, "status": "Unknown", "reason": LOCKED_REASON,
                "lastTransitionTime": "2024-05-01T10:00:00.5Z",
                "message": format!("locked by other-tool since 2024-05-01T10:00:00Z until {until}"),
            });
            let patch = Patch::Merge(json!({"status": {"conditions": [condition]}}));
            api.patch_status("raw-lock", &PatchParams::default(), &patch)
                .await
                .unwrap()
        }
    };
    let ran = Arc::new(AtomicUsize::new(0));

    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(10);
    let copy = write_lock(future.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).await;
    assert!(
        find(&copy, PROVISIONED).is_none(),
        "the entry is kept raw, untyped"
    );
    let counter = ran.clone();
    let busy = Lock::new(api.clone(), &copy, PROVISIONED.to_owned())
        .run(|_ctx| async move {
            counter.fetch_add(1, Ordering::SeqCst);
            done("Set", "")
        })
        .await
        .unwrap();
    match busy {
        Outcome::Busy(info) => assert_eq!(info.holder.as_deref(), Some("other-tool")),
        other => panic!("a live lock must be Busy, got {other:?}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    let copy = write_lock("2024-05-01T10:05:00Z".to_owned()).await;
    let counter = ran.clone();
    let taken = Lock::new(api.clone(), &copy, PROVISIONED.to_owned())
        .run(|ctx| async move {
            assert_eq!(
                ctx.takeover().and_then(|t| t.holder.as_deref()),
                Some("other-tool")
            );
            counter.fetch_add(1, Ordering::SeqCst);
            done("Set", "after takeover")
        })
        .await
        .unwrap();
    assert!(
        matches!(
            taken,
            Outcome::Ran {
                takeover: Some(_),
                error: None,
                ..
            }
        ),
        "{taken:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(
        find(&api.get("raw-lock").await.unwrap(), PROVISIONED)
            .unwrap()
            .message,
        "after takeover"
    );
}
