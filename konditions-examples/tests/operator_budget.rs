//! The API cost of a resource's whole life, create, one spec change,
//! delete, counted by the API server itself (`apiserver_request_total`):
//! writes per resource, by verb. Its own test binary, one test: the
//! counters are global.

// The measured counts are printed for the record (run with --nocapture).
#![allow(clippy::print_stderr)]

mod common;

use common::{EVENTS, Harness, STATUS, ServerRequests, WRITERS, ready};
use konditions_examples::postgres_writer::PostgresWriter;

/// The budget of API writes per resource, create to update to delete,
/// Events apart: the finalizer added, the row lock acquired and released
/// with the status (create), acquired and released with the status
/// (update), acquired for the cleanup and gone with the finalizer's removal
/// (delete). The floor of a per-object lock.
const BUDGET: f64 = 7.0;
/// Events per resource: one, `ReadyTrue`.
const EVENT_BUDGET: f64 = 1.0;

#[tokio::test]
async fn a_resource_costs_at_most_seven_writes_and_one_event_from_create_to_update_to_delete() {
    const N: usize = 20;
    let h = Harness::with_table().await;
    let _operator = h.start_operator("replica-a");
    let before = ServerRequests::read(&h.client).await;
    for i in 0..N {
        h.create(&format!("b{i:02}"), h.spec(&format!("n{i}"), i as i32))
            .await;
    }
    for i in 0..N {
        h.wait_for(&format!("b{i:02}"), "Ready", ready).await;
    }
    for i in 0..N {
        h.patch_spec(&format!("b{i:02}"), serde_json::json!({ "age": 100 + i }))
            .await;
    }
    for i in 0..N {
        let updated = |w: &PostgresWriter| w.metadata.generation == Some(2) && ready(w);
        h.wait_for(&format!("b{i:02}"), "Ready at generation 2", updated)
            .await;
    }
    for i in 0..N {
        h.delete(&format!("b{i:02}")).await;
    }
    for i in 0..N {
        h.wait_gone(&format!("b{i:02}")).await;
    }
    // Let the last events settle before reading the counters.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let after = ServerRequests::read(&h.client).await;

    let per = |what, verb: &str| after.since(&before, what, verb) as f64 / N as f64;
    // The operator's writes (the test's own are the POST, the spec PATCH
    // and the DELETE of each resource, not counted).
    let rows = [
        ("PATCH postgreswriters", per(WRITERS, "PATCH") - 1.0),
        ("PUT postgreswriters", per(WRITERS, "UPDATE")),
        ("PATCH postgreswriters/status", per(STATUS, "PATCH")),
        ("APPLY postgreswriters/status", per(STATUS, "APPLY")),
    ];
    let events = [
        ("POST events", per(EVENTS, "POST")),
        ("PATCH events", per(EVENTS, "PATCH")),
    ];
    let total: f64 = rows.iter().map(|(_, n)| n).sum();
    let total_events: f64 = events.iter().map(|(_, n)| n).sum();
    for (what, n) in rows.iter().chain(&events) {
        eprintln!("{what:>30}: {n:.2} per resource");
    }
    eprintln!(
        "{:>30}: {total:.2} per resource (budget {BUDGET}) and {total_events:.2} Events (budget {EVENT_BUDGET})",
        "operator writes"
    );
    assert!(total <= BUDGET, "{total:.2} writes per resource");
    assert!(
        total_events <= EVENT_BUDGET,
        "{total_events:.2} Events per resource"
    );
    assert!(h.rows().await.is_empty());
}
