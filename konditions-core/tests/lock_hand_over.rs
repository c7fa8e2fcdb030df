//! `lock::hand_over` against the real API server. Its own test binary: the
//! hand-over stops the whole process from taking locks, for good.

mod lock_support;

use std::time::Duration;

use konditions_core::lock::{self, LOCKED_REASON, LockInfo, Untyped};
use konditions_core::{ConditionalResource, Lock, LockError, Outcome, Status, Verdict};
use kube::Api;
use lock_support::{Vault, create_vault, install};
use tokio::sync::oneshot;

const PROVISIONED: &str = "Provisioned";

#[tokio::test]
async fn a_stopping_process_hands_its_locks_over_and_takes_no_new_one() {
    let client = konditions_testing::client().await;
    install(&client).await;
    let ns = konditions_testing::namespace(&client).await;
    let api: Api<Vault> = ns.api();
    // Far longer than this test: only a hand-over ends these leases in it.
    let lease = Duration::from_secs(600);

    // Two tasks run under locks: one stops when told, one finishes anyway.
    let mut started = Vec::new();
    let mut runs = Vec::new();
    for (name, finishes) in [("stops", false), ("finishes", true)] {
        let copy = create_vault(&api, name).await;
        let (tx, rx) = oneshot::channel();
        started.push(rx);
        let lock = Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
            .holder("stopping-replica")
            .lease(lease);
        runs.push(tokio::spawn(lock.run(move |ctx| async move {
            tx.send(()).unwrap();
            let lost = ctx.lost().await;
            assert!(ctx.check().is_err());
            if finishes {
                Ok(Verdict::new(Status::True, "Provisioned").message("finished anyway"))
            } else {
                Err(std::io::Error::from(lost))
            }
        })));
    }
    for rx in started {
        rx.await.unwrap();
    }

    let handed_over_at = jiff::Timestamp::now();
    let still_held = lock::hand_over(Duration::from_secs(30)).await;
    assert_eq!(still_held, 0);

    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await.unwrap().unwrap());
    }
    // The task that stopped: no failure record (the next holder must not
    // wait for a backoff), the lock left handed over.
    let Outcome::LostLease {
        current: Some(current),
        error: Some(error),
    } = &outcomes[0]
    else {
        panic!("{:?}", outcomes[0])
    };
    assert!(
        error.to_string().contains("handed the lock over"),
        "{error}"
    );
    assert_eq!(current.reason, LOCKED_REASON);
    let stored = api.get("stops").await.unwrap();
    let condition = stored
        .conditions()
        .unwrap()
        .find(&PROVISIONED.to_owned())
        .unwrap()
        .clone();
    assert_eq!(&condition, current);
    let info = LockInfo::from_condition(&condition, lease).unwrap();
    assert_eq!(info.holder.as_deref(), Some("stopping-replica"));
    assert!(
        info.expires_at <= jiff::Timestamp::now()
            && info.expires_at
                >= handed_over_at
                    .saturating_sub(jiff::SignedDuration::from_secs(1))
                    .unwrap(),
        "expires when handed over: {info:?}"
    );
    // The task that finished before anyone took over released its result.
    let Outcome::Ran {
        condition, error, ..
    } = &outcomes[1]
    else {
        panic!("{:?}", outcomes[1])
    };
    assert!(error.is_none());
    assert_eq!(
        (condition.status, condition.message.as_str()),
        (Status::True, "finished anyway")
    );

    // No new lock from a stopping process.
    let copy = create_vault(&api, "late").await;
    let late =
        Lock::new(api.clone(), &copy, Untyped::new(PROVISIONED))
            .run(|_ctx| async move {
                Ok::<_, std::io::Error>(Verdict::new(Status::True, "Provisioned"))
            })
            .await;
    assert!(matches!(late, Err(LockError::ShuttingDown)), "{late:?}");
    assert!(
        api.get("late").await.unwrap().status.is_none(),
        "nothing written"
    );
}
