//! The API cost of a resource's whole life, create to delete, counted by
//! the API server itself (`apiserver_request_total`): writes per resource,
//! by verb. Its own test binary, one test: the counters are global.

// The measured counts are printed for the record (run with --nocapture).
#![allow(clippy::print_stderr)]

mod common;

use common::{EVENTS, Harness, STATUS, ServerRequests, WRITERS, ready};

/// The budget of API writes per resource, create to delete.
const BUDGET: f64 = 8.0;

#[tokio::test]
async fn a_resource_costs_at_most_eight_writes_from_create_to_delete() {
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
        h.delete(&format!("b{i:02}")).await;
    }
    for i in 0..N {
        h.wait_gone(&format!("b{i:02}")).await;
    }
    // Let the last events settle before reading the counters.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let after = ServerRequests::read(&h.client).await;

    let per = |what, verb: &str| after.since(&before, what, verb) as f64 / N as f64;
    // The operator's writes (the test's own are the POST and DELETE of
    // each resource, not counted).
    let rows = [
        ("PATCH postgreswriters", per(WRITERS, "PATCH")),
        ("PUT postgreswriters", per(WRITERS, "UPDATE")),
        ("PATCH postgreswriters/status", per(STATUS, "PATCH")),
        ("APPLY postgreswriters/status", per(STATUS, "APPLY")),
        ("POST events", per(EVENTS, "POST")),
        ("PATCH events", per(EVENTS, "PATCH")),
    ];
    let total: f64 = rows.iter().map(|(_, n)| n).sum();
    for (what, n) in rows {
        eprintln!("{what:>30}: {n:.2} per resource");
    }
    eprintln!(
        "{:>30}: {total:.2} per resource (budget {BUDGET})",
        "operator writes"
    );
    assert!(total <= BUDGET, "{total:.2} writes per resource");
    assert!(h.rows().await.is_empty());
}
