//! Recovery in seconds, not in backoffs: resources that wait for the
//! database are retried as soon as it is back, however long their backoff.
//! Its own test binary: it stops the shared server, and cargo runs test
//! binaries one at a time.
//!
//! The operator's backoff is set to 5 minutes from the first failure, and
//! every wait below is bounded by `common::WAIT` (2 minutes): a resource
//! can only become Ready in time if something retried it before its
//! backoff ended. That is a bound of logic, not of speed.

mod common;

use std::time::Duration;

use common::{Harness, condition, ready};
use konditions_core::Status;
use konditions_core::lock::Backoff;
use konditions_examples::postgres_writer::Metrics;
use konditions_examples::postgres_writer::PostgresWriterCondition::*;

const FIVE_MINUTES: Backoff = Backoff {
    initial: Duration::from_secs(300),
    max: Duration::from_secs(300),
};

#[tokio::test]
async fn resources_waiting_for_the_database_are_retried_when_it_is_back() {
    let h = Harness::with_table().await;
    let pg = xtask::local_postgres();
    let _operator = h.start_operator_configured(
        h.client.clone(),
        "recovery-replica",
        Metrics::default(),
        |options| options.retry_backoff = FIVE_MINUTES,
    );
    h.create("before", h.spec("bea", 1)).await;
    h.wait_for("before", "Ready", ready).await;

    let outage = pg.outage();
    // Created while the database is down: the table check fails, and the
    // resource backs off for 5 minutes.
    for name in ["during-a", "during-b", "during-c"] {
        h.create(name, h.spec(name, 2)).await;
    }
    // A spec change while down: same.
    h.patch_spec("before", serde_json::json!({"age": 3})).await;
    for name in ["during-a", "during-b", "during-c", "before"] {
        h.wait_for(name, "reporting the outage", |w| {
            condition(w, TableReady).is_some_and(|(s, r, _, g)| {
                s == Status::Unknown && r == "DatabaseUnavailable" && g == w.metadata.generation
            })
        })
        .await;
    }
    outage.end();

    for name in ["during-a", "during-b", "during-c", "before"] {
        h.wait_for(name, "Ready well before its 5-minute backoff ends", ready)
            .await;
    }
    let mut rows = h.rows().await;
    rows.sort();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        (
            h.audit("INSERT").await,
            h.audit("UPDATE").await,
            h.audit("DELETE").await
        ),
        (4, 1, 0),
        "each row written once, the update once"
    );
}
