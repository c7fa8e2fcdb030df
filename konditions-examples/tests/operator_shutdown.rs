//! SIGTERM with a row write in flight, on the real operator binary:
//!
//! - within the grace, the write finishes: /readyz turns 503 while it is
//!   still running, no new reconcile starts, the process exits 0 and leaves
//!   `RowWritten` True (not Locked);
//! - past the grace, the process exits 1 without the write and hands its
//!   lock over: the lock expires at once, and the other replica takes over
//!   long before the (10-minute) lease would have let it;
//! - a second signal stops it at once, whatever the grace.
//!
//! Where the write is in flight is exact, not a matter of timing: the
//! test-only hold stops it right before its statement until a file exists.
//! Only the order of events and exit statuses are asserted; every wait has
//! a generous hang guard.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::process::{HoldDir, Launch, OperatorProcess, wait_for_file};
use common::{Harness, condition, ready};
use hyper::StatusCode;
use konditions_core::lock::LockInfo;
use konditions_core::{Clock, ConditionalResource, Status, SystemClock};
use konditions_examples::postgres_writer::PostgresWriterCondition::*;

fn locked_by(
    holder: &str,
) -> impl Fn(&konditions_examples::postgres_writer::PostgresWriter) -> bool {
    move |w| {
        condition(w, RowWritten)
            .is_some_and(|(_, reason, message, _)| reason == "Locked" && message.contains(holder))
    }
}

/// An operator `holder` with `grace_seconds`, once `name`'s write is
/// in flight: locked, and held right before its statement. Returns the
/// operator and the file that releases the write.
async fn write_in_flight(
    h: &Harness,
    hold: &HoldDir,
    launch: Launch<'_>,
    name: &str,
) -> (OperatorProcess, PathBuf) {
    let holder = launch.holder;
    let mut operator = OperatorProcess::start(
        h,
        Launch {
            hold: Some(hold.path()),
            ..launch
        },
    );
    operator.wait_for_status("/readyz", StatusCode::OK).await;
    h.create(name, h.spec("held", 7)).await;
    let (held, release) = hold.files(h, name);
    wait_for_file(&held).await;
    h.wait_for(name, "Locked", locked_by(holder)).await;
    (operator, release)
}

#[tokio::test]
async fn sigterm_lets_the_write_in_flight_finish() {
    let h = Harness::with_table().await;
    // The write, once released, is slow too: the process has to wait for
    // a statement that is running, not only for a task about to start one.
    h.slow_inserts(2).await;
    let hold = HoldDir::new("drain");
    // A grace far longer than the write: the drain, not the grace, ends it.
    let launch = Launch {
        holder: "draining",
        grace_seconds: 600,
        ..Launch::default()
    };
    let (mut operator, release) = write_in_flight(&h, &hold, launch, "inflight").await;

    operator.signal("TERM");
    assert_eq!(
        operator
            .wait_for_status("/readyz", StatusCode::SERVICE_UNAVAILABLE)
            .await,
        "shutting down\n"
    );
    assert_eq!(
        operator.get("/healthz").await,
        Some((StatusCode::OK, "ok\n".into())),
        "alive while it drains"
    );
    // Created while shutting down: no new reconcile may start for it.
    h.create("latecomer", h.spec("lat", 8)).await;
    assert!(operator.is_running(), "the held write keeps it running");

    std::fs::write(&release, b"").unwrap();
    let status = operator.wait_exit().await;
    assert_eq!(status.code(), Some(0), "drained: {status}");

    let writer = h.api.get("inflight").await.unwrap();
    assert!(ready(&writer), "{:?}", writer.status);
    let (status, reason, _, _) = condition(&writer, RowWritten).unwrap();
    assert_eq!((status, reason.as_str()), (Status::True, "RowWritten"));
    assert_eq!(h.audit("INSERT").await, 1);
    assert_eq!(h.rows().await.len(), 1);

    let late = h.api.get("latecomer").await.unwrap();
    assert_eq!(late.metadata.finalizers, None, "not reconciled");
    // The schema's default is all it has: no condition, generation not observed.
    let status = late.status.expect("the schema defaults the status");
    assert!(status.conditions.is_empty(), "{status:?}");
    assert_eq!(status.observed_generation, Some(0));
}

#[tokio::test]
async fn sigterm_past_the_grace_hands_the_write_to_another_replica() {
    let h = Harness::with_table().await;
    let hold = HoldDir::new("abandon");
    // The write is never released; the lease would block the others for
    // far longer than this test's hang guards.
    let launch = Launch {
        holder: "abandoning",
        grace_seconds: 1,
        lease_seconds: 600,
        ..Launch::default()
    };
    let (mut first, _) = write_in_flight(&h, &hold, launch, "handover").await;

    first.signal("TERM");
    let status = first.wait_exit().await;
    assert_eq!(status.code(), Some(1), "the grace expired: {status}");
    let left = h.api.get("handover").await.unwrap();
    let locked = left
        .conditions()
        .and_then(|c| c.find(&RowWritten))
        .expect("the lock is still there, handed over");
    let lock = LockInfo::from_condition(locked, Duration::from_secs(600)).unwrap();
    assert_eq!(lock.holder.as_deref(), Some("abandoning"));
    assert!(
        lock.expires_at <= SystemClock.now(),
        "handed over: it expired when the process stopped, not a lease later: {lock:?}"
    );
    assert!(h.rows().await.is_empty(), "the write never ran");

    // As long a lease: a reader never trusts a lock for more than its own
    // lease, so a short one would take over early without any hand-over.
    let mut second = OperatorProcess::start(
        &h,
        Launch {
            holder: "taking-over",
            lease_seconds: 600,
            ..Launch::default()
        },
    );
    let writer = h
        .wait_for("handover", "Ready after the takeover", ready)
        .await;
    let (_, reason, message, _) = condition(&writer, RowWritten).unwrap();
    assert_eq!(reason, "RowWritten");
    assert!(!message.contains("abandoning"), "{message}");
    assert_eq!(h.audit("INSERT").await, 1, "exactly one write");

    second.signal("TERM");
    assert_eq!(second.wait_exit().await.code(), Some(0));
}

#[tokio::test]
async fn a_second_signal_stops_at_once() {
    let h = Harness::with_table().await;
    let hold = HoldDir::new("twice");
    let launch = Launch {
        holder: "impatient",
        grace_seconds: 600,
        ..Launch::default()
    };
    let (mut operator, _) = write_in_flight(&h, &hold, launch, "twice").await;

    operator.signal("TERM");
    operator
        .wait_for_status("/readyz", StatusCode::SERVICE_UNAVAILABLE)
        .await;
    operator.signal("INT");
    let status = operator.wait_exit().await;
    assert_eq!(status.code(), Some(1), "cut short: {status}");
    assert!(h.rows().await.is_empty(), "the held write never ran");
}
