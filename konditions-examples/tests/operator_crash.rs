//! An operator process killed (SIGKILL) in the middle of a write, and a new
//! one started: the condition does not stay Locked, the new replica takes
//! over after the lease, the row is written exactly once.

mod common;

use common::process::{Launch, OperatorProcess};
use common::{Harness, condition, ready};
use konditions_examples::postgres_writer::PostgresWriterCondition::*;

/// The real operator binary, limited to the test namespace; killed when
/// dropped.
fn operator(h: &Harness, holder: &str) -> OperatorProcess {
    OperatorProcess::start(
        h,
        Launch {
            holder,
            lease_seconds: 4,
            ..Launch::default()
        },
    )
}

#[tokio::test]
async fn a_replica_killed_mid_write_is_taken_over() {
    let h = Harness::with_table().await;
    // Each INSERT takes 3 s: the window in which the first replica dies.
    h.slow_inserts(3).await;
    let mut first = operator(&h, "replica-killed");
    h.create("victim", h.spec("vic", 33)).await;
    let locked = h
        .wait_for("victim", "locked by the first replica", |w| {
            condition(w, RowWritten).is_some_and(|(_, reason, message, _)| {
                reason == "Locked" && message.contains("replica-killed")
            })
        })
        .await;
    first.signal("KILL");
    first.wait_exit().await;
    assert!(
        h.rows().await.is_empty(),
        "the killed write was rolled back"
    );

    let _second = operator(&h, "replica-survivor");
    let writer = h
        .wait_for("victim", "Ready after the takeover", ready)
        .await;
    let (_, reason, message, _) = condition(&writer, RowWritten).unwrap();
    assert_eq!(reason, "RowWritten");
    assert!(!message.contains("replica-killed"), "{message}");
    assert_eq!(h.rows().await.len(), 1);
    assert_eq!(h.audit("INSERT").await, 1, "exactly one committed write");
    assert!(locked.metadata.resource_version != writer.metadata.resource_version);
}
