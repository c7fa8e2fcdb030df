//! The API cost of a resource's whole life, create, one spec change,
//! delete, counted by the API server itself (`apiserver_request_total`):
//! writes per resource, by verb, with the per-object lock and with two
//! replicas sharing the work. Its own test binary, one test: the counters
//! are global.

// The measured counts are printed for the record (run with --nocapture).
#![allow(clippy::print_stderr)]

mod common;

use std::time::Duration;

use common::{EVENTS, Harness, STATUS, ServerRequests, WRITERS, ready};
use konditions_core::shard;
use konditions_examples::postgres_writer::{Metrics, PostgresWriter};

/// The budget of API writes per resource, create to update to delete,
/// Events apart: the finalizer added, the row lock acquired and released
/// with the status (create), acquired and released with the status
/// (update), acquired for the cleanup and gone with the finalizer's removal
/// (delete). The floor of a per-object lock.
const BUDGET: f64 = 7.0;
/// Events per resource: one, `ReadyTrue`.
const EVENT_BUDGET: f64 = 1.0;

/// The budget when the replicas share the work: the finalizer added and
/// the row's condition written with the status (create), the status
/// (update), the finalizer removed (delete). The kubebuilder Go operator's
/// 3 / 2 / 1, less its second status update.
const SHARED_BUDGET: f64 = 4.0;

#[tokio::test]
async fn a_resource_costs_at_most_seven_writes_with_the_lock_four_with_shared_work_and_one_event() {
    let h = Harness::with_table().await;
    let operator = h.start_operator("replica-a");
    let (total, events) = life_cost(&h, "per-object lock").await;
    assert!(total <= BUDGET, "{total:.2} writes per resource");
    assert!(events <= EVENT_BUDGET, "{events:.2} Events per resource");
    operator.stop().await;

    // Two replicas sharing the work, in a namespace of their own.
    let h = Harness::with_table().await;
    let mut operators = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let member = shard::Group::new(h.client.clone(), h.namespace.clone(), "budget")
            .member(name)
            .lease(Duration::from_secs(5))
            .join()
            .await
            .expect("join");
        operators.push(h.start_operator_configured(
            h.client.clone(),
            name,
            Metrics::default(),
            |options| options.shard = Some(member.clone()),
        ));
    }
    let (total, events) = life_cost(&h, "shared work, two replicas").await;
    assert!(total <= SHARED_BUDGET, "{total:.2} writes per resource");
    assert!(events <= EVENT_BUDGET, "{events:.2} Events per resource");
    for operator in operators {
        operator.stop().await;
    }
}

/// Creates, changes and deletes resources with the operators running; the
/// operator writes and the Events per resource.
async fn life_cost(h: &Harness, what: &str) -> (f64, f64) {
    const N: usize = 20;
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
    tokio::time::sleep(Duration::from_secs(2)).await;
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
    eprintln!("{what}:");
    for (what, n) in rows.iter().chain(&events) {
        eprintln!("{what:>30}: {n:.2} per resource");
    }
    eprintln!(
        "{:>30}: {total:.2} per resource and {total_events:.2} Events",
        "operator writes"
    );
    assert!(h.rows().await.is_empty());
    (total, total_events)
}
