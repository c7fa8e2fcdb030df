//! The operator through a PostgreSQL outage (its own test binary: it stops
//! the shared server, and cargo runs test binaries one at a time).
//!
//! Database down -> TableReady and Ready Unknown/DatabaseUnavailable (the
//! row is not attempted while the table cannot be checked); a resource
//! deleted meanwhile keeps its finalizer until its row is really gone, and
//! its failed deletion says why; when the database returns, everything
//! converges with no manual action, nothing lost and nothing written twice.

mod common;

use std::time::Duration;

use common::{Harness, condition, ready};
use konditions_core::Status;
use konditions_examples::postgres_writer::PostgresWriterCondition::*;

#[tokio::test]
async fn database_down_then_back() {
    let h = Harness::with_table().await;
    let pg = xtask::local_postgres();
    let _operator = h.start_operator("replica-a");
    h.create("kept", h.spec("kim", 40)).await;
    h.create("doomed", h.spec("dan", 50)).await;
    h.wait_for("kept", "Ready", ready).await;
    h.wait_for("doomed", "Ready", ready).await;

    // Ends when dropped, so a failing test still brings the database back.
    let outage = pg.outage();

    h.patch_spec("kept", serde_json::json!({"age": 41})).await;
    let writer = h
        .wait_for("kept", "reporting the outage", |w| {
            condition(w, TableReady).is_some_and(|(s, r, _, g)| {
                s == Status::Unknown && r == "DatabaseUnavailable" && g == Some(2)
            })
        })
        .await;
    let (status, reason, message, _) = condition(&writer, Ready).unwrap();
    assert_eq!(status, Status::Unknown);
    // Two causes (the table cannot be checked, the row is stale): both
    // listed, and the reason says there are several.
    assert_eq!(reason, "UnknownReported");
    assert!(
        message.starts_with("* TableReady: database unavailable")
            && message.contains("\n* RowWritten: Computed for generation 1"),
        "{message}"
    );
    // The row still holds generation 1, and says so.
    let (status, _, _, generation) = condition(&writer, RowWritten).unwrap();
    assert_eq!((status, generation), (Status::True, Some(1)));

    h.delete("doomed").await;
    // The finalizer holds the resource while its row cannot be deleted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let doomed = h
        .api
        .get_opt("doomed")
        .await
        .unwrap()
        .expect("still there while the database is down");
    assert!(doomed.metadata.deletion_timestamp.is_some());
    let doomed = h
        .wait_for("doomed", "reporting its failed deletion", |w| {
            condition(w, RowWritten)
                .is_some_and(|(s, r, _, _)| s == Status::False && r == "DatabaseUnavailable")
        })
        .await;
    let (_, _, message, _) = condition(&doomed, RowWritten).unwrap();
    assert!(
        message.contains("(attempt "),
        "the failure record: {message}"
    );

    outage.end();
    h.wait_for("kept", "Ready again", |w| {
        w.metadata.generation == Some(2) && ready(w)
    })
    .await;
    h.wait_gone("doomed").await;
    assert_eq!(
        h.rows().await,
        vec![(h.row_id("kept"), "kim".into(), 41, "canada".into())]
    );
    assert_eq!(
        (
            h.audit("INSERT").await,
            h.audit("UPDATE").await,
            h.audit("DELETE").await
        ),
        (2, 1, 1)
    );
}
