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
    Backoff, Busy, FencingToken, INVALID_RELEASE_REASON, LOCKED_REASON, LeaseLost, LockInfo,
    Reason, TASK_FAILED_REASON, TASK_PANICKED_REASON, TaskError, Untyped,
};
use konditions_core::{
    ApplyError, Clock, ConditionalResource, KonditionnerStatus, Lock, LockError, ManualClock,
    Outcome, Status, Verdict, apply_conditions, apply_status,
};
use kube::Api;
use kube::api::{Patch, PatchParams};
use lock_support::{
    Relic, Urn, UrnSpec, Vault, counting_client, create_relic, create_vault, install,
};
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

type Released = Verdict<'static, Status>;

fn done(reason: &str, message: impl Into<String>) -> Result<Released, Infallible> {
    Ok(Verdict::new(Status::True, reason.to_owned()).message(message.into()))
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
                    // Each round is a new intended transition of the same
                    // generation: `rerun` lifts the done-for-this-generation rule.
                    let outcome = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
                        .holder(format!("worker-{worker}"))
                        .lease(Duration::from_secs(120))
                        .rerun()
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
                        other => panic!("no lease expires and nothing fails here: {other:?}"),
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
                let outcome = Lock::new(api.clone(), &copy, Untyped::new(type_.clone()))
                    .holder(format!("worker-{worker}"))
                    .rerun()
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

/// Worker `holder` acquires `name`'s condition on a runtime of its own,
/// which is then dropped while the task runs: a crash, after which nothing
/// of that process runs (no release, no renewal, no hand-over). Returns the
/// acquisition's token.
fn crash_while_holding(
    ns: &konditions_testing::TestNamespace,
    name: &str,
    holder: &str,
    lease: Duration,
) -> FencingToken {
    let (ns, name, holder) = (ns.name().to_owned(), name.to_owned(), holder.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (started, started_rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let api: Api<Vault> = Api::namespaced(konditions_testing::client().await, &ns);
            let copy = api.get(&name).await.unwrap();
            Lock::new(api, &copy, Untyped::new(PROVISIONED))
                .holder(holder)
                .lease(lease)
                // A dead process renews nothing.
                .renew_every(Duration::MAX)
                .run(|ctx| async move {
                    started.send(ctx.token()).unwrap();
                    futures::future::pending::<Result<Released, Infallible>>().await
                })
                .await
        });
        let token = started_rx.recv().unwrap();
        runtime.shutdown_background();
        token
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn an_abandoned_lock_is_busy_until_its_lease_expires_then_taken_over() {
    let ns = setup().await;
    create_vault(&ns.api(), "crash").await;
    let lease = Duration::from_secs(4);

    // Worker A acquires, then its process dies mid-task: no release.
    let first_token = crash_while_holding(&ns, "crash", "worker-a", lease);

    let b = own_vaults(&ns).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let seen_takeover = Arc::new(Mutex::new(None::<LockInfo>));
    let attempt = |copy: Vault| {
        let (runs, seen_takeover) = (runs.clone(), seen_takeover.clone());
        Lock::new(b.clone(), &copy, Untyped::new(PROVISIONED))
            .holder("worker-b")
            .lease(lease)
            .run(move |ctx| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                *seen_takeover.lock().unwrap() = ctx.takeover().cloned();
                done("Provisioned", "after takeover")
            })
    };
    let first = attempt(b.get("crash").await.unwrap()).await.unwrap();
    let Outcome::Busy(Busy {
        lock: held,
        retry_after,
    }) = first
    else {
        panic!("expected Busy right after A acquired, got {first:?}")
    };
    assert_eq!(held.holder.as_deref(), Some("worker-a"));
    assert!(retry_after <= lease, "{retry_after:?}");
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
        takeover,
        error,
        token,
        ..
    } = outcome
    else {
        panic!("expected a takeover after the lease, got {outcome:?}")
    };
    assert!(token > first_token, "a takeover has a greater token");
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
        Lock::new(a, &copy, Untyped::new(PROVISIONED))
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
    let busy = Lock::new(b.clone(), &locked, Untyped::new(PROVISIONED))
        .holder("worker-b")
        .run(|_ctx| async move { done("ByB", "must not run") })
        .await
        .unwrap();
    assert!(matches!(busy, Outcome::Busy(_)), "{busy:?}");
    let later = ManualClock::new(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120));
    let took = Lock::new(b.clone(), &locked, Untyped::new(PROVISIONED))
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
    for (attempt, error, reason) in [
        (1, BucketError::Quota, "QuotaExceeded"),
        (2, BucketError::Odd, TASK_FAILED_REASON),
    ] {
        // The text, and the failure record the backoff is judged by.
        let text = format!("{error} (attempt {attempt}, retry in 0s)");
        let outcome = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
            .backoff(Backoff::NONE)
            .run(|_ctx| async move { Err::<Released, _>(error) })
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
    let outcome = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
        .backoff(Backoff::NONE)
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

fn must_not_run() -> Result<Released, Infallible> {
    panic!("a task must not run on a stale view")
}

fn explode() -> Result<Released, Infallible> {
    panic!("the bucket API returned nonsense")
}

#[tokio::test]
async fn a_panicking_task_releases_false_then_the_panic_resumes() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "panicky").await;
    let copy = api.get("panicky").await.unwrap();
    let run = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
        .run(|_ctx| async move { explode() });
    let payload = AssertUnwindSafe(run).catch_unwind().await.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the bucket API returned nonsense")
    );
    let stored = api.get("panicky").await.unwrap();
    let c = find(&stored, PROVISIONED).unwrap();
    assert_eq!(c.status, Status::False);
    assert_eq!(c.reason, TASK_PANICKED_REASON);
    assert_eq!(
        c.message,
        "the bucket API returned nonsense (attempt 1, retry in 1s)"
    );
}

#[tokio::test]
async fn a_task_that_runs_costs_two_writes_and_no_read() {
    let ns = setup().await;
    let fresh = create_vault(&ns.api(), "cheap").await;
    let (client, requests) = counting_client().await;
    let api: Api<Vault> = Api::namespaced(client, ns.name());

    // On a fresh object (no status at all)...
    let outcome = Lock::new(api.clone(), &fresh, Untyped::new(PROVISIONED))
        .run(|_ctx| async move { done("Provisioned", "first") })
        .await
        .unwrap();
    assert_eq!(requests.snapshot(), (0, 2, 0), "GET, PATCH, other");
    let Outcome::Ran { object, .. } = outcome else {
        panic!("{outcome:?}")
    };
    // ...and on one whose condition exists.
    let outcome = Lock::new(api.clone(), &object, Untyped::new(PROVISIONED))
        .rerun()
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
        let outcome = Lock::new(api.clone(), &copy, Untyped::new(type_))
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
    let outcome = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
        .rerun()
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
    let outcome = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
        .rerun()
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
    let first = Lock::new(api.clone(), &copy, Untyped::new("Other"))
        .run(|_ctx| async move { done("Set", "") })
        .await
        .unwrap();
    let Outcome::Ran { object, .. } = first else {
        panic!("{first:?}")
    };
    // Two workers whose copies lack the condition: both append it.
    let winner = Lock::new(own_vaults(&ns).await, &object, Untyped::new(PROVISIONED))
        .run(|_ctx| async move { done("Set", "winner") })
        .await
        .unwrap();
    assert!(matches!(winner, Outcome::Ran { .. }));
    let loser = Lock::new(own_vaults(&ns).await, &object, Untyped::new(PROVISIONED))
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
    let outcome = Lock::new(api.clone(), &fresh, Untyped::new(PROVISIONED))
        .holder("pod <a>&b")
        .run(|_ctx| async move { done("Provisioned", text) })
        .await
        .unwrap();
    let Outcome::Ran { object, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(find(&object, PROVISIONED).unwrap().message, text);
    let again = Lock::new(api.clone(), &object, Untyped::new(PROVISIONED))
        .holder("pod <a>&b")
        .rerun()
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
    let outcome = Lock::new(api.clone(), &relic, Untyped::new("Excavated"))
        .holder("digger")
        .run(|ctx| async move {
            assert!(ctx.previous().is_none());
            // While the task runs, others see the lock.
            let now = observer.get(&observed).await.unwrap();
            let locked = now.conditions().unwrap().find("Excavated").unwrap();
            assert_eq!(locked.status, KonditionnerStatus::Locked);
            assert_eq!(locked.reason, LOCKED_REASON);
            let info = LockInfo::from_condition(locked, Duration::ZERO).unwrap();
            assert_eq!(info.holder.as_deref(), Some("digger"));
            assert_eq!(info.expires_at, ctx.expires_at());
            Ok::<_, Infallible>(Verdict::succeeded("Excavated").message("found it"))
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
        stored.conditions().unwrap().find("Excavated"),
        Some(&condition)
    );
    // The copy from before is stale now.
    let stale = Lock::new(api.clone(), &relic, Untyped::new("Excavated"))
        .run(|_ctx| async move { Ok::<_, Infallible>(Verdict::succeeded("Again")) })
        .await
        .unwrap();
    assert!(matches!(stale, Outcome::Stale), "{stale:?}");
}

/// An RFC 3339 time at whole seconds, as the lock writes them.
fn stamp(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A lock in an entry `Conditions` keeps raw (here: another tool's lock
/// with a sub-second timestamp; konditionner's, with no message, is the
/// other case) blocks like a typed one, and is taken over once expired.
#[tokio::test]
async fn a_lock_kept_raw_still_blocks_until_it_expires() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "raw-lock").await;
    let write_lock = |since: String, until: String| {
        let api = api.clone();
        async move {
            let condition = json!({
                "type": PROVISIONED, "status": "Unknown", "reason": LOCKED_REASON,
                "lastTransitionTime": "2024-05-01T10:00:00.5Z",
                "message": format!("locked by other-tool since {since} until {until}"),
            });
            let patch = Patch::Merge(json!({"status": {"conditions": [condition]}}));
            api.patch_status("raw-lock", &PatchParams::default(), &patch)
                .await
                .unwrap()
        }
    };
    let ran = Arc::new(AtomicUsize::new(0));

    let now = jiff::Timestamp::now();
    let future = now + jiff::SignedDuration::from_mins(10);
    let copy = write_lock(stamp(now), stamp(future)).await;
    assert!(
        find(&copy, PROVISIONED).is_none(),
        "the entry is kept raw, untyped"
    );
    let counter = ran.clone();
    let busy = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
        .run(|_ctx| async move {
            counter.fetch_add(1, Ordering::SeqCst);
            done("Set", "")
        })
        .await
        .unwrap();
    match busy {
        Outcome::Busy(busy) => assert_eq!(busy.lock.holder.as_deref(), Some("other-tool")),
        other => panic!("a live lock must be Busy, got {other:?}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    let copy = write_lock(
        "2024-05-01T10:00:00Z".to_owned(),
        "2024-05-01T10:05:00Z".to_owned(),
    )
    .await;
    let counter = ran.clone();
    let taken = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
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

/// A clock at a whole second, so lastTransitionTime (whole seconds) and the
/// lock's own arithmetic agree exactly.
fn clock_at(at: &str) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at.parse().unwrap()))
}

/// A shared manual clock a `Lock` can own.
#[derive(Clone)]
struct Shared(Arc<ManualClock>);

impl konditions_core::Clock for Shared {
    fn now(&self) -> jiff::Timestamp {
        self.0.now()
    }
}

#[tokio::test]
async fn a_failing_task_runs_on_the_backoff_schedule_whatever_wakes_it() {
    let ns = setup().await;
    create_vault(&ns.api(), "storm").await;
    let reads = ns.api::<Vault>();
    let (client, requests) = counting_client().await;
    let api: Api<Vault> = Api::namespaced(client, ns.name());
    let clock = clock_at("2030-01-01T00:00:00Z");
    let runs = Arc::new(AtomicUsize::new(0));
    let attempt = |copy: &Vault| {
        let runs = runs.clone();
        Lock::new(api.clone(), copy, Untyped::new(PROVISIONED))
            .holder("worker-a")
            .clock(Shared(clock.clone()))
            .run(move |_ctx| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Err::<Released, _>(BucketError::Quota)
            })
    };
    let mut attempts = 0;
    for expected_delay in [1, 2, 4, 8, 16] {
        let outcome = attempt(&reads.get("storm").await.unwrap()).await.unwrap();
        attempts += 1;
        let Outcome::Ran {
            condition,
            error: Some(TaskError::Failed(_)),
            retry_after: Some(retry_after),
            ..
        } = outcome
        else {
            panic!("attempt {attempts}: expected a failed run, got {outcome:?}")
        };
        assert_eq!(retry_after, Duration::from_secs(expected_delay));
        assert!(
            condition
                .message
                .ends_with(&format!("(attempt {attempts}, retry in {expected_delay}s)")),
            "{}",
            condition.message
        );
        // Every watch event in between (our own status writes, anyone's)
        // wakes the reconciler: it reads a fresh copy and asks again.
        let writes_before = requests.snapshot().1;
        let released_at = clock.now();
        let delay_ms = i64::try_from(expected_delay * 1000).unwrap();
        for step in 0..10 {
            // From the release to the last millisecond of the backoff.
            let at = (delay_ms - 1) * step / 9;
            clock.set(released_at + jiff::SignedDuration::from_millis(at));
            let outcome = attempt(&reads.get("storm").await.unwrap()).await.unwrap();
            let Outcome::BackingOff(wait) = &outcome else {
                panic!("attempt {attempts} step {step}: expected BackingOff, got {outcome:?}")
            };
            assert_eq!(wait.attempt, attempts);
            assert!(wait.retry_after <= Duration::from_secs(expected_delay));
        }
        assert_eq!(
            requests.snapshot().1,
            writes_before,
            "backing off writes nothing"
        );
        clock.set(released_at + jiff::SignedDuration::from_millis(delay_ms));
    }
    assert_eq!(runs.load(Ordering::SeqCst), attempts as usize);
    assert_eq!(
        requests.snapshot(),
        (0, 2 * attempts as usize, 0),
        "two writes per attempt, none in between (GET, PATCH, other)"
    );

    // A spec change is a new transition: it runs at once, counting from 1.
    reads
        .patch(
            "storm",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    let outcome = attempt(&reads.get("storm").await.unwrap()).await.unwrap();
    let Outcome::Ran {
        condition,
        retry_after,
        ..
    } = outcome
    else {
        panic!("a new generation must run at once, got {outcome:?}")
    };
    assert_eq!(condition.observed_generation, Some(2));
    assert!(condition.message.ends_with("(attempt 1, retry in 1s)"));
    assert_eq!(retry_after, Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn a_done_task_does_not_run_again_and_a_deletion_is_a_transition_of_its_own() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let vault = Vault {
        metadata: kube::api::ObjectMeta {
            name: Some("once".to_owned()),
            finalizers: Some(vec!["lock.konditions.dev/test".to_owned()]),
            ..Default::default()
        },
        spec: lock_support::VaultSpec { size: 1 },
        status: None,
    };
    let before = api.create(&Default::default(), &vault).await.unwrap();
    let (client, requests) = counting_client().await;
    let counted: Api<Vault> = Api::namespaced(client, ns.name());
    let runs = Arc::new(AtomicUsize::new(0));
    let run = |copy: &Vault, holder: &str| {
        let runs = runs.clone();
        Lock::new(counted.clone(), copy, Untyped::new(PROVISIONED))
            .holder(holder)
            .run(move |_ctx| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                done("Provisioned", "vault made")
            })
    };
    let first = run(&before, "replica-a").await.unwrap();
    assert!(
        matches!(first, Outcome::Ran { error: None, .. }),
        "{first:?}"
    );

    // Another replica that sees the result: done, nothing written.
    let after = api.get("once").await.unwrap();
    let writes = requests.snapshot().1;
    let second = run(&after, "replica-b").await.unwrap();
    assert!(
        matches!(&second, Outcome::Done(c) if c.message == "vault made"),
        "{second:?}"
    );
    assert_eq!(requests.snapshot().1, writes);
    // One with a copy from before the run: its CAS is refused.
    let stale = run(&before, "replica-b").await.unwrap();
    assert!(matches!(stale, Outcome::Stale), "{stale:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Deleting sets deletionTimestamp and raises the generation: the
    // cleanup is a new transition, done once.
    api.delete("once", &Default::default()).await.unwrap();
    let deleting = api.get("once").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.generation, Some(2));
    let cleanup = |copy: &Vault, holder: &str| {
        let runs = runs.clone();
        Lock::new(counted.clone(), copy, Untyped::new(PROVISIONED))
            .holder(holder)
            .run(move |_ctx| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Verdict::new(Status::False, "Deprovisioned"))
            })
    };
    let first = cleanup(&deleting, "replica-a").await.unwrap();
    assert!(
        matches!(first, Outcome::Ran { error: None, .. }),
        "{first:?}"
    );
    let after = api.get("once").await.unwrap();
    let again = cleanup(&after, "replica-b").await.unwrap();
    assert!(matches!(again, Outcome::Done(_)), "{again:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let forced = Lock::new(counted.clone(), &after, Untyped::new(PROVISIONED))
        .rerun()
        .run(
            |_ctx| async move { Ok::<_, Infallible>(Verdict::new(Status::False, "Deprovisioned")) },
        )
        .await
        .unwrap();
    assert!(
        matches!(forced, Outcome::Ran { .. }),
        "`rerun` runs anyway: {forced:?}"
    );

    api.patch(
        "once",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([{"op": "remove", "path": "/metadata/finalizers"}]))
                .unwrap(),
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_object_deleted_under_the_lock_is_an_outcome_not_an_error() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let vault = create_vault(&api, "vanishing").await;
    let deleter = api.clone();
    let outcome = Lock::new(api.clone(), &vault, Untyped::new(PROVISIONED))
        .run(|_ctx| async move {
            deleter
                .delete("vanishing", &Default::default())
                .await
                .unwrap();
            done("Provisioned", "too late")
        })
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Gone {
                ran: true,
                error: None
            }
        ),
        "{outcome:?}"
    );
    // A copy of an object that is gone: nothing runs.
    let outcome = Lock::new(api.clone(), &vault, Untyped::new("Other"))
        .run(|_ctx| async move { must_not_run() })
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Gone {
                ran: false,
                error: None
            }
        ),
        "{outcome:?}"
    );
}

/// Writes our condition as a lock of `holder` with these times, as a hand
/// edit (or a replica with a wrong clock) would.
async fn write_lock(api: &Api<Vault>, name: &str, message: String, ltt: jiff::Timestamp) -> Vault {
    let condition = json!({
        "type": PROVISIONED, "status": "Unknown", "reason": LOCKED_REASON,
        "lastTransitionTime": stamp(ltt), "message": message,
    });
    let patch = Patch::Merge(json!({"status": {"conditions": [condition]}}));
    api.patch_status(name, &PatchParams::default(), &patch)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_lock_claiming_more_than_the_reader_trusts_expires_at_the_readers_lease() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let lease = Duration::from_secs(30);
    for (name, since_ahead) in [("ghost", 0), ("clock-ahead", 3 * 3600)] {
        create_vault(&api, name).await;
        let clock = clock_at("2031-06-01T12:00:00Z");
        let now = clock.now();
        let since = now + jiff::SignedDuration::from_secs(since_ahead);
        // `ghost`: a hand-written lock until 2099. `clock-ahead`: a replica
        // whose clock runs 3 h ahead wrote a normal 30 s lock.
        let until = if since_ahead == 0 {
            "2099-01-01T00:00:00Z".to_owned()
        } else {
            stamp(since + jiff::SignedDuration::from_secs(30))
        };
        let copy = write_lock(
            &api,
            name,
            format!("locked by ghost since {} until {until}", stamp(since)),
            since,
        )
        .await;
        let probe = |clock: Arc<ManualClock>| {
            Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
                .holder("reader")
                .lease(lease)
                .clock(Shared(clock))
                .run(|ctx| async move {
                    assert_eq!(ctx.takeover().unwrap().holder.as_deref(), Some("ghost"));
                    done("Provisioned", "taken over")
                })
        };
        for elapsed in [0, 10, 29] {
            clock.set(now + jiff::SignedDuration::from_secs(elapsed));
            let outcome = probe(clock.clone()).await.unwrap();
            let Outcome::Busy(busy) = &outcome else {
                panic!("{name} at +{elapsed}s: expected Busy, got {outcome:?}")
            };
            assert_eq!(
                busy.retry_after,
                lease - Duration::from_secs(elapsed as u64)
            );
        }
        clock.set(now + jiff::SignedDuration::from_secs(30));
        let outcome = probe(clock.clone()).await.unwrap();
        assert!(
            matches!(
                outcome,
                Outcome::Ran {
                    takeover: Some(_),
                    error: None,
                    ..
                }
            ),
            "{name}: expected a takeover after the reader's lease, got {outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_lease_taken_just_before_a_second_boundary_lasts_the_whole_lease() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let vault = create_vault(&api, "boundary").await;
    let lease = Duration::from_secs(2);
    let taken_at: jiff::Timestamp = "2032-03-04T05:06:07.91Z".parse().unwrap();
    let (started, started_rx) = oneshot::channel();
    let (finish, finish_rx) = oneshot::channel::<()>();
    let a = own_vaults(&ns).await;
    let holder = tokio::spawn(async move {
        Lock::new(a, &vault, Untyped::new(PROVISIONED))
            .holder("worker-a")
            .lease(lease)
            .renew_every(Duration::MAX)
            .clock(ManualClock::new(taken_at))
            .run(|ctx| async move {
                started.send(ctx.expires_at()).unwrap();
                finish_rx.await.unwrap();
                done("ByA", "")
            })
            .await
    });
    let expires_at = started_rx.await.unwrap();
    assert!(expires_at.duration_since(taken_at) >= jiff::SignedDuration::from_secs(2));
    let copy = api.get("boundary").await.unwrap();
    let b = |at: jiff::Timestamp| {
        Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
            .holder("worker-b")
            .lease(lease)
            .clock(ManualClock::new(at))
            .run(|_ctx| async move { done("ByB", "") })
    };
    // 1.09 s after the acquire (the old rounding let B in here), and up to
    // the last instant before the full lease: busy.
    for after_ms in [1090, 1500, 1999] {
        let at = taken_at + jiff::SignedDuration::from_millis(after_ms);
        let outcome = b(at).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Busy(_)),
            "+{after_ms} ms: {outcome:?}"
        );
    }
    // At the rounded-up expiry: taken over.
    let outcome = b(expires_at).await.unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Ran {
                takeover: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    finish.send(()).unwrap();
    let late = holder.await.unwrap().unwrap();
    assert!(matches!(late, Outcome::LostLease { .. }), "{late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_three_times_longer_than_its_lease_is_renewed_and_never_runs_twice() {
    const WORKERS: usize = 8;
    let ns = setup().await;
    create_vault(&ns.api(), "long").await;
    let lease = Duration::from_secs(2);
    let running = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let (client, requests) = counting_client().await;
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let api: Api<Vault> = if worker == 0 {
            Api::namespaced(client.clone(), ns.name())
        } else {
            own_vaults(&ns).await
        };
        let (running, max_running, runs) = (running.clone(), max_running.clone(), runs.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let copy = api.get("long").await.unwrap();
                let (running, max_running, runs) =
                    (running.clone(), max_running.clone(), runs.clone());
                let outcome = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
                    .holder(format!("worker-{worker}"))
                    .lease(lease)
                    .run(|ctx| async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        max_running.fetch_max(now, Ordering::SeqCst);
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(lease * 3).await;
                        let held = ctx.check();
                        running.fetch_sub(1, Ordering::SeqCst);
                        held.map_err(|e| e.to_string())?;
                        Ok::<_, String>(Verdict::new(Status::True, "Provisioned"))
                    })
                    .await
                    .unwrap();
                match outcome {
                    Outcome::Ran { error: None, .. } | Outcome::Done(_) => return,
                    Outcome::Busy(busy) => {
                        tokio::time::sleep(busy.retry_after.min(Duration::from_millis(200))).await;
                    }
                    Outcome::Stale => {}
                    other => panic!("worker {worker}: {other:?}"),
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "exactly one execution");
    assert_eq!(max_running.load(Ordering::SeqCst), 1);
    let stored = ns.api::<Vault>().get("long").await.unwrap();
    assert_eq!(find(&stored, PROVISIONED).unwrap().status, Status::True);
    // How many writes worker 0 made depends on whether it won; the winner
    // renewed about every lease / 3 (checked in the benchmark, not here).
    let _ = requests;
}

#[tokio::test]
async fn a_lost_renewal_reaches_the_task_before_its_side_effect() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let vault = create_vault(&api, "usurped").await;
    let side_effects = Arc::new(AtomicUsize::new(0));
    let (started, started_rx) = oneshot::channel();
    let effects = side_effects.clone();
    let holder = tokio::spawn(
        Lock::new(own_vaults(&ns).await, &vault, Untyped::new(PROVISIONED))
            .holder("worker-a")
            .lease(Duration::from_secs(6))
            .renew_every(Duration::from_millis(300))
            .run(|ctx| async move {
                started.send(()).unwrap();
                tokio::select! {
                    lost = ctx.lost() => {
                        assert!(ctx.is_lost());
                        assert!(ctx.check().is_err());
                        Err(lost)
                    }
                    () = tokio::time::sleep(Duration::from_secs(60)) => {
                        effects.fetch_add(1, Ordering::SeqCst);
                        Ok(Verdict::new(Status::True, "Provisioned"))
                    }
                }
            }),
    );
    started_rx.await.unwrap();
    // Someone takes the lock over behind the holder's back.
    let now = jiff::Timestamp::now();
    let intruder = format!(
        "locked by intruder since {} until {}",
        stamp(now),
        stamp(now + jiff::SignedDuration::from_secs(60))
    );
    write_lock(&api, "usurped", intruder.clone(), now).await;
    let outcome = holder.await.unwrap().unwrap();
    let Outcome::LostLease {
        current: Some(current),
        error: Some(TaskError::Failed(LeaseLost { .. })),
    } = outcome
    else {
        panic!("expected the task to stop on the lost lease, got {outcome:?}")
    };
    assert_eq!(current.message, intruder, "the intruder's lock is intact");
    assert_eq!(side_effects.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_holder_paused_past_its_lease_learns_it_at_check_before_its_side_effect() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let vault = create_vault(&api, "paused").await;
    let side_effects = Arc::new(AtomicUsize::new(0));
    let effects = side_effects.clone();
    // This test's runtime has one thread: blocking it freezes the renewal
    // too, as a SIGSTOP or a frozen VM freezes the whole process.
    let outcome = Lock::new(own_vaults(&ns).await, &vault, Untyped::new(PROVISIONED))
        .holder("worker-a")
        .lease(Duration::from_secs(2))
        .run(|ctx| async move {
            ctx.check()?;
            std::thread::sleep(Duration::from_millis(2500));
            // Resumed past the lease, before the renewal ran: not ours.
            assert!(ctx.is_lost());
            ctx.check()?;
            effects.fetch_add(1, Ordering::SeqCst);
            Ok::<_, LeaseLost>(Verdict::new(Status::True, "Provisioned"))
        })
        .await
        .unwrap();
    // Nobody took it meanwhile: the failure is released, to run again.
    assert!(
        matches!(
            &outcome,
            Outcome::Ran {
                error: Some(TaskError::Failed(LeaseLost { .. })),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(side_effects.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_lost_acquire_response_is_taken_back_at_once_by_the_same_holder() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let vault = create_vault(&api, "lost-reply").await;
    let drop_next = lock_support::DropNextStatusReply::default();
    let lossy: Api<Vault> = Api::namespaced(drop_next.client().await, ns.name());
    drop_next.arm();
    let outcome = Lock::new(lossy.clone(), &vault, Untyped::new(PROVISIONED))
        .holder("worker-a")
        .lease(Duration::from_secs(300))
        .run(|_ctx| async move { must_not_run() })
        .await;
    assert!(
        matches!(outcome, Err(konditions_core::LockError::Acquire(_))),
        "{outcome:?}"
    );
    // The server stored the lock: other holders must wait its lease.
    let locked = api.get("lost-reply").await.unwrap();
    let lost_token = FencingToken::new(
        locked
            .metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse()
            .unwrap(),
    );
    let other = Lock::new(api.clone(), &locked, Untyped::new(PROVISIONED))
        .holder("worker-b")
        .run(|_ctx| async move { must_not_run() })
        .await
        .unwrap();
    assert!(matches!(other, Outcome::Busy(_)), "{other:?}");
    // The same holder gets it back at once: no takeover (it knows no task
    // ran under it), and a greater token.
    let outcome = Lock::new(lossy, &locked, Untyped::new(PROVISIONED))
        .holder("worker-a")
        .lease(Duration::from_secs(300))
        .run(|ctx| async move {
            assert!(ctx.takeover().is_none());
            assert!(ctx.token() > lost_token);
            done("Provisioned", "second try")
        })
        .await
        .unwrap();
    let Outcome::Ran {
        token,
        takeover: None,
        error: None,
        ..
    } = outcome
    else {
        panic!("expected the same holder to run at once, got {outcome:?}")
    };
    assert!(token > lost_token);
}

#[tokio::test]
async fn fencing_tokens_grow_across_holders_releases_edits_and_takeovers() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "tokens").await;
    let mut tokens = Vec::new();
    for (holder, edit) in [("a", false), ("b", true), ("a", false), ("c", true)] {
        let copy = api.get("tokens").await.unwrap();
        let outcome = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
            .holder(holder)
            .rerun()
            .run(|ctx| async move { done("Provisioned", format!("token {}", ctx.token())) })
            .await
            .unwrap();
        let Outcome::Ran { token, .. } = outcome else {
            panic!("{outcome:?}")
        };
        tokens.push(token);
        if edit {
            // A `kubectl edit` of the condition in between.
            api.patch_status(
                "tokens",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": format!("edited after {holder}")}})),
            )
            .await
            .unwrap();
        }
    }
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
}

#[tokio::test]
async fn no_apply_writes_back_a_lock_from_a_stale_copy() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let fresh = create_vault(&api, "stale-apply").await;
    // Another replica reads the object while the lock is held...
    let (seen_tx, seen_rx) = oneshot::channel();
    let reader = api.clone();
    let outcome = Lock::new(api.clone(), &fresh, Untyped::new(PROVISIONED))
        .holder("worker-a")
        .run(|_ctx| async move {
            let _ = seen_tx.send(reader.get("stale-apply").await.unwrap());
            done("Provisioned", "by worker-a")
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Ran { error: None, .. }),
        "{outcome:?}"
    );
    let mut stale = seen_rx.await.unwrap();
    assert_eq!(find(&stale, PROVISIONED).unwrap().reason, LOCKED_REASON);

    // ...and, after the release, writes its status from that copy: the
    // open set declares nothing, so `apply_status` would send the lock.
    stale
        .set_condition(&"Audited".to_owned(), Verdict::new(Status::True, "Checked"))
        .unwrap();
    let error = apply_status(&api, &stale, "other-replica")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ApplyError::Locked(t) if t == PROVISIONED),
        "{error:?}"
    );
    let conditions = stale.conditions().unwrap().iter();
    let error = apply_conditions(&api, "stale-apply", "other-replica", conditions)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ApplyError::Locked(t) if t == PROVISIONED),
        "{error:?}"
    );

    // Nothing was sent: the release stands, and no lock came back.
    let stored = api.get("stale-apply").await.unwrap();
    let provisioned = find(&stored, PROVISIONED).unwrap();
    assert_eq!(
        (provisioned.reason.as_str(), provisioned.message.as_str()),
        ("Provisioned", "by worker-a")
    );
    assert!(find(&stored, "Audited").is_none());
    assert_eq!(stored.metadata.resource_version, outcome_version(&outcome));
}

/// The resourceVersion of the object a run returned.
fn outcome_version(outcome: &Outcome<Vault, Infallible>) -> Option<String> {
    match outcome {
        Outcome::Ran { object, .. } => object.metadata.resource_version.clone(),
        _ => None,
    }
}

#[tokio::test]
async fn every_run_of_one_change_has_one_idempotency_key() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let fresh = create_vault(&api, "keys").await;
    let uid = fresh.metadata.uid.clone().unwrap();
    let (key_tx, key_rx) = oneshot::channel();
    let outcome = Lock::new(api.clone(), &fresh, Untyped::new(PROVISIONED))
        .backoff(Backoff::NONE)
        .run(|ctx| async move {
            let _ = key_tx.send(ctx.idempotency_key().clone());
            Err::<Released, _>("the sink timed out".to_owned())
        })
        .await
        .unwrap();
    let first = key_rx.await.unwrap();
    assert_eq!(first.as_str(), format!("{uid}:1:{PROVISIONED}"));
    let Outcome::Ran { object, .. } = outcome else {
        panic!("{outcome:?}")
    };

    // The retry of the same generation: the same change, the same key.
    let (key_tx, key_rx) = oneshot::channel();
    let retried = Lock::new(api.clone(), &object, Untyped::new(PROVISIONED))
        .backoff(Backoff::NONE)
        .run(|ctx| async move {
            let _ = key_tx.send(ctx.idempotency_key().clone());
            done("Provisioned", "second attempt")
        })
        .await
        .unwrap();
    assert!(
        matches!(retried, Outcome::Ran { error: None, .. }),
        "{retried:?}"
    );
    assert_eq!(key_rx.await.unwrap(), first);

    // A spec change is a new change: a new key.
    let patch = json!({"spec": {"size": 2}});
    let changed = api
        .patch("keys", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let (key_tx, key_rx) = oneshot::channel();
    let next = Lock::new(api.clone(), &changed, Untyped::new(PROVISIONED))
        .run(|ctx| async move {
            let _ = key_tx.send(ctx.idempotency_key().clone());
            done("Provisioned", "generation 2")
        })
        .await
        .unwrap();
    assert!(matches!(next, Outcome::Ran { error: None, .. }), "{next:?}");
    let second = key_rx.await.unwrap();
    assert_eq!(second.as_str(), format!("{uid}:2:{PROVISIONED}"));
    assert_eq!(second.generation(), 2);
}

#[tokio::test]
async fn a_closed_set_type_not_declared_for_the_lock_is_refused_before_any_request() {
    // A hand-written lock type that skips the declaration.
    #[derive(Clone)]
    struct Sneaky;
    impl konditions_core::LockedType for Sneaky {
        type Type = lock_support::HandWritten;
        fn condition_type(&self) -> lock_support::HandWritten {
            lock_support::HandWritten::ByApply
        }
    }
    let ns = setup().await;
    let (client, requests) = counting_client().await;
    let api: Api<lock_support::Gadget> = Api::namespaced(client, ns.name());
    let object = lock_support::Gadget::new("sneaky", Default::default());
    let error = Lock::new(api, &object, Sneaky)
        .run(|_ctx| async move { Ok::<_, Infallible>(Verdict::new(Status::True, "Done")) })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LockError::NotLockDeclared(t) if t == "ByApply"),
        "{error:?}"
    );
    assert!(error.to_string().contains("declare it `(lock)`"), "{error}");
    assert_eq!(requests.snapshot(), (0, 0, 0), "GET, PATCH, other");
}

#[tokio::test]
async fn an_apply_from_an_old_copy_is_not_written() {
    use konditions_core::apply::apply_status_if_current;
    let ns = setup().await;
    let api = ns.api::<Vault>();
    let mut copy = create_vault(&api, "if-current").await;
    copy.set_condition(&"Audited".to_owned(), Verdict::new(Status::True, "First"))
        .unwrap();
    let stored = apply_status_if_current(&api, &copy, "replica-a")
        .await
        .unwrap()
        .expect("a current copy is written");
    // The same transition from the same (now old) copy, by another replica.
    let mut old = copy.clone();
    old.set_condition(&"Audited".to_owned(), Verdict::new(Status::True, "Second"))
        .unwrap();
    assert!(
        apply_status_if_current(&api, &old, "replica-b")
            .await
            .unwrap()
            .is_none()
    );
    let now = api.get("if-current").await.unwrap();
    assert_eq!(
        now.metadata.resource_version,
        stored.metadata.resource_version
    );
    assert_eq!(find(&now, "Audited").unwrap().reason, "First");
}

#[tokio::test]
async fn a_cancelled_run_hands_its_lock_over_at_once() {
    let ns = setup().await;
    create_vault(&ns.api(), "cancelled").await;
    // Far longer than this test: a takeover can only come from the hand-over.
    let lease = Duration::from_secs(600);
    let a = own_vaults(&ns).await;
    let copy = a.get("cancelled").await.unwrap();
    let (started, started_rx) = oneshot::channel();
    let running = tokio::spawn(async move {
        Lock::new(a, &copy, Untyped::new(PROVISIONED))
            .holder("worker-a")
            .lease(lease)
            .run(|ctx| async move {
                started.send(ctx.token()).unwrap();
                futures::future::pending::<Result<Released, Infallible>>().await
            })
            .await
    });
    let first_token = started_rx.await.unwrap();
    let cancelled_at = jiff::Timestamp::now();
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());

    let b = own_vaults(&ns).await;
    let mut busy = 0;
    let outcome = loop {
        let copy = b.get("cancelled").await.unwrap();
        let outcome = Lock::new(b.clone(), &copy, Untyped::new(PROVISIONED))
            .holder("worker-b")
            .lease(lease)
            .run(|_ctx| async move { done("Provisioned", "after the hand-over") })
            .await
            .unwrap();
        match outcome {
            // The hand-over is written by A's renewal task: wait for it.
            Outcome::Busy(held) => {
                assert_eq!(held.lock.holder.as_deref(), Some("worker-a"));
                busy += 1;
                assert!(busy < 300, "never handed over: {held:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other,
        }
    };
    let Outcome::Ran {
        takeover: Some(previous),
        token,
        error: None,
        ..
    } = outcome
    else {
        panic!("expected a takeover of the handed-over lock, got {outcome:?}")
    };
    assert_eq!(previous.holder.as_deref(), Some("worker-a"));
    // Handed over: it expired when it was rewritten, not a lease later.
    assert!(
        previous.expires_at <= jiff::Timestamp::now()
            && previous.expires_at
                >= cancelled_at
                    .saturating_sub(jiff::SignedDuration::from_secs(1))
                    .unwrap(),
        "{previous:?}"
    );
    assert_eq!(previous.renewed, Some(previous.expires_at));
    assert!(token > first_token);
}

#[tokio::test]
async fn a_lock_on_a_list_that_is_not_a_map_is_taken_back_at_once() {
    let ns = setup().await;
    let api = ns.api::<Urn>();
    let mut urn = Urn::new("plain", UrnSpec { size: 1 });
    urn.metadata.namespace = Some(ns.name().to_owned());
    let urn = api
        .create(&kube::api::PostParams::default(), &urn)
        .await
        .unwrap();
    // Another writer's entry of the type, which the copy does not show:
    // the plain list takes a second one.
    let theirs = json!({
        "type": PROVISIONED, "status": "True", "reason": "ByOthers",
        "lastTransitionTime": "2024-05-01T10:00:00Z", "message": "",
    });
    api.patch_status(
        "plain",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [theirs]}})),
    )
    .await
    .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = ran.clone();
    let outcome = Lock::new(api.clone(), &urn, Untyped::new(PROVISIONED))
        .run(|_ctx| async move {
            counted.fetch_add(1, Ordering::SeqCst);
            done("Provisioned", "")
        })
        .await;
    assert!(
        matches!(outcome, Err(LockError::NotAMapList)),
        "{outcome:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the task did not run");
    // Taken back: only the other writer's entry is left, no lock.
    let stored = api.get_status("plain").await.unwrap();
    let entries = serde_json::to_value(&stored.status.unwrap().conditions).unwrap();
    assert_eq!(entries, json!([theirs]));
}

#[tokio::test]
async fn a_lock_the_first_release_wrote_is_honoured_until_it_expires_during_a_rolling_upgrade() {
    let ns = setup().await;
    let api = ns.api::<Vault>();
    create_vault(&api, "upgrade").await;
    let since: jiff::Timestamp = "2032-01-01T00:00:00Z".parse().unwrap();
    let at = |s: i64| since + jiff::SignedDuration::from_secs(s);
    // Written by a replica of the first release (format 1, no version),
    // renewed at +30 s until +90 s.
    let copy = write_lock(
        &api,
        "upgrade",
        format!(
            "locked by old-replica (lock 5f3e91c2) since {} until {} (renewed {})",
            stamp(since),
            stamp(at(90)),
            stamp(at(30))
        ),
        since,
    )
    .await;
    let lease = Duration::from_secs(60);
    let probe = |now: jiff::Timestamp| {
        Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
            .holder("new-replica")
            .lease(lease)
            .clock(ManualClock::new(now))
            .run(|ctx| async move {
                let previous = ctx.takeover().unwrap();
                assert_eq!(previous.format, Some(1));
                done("Provisioned", "taken over by this release")
            })
    };
    let outcome = probe(at(80)).await.unwrap();
    let Outcome::Busy(busy) = &outcome else {
        panic!("the renewed lock holds until +90 s: {outcome:?}")
    };
    assert_eq!(busy.lock.holder.as_deref(), Some("old-replica"));
    assert_eq!(busy.lock.id.as_deref(), Some("5f3e91c2"));
    assert_eq!(busy.lock.format, Some(1));
    assert_eq!(busy.retry_after, Duration::from_secs(10));

    let outcome = probe(at(90)).await.unwrap();
    let Outcome::Ran {
        takeover: Some(previous),
        error: None,
        ..
    } = &outcome
    else {
        panic!("expected a takeover at +90 s, got {outcome:?}")
    };
    assert_eq!(previous.holder.as_deref(), Some("old-replica"));
}
