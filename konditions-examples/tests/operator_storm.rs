//! A failing resource must not hammer the API server: its retries follow
//! the backoff schedule, whatever watch events its own status writes
//! cause. Counted with the API server's own metrics
//! (`apiserver_request_total`) and the operator's.
//!
//! Its own test binary, one test: the API server's counters are global, so
//! nothing else may write to postgreswriters meanwhile (cargo runs test
//! binaries one at a time). Budgets are counts, never times.

// The measured counts are printed for the record (run with --nocapture).
#![allow(clippy::print_stderr)]

mod common;

use std::time::Duration;

use common::{Harness, ServerRequests, condition, ready};
use konditions_core::Status;
use konditions_examples::postgres_writer::Metrics;
use konditions_examples::postgres_writer::PostgresWriterCondition::*;

/// How many attempts a backoff of 1 s, 2 s, 4 s ... allows in `seconds`
/// (the first one at 0 s).
fn attempts_within(seconds: u64) -> u64 {
    let (mut attempts, mut at, mut delay) = (1, 0, 1);
    while at + delay <= seconds {
        at += delay;
        delay *= 2;
        attempts += 1;
    }
    attempts
}

#[tokio::test]
async fn failures_back_off_instead_of_storming() {
    a_missing_table_for_a_minute().await;
    a_database_outage_with_a_hundred_pending_resources().await;
}

async fn a_missing_table_for_a_minute() {
    const SECONDS: u64 = 60;
    let h = Harness::without_table().await;
    let metrics = Metrics::default();
    let _operator = h.start_operator_metered(h.client.clone(), "replica-a", metrics.clone());
    let before = ServerRequests::read(&h.client).await;
    h.create("lonely", h.spec("lou", 20)).await;
    h.wait_for("lonely", "reporting the missing table", |w| {
        condition(w, TableReady)
            .is_some_and(|(s, r, _, _)| s == Status::False && r == "TableMissing")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    let after = ServerRequests::read(&h.client).await;

    let status_writes = after.status_writes_since(&before);
    let events = after.event_writes_since(&before);
    let reconciles = metrics.reconciles("ok") + metrics.reconciles("error");
    let attempts = attempts_within(SECONDS + 5);
    eprintln!(
        "missing table, {SECONDS} s: {status_writes} status writes, {reconciles} reconciles, {events} event writes (schedule: {attempts} attempts)"
    );
    // At most two writes per attempt on the schedule (the lock's acquire and
    // release); in fact the row is not even attempted while the table is
    // missing, so only the first report is written.
    assert!(
        status_writes <= 2 * attempts,
        "{status_writes} status writes"
    );
    assert!(status_writes >= 1, "the failure was reported");
    // The schedule's attempts, plus the finalizer's and one reconcile per
    // status write (which writes nothing).
    assert!(
        reconciles <= attempts + 2 + status_writes,
        "{reconciles} reconciles"
    );
    // A Warning when the failure starts and Ready's transition, not one per retry.
    assert!(events <= 3, "{events} event writes");
}

async fn a_database_outage_with_a_hundred_pending_resources() {
    const N: usize = 100;
    // Written before the outage, deleted during it: their cleanup runs
    // under the lock, fails, and retries on the lock's backoff.
    const DELETED: usize = 10;
    // Pending (never written) and deleted during the outage: no row can
    // exist, so nothing waits for the database.
    const ABANDONED: usize = 5;
    const OUTAGE: Duration = Duration::from_secs(20);
    let h = Harness::with_table().await;
    let pg = xtask::local_postgres();
    let _operator = h.start_operator("replica-a");
    for i in 0..DELETED {
        h.create(&format!("d{i:02}"), h.spec(&format!("d{i}"), i as i32))
            .await;
    }
    for i in 0..DELETED {
        h.wait_for(&format!("d{i:02}"), "Ready", ready).await;
    }
    // Ends when dropped, so a failing test still brings the database back.
    let outage = pg.outage();
    let before = ServerRequests::read(&h.client).await;
    for i in 0..N {
        h.create(&format!("p{i:03}"), h.spec(&format!("n{i}"), i as i32))
            .await;
    }
    for i in 0..DELETED {
        h.delete(&format!("d{i:02}")).await;
    }
    for i in 0..ABANDONED {
        h.delete(&format!("p{i:03}")).await;
    }
    for i in 0..ABANDONED {
        h.wait_gone(&format!("p{i:03}")).await;
    }
    tokio::time::sleep(OUTAGE).await;
    let during = ServerRequests::read(&h.client).await;
    let failed_deletions = h
        .api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|w| {
            condition(w, RowWritten).is_some_and(|(s, r, m, _)| {
                s == Status::False && r == "DatabaseUnavailable" && m.contains("(attempt ")
            })
        })
        .count();
    assert_eq!(
        failed_deletions, DELETED,
        "each deletion of a written row reports its failure and attempt"
    );
    outage.end();
    for i in 0..DELETED {
        h.wait_gone(&format!("d{i:02}")).await;
    }
    for i in ABANDONED..N {
        h.wait_for(&format!("p{i:03}"), "Ready", ready).await;
    }
    let after = ServerRequests::read(&h.client).await;

    let outage_writes = during.status_writes_since(&before);
    let total_writes = after.status_writes_since(&before);
    let attempts = attempts_within(OUTAGE.as_secs() + 5);
    eprintln!(
        "database down {OUTAGE:?}, {N} pending: {outage_writes} status writes during the outage, {total_writes} until all Ready"
    );
    // During the outage: at most two writes per attempt per object.
    let objects = (N + DELETED) as u64;
    assert!(outage_writes <= objects * 2 * attempts, "{outage_writes}");
    // Then each object is written once (lock + release) and summarised.
    assert!(
        total_writes <= outage_writes + objects * 4,
        "{total_writes} status writes in all"
    );
    assert_eq!(h.rows().await.len(), N - ABANDONED);
    assert_eq!(
        h.audit("INSERT").await,
        (DELETED + N - ABANDONED) as i64,
        "nothing written twice"
    );
}
