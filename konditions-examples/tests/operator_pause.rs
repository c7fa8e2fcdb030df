//! A replica paused (SIGSTOP) between acquiring the row's lock and its
//! database write, for longer than its lease: another replica takes over
//! and writes a newer generation; when the paused one resumes (SIGCONT),
//! its stale write is refused by the fencing token. No stale write reaches
//! the table, and the row and the conditions agree.
//!
//! The pause point is exact, not a matter of timing: the operator's
//! test-only hold (`POSTGRES_WRITER_TEST_HOLD_BEFORE_WRITE`) stops the
//! write right before its statement and waits for a file.

mod common;

use std::time::{Duration, Instant};

use common::process::{Launch, OperatorProcess, wait_for_file};
use common::{Harness, WAIT, condition, ready};
use konditions_examples::postgres_writer::PostgresWriterCondition::*;

#[tokio::test]
async fn a_replica_paused_past_its_lease_cannot_write_a_stale_row() {
    let h = Harness::with_table().await;
    h.audit_statements().await;
    let hold = std::env::temp_dir().join(format!("pgw-hold-{}", std::process::id()));
    std::fs::create_dir_all(&hold).unwrap();
    // Each is killed when dropped (SIGKILL ends a stopped process too).
    let paused = OperatorProcess::start(
        &h,
        Launch {
            holder: "replica-paused",
            lease_seconds: 3,
            hold: Some(&hold),
            ..Launch::default()
        },
    );

    h.create("paused", h.spec("pat", 1)).await;
    let id = h.row_id("paused").replace('/', "_");
    wait_for_file(&hold.join(format!("{id}.held"))).await;
    // Locked for generation 1, right before its write: pause it there.
    paused.signal("STOP");

    h.patch_spec("paused", serde_json::json!({"age": 2})).await;
    let live = OperatorProcess::start(
        &h,
        Launch {
            holder: "replica-live",
            lease_seconds: 3,
            ..Launch::default()
        },
    );
    let writer = h
        .wait_for(
            "paused",
            "Ready for generation 2 by the other replica",
            |w| w.metadata.generation == Some(2) && ready(w),
        )
        .await;
    let (_, _, message, _) = condition(&writer, RowWritten).unwrap();
    assert!(message.contains("generation 2"), "{message}");
    assert_eq!(h.statements("INSERT").await, 1, "the live replica's write");

    // Resume the paused replica: it performs its write for generation 1.
    std::fs::write(hold.join(format!("{id}.release")), b"").unwrap();
    paused.signal("CONT");
    let deadline = Instant::now() + WAIT;
    while h.statements("INSERT").await < 2 {
        assert!(Instant::now() < deadline, "the resumed replica never wrote");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Its statement reached the table and changed nothing.
    assert_eq!(
        h.audit("INSERT").await,
        1,
        "one row written, by the live replica"
    );
    assert_eq!(h.audit("UPDATE").await, 0, "no stale write");
    assert_eq!(
        h.rows().await,
        vec![(h.row_id("paused"), "pat".into(), 2, "canada".into())]
    );
    let stored = h.api.get("paused").await.unwrap();
    let (status, _, message, generation) = condition(&stored, RowWritten).unwrap();
    assert_eq!(
        (status, generation),
        (konditions_core::Status::True, Some(2))
    );
    assert!(
        message.contains("generation 2"),
        "row and conditions agree: {message}"
    );
    drop((paused, live));
    let _ = std::fs::remove_dir_all(&hold);
}
