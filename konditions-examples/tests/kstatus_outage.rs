//! kstatus and Argo CD through a PostgreSQL outage: a spec change that
//! cannot be written is InProgress / Progressing (`Reconciling`,
//! DatabaseUnavailable), a deletion meanwhile Terminating / Progressing, and
//! both converge when the database returns.
//! Its own test binary: it stops the shared database.

mod common;

use common::health::{argocd, health, kubectl_wait, wait_argocd, wait_health};
use common::{Harness, condition, ready};
use konditions_core::Status;
use konditions_examples::postgres_writer::PostgresWriterCondition::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_in_progress_and_a_deletion_meanwhile_terminating() {
    let h = Harness::with_table().await;
    let pg = xtask::local_postgres();
    let _operator = h.start_operator("replica-a");
    h.create("patient", h.spec("pia", 50)).await;
    h.create("leaving", h.spec("leo", 51)).await;
    h.wait_for("patient", "Ready", ready).await;
    h.wait_for("leaving", "Ready", ready).await;

    // Ends when dropped, so a failing test still brings the database back.
    let outage = pg.outage();
    h.patch_spec("patient", serde_json::json!({"age": 52}))
        .await;
    h.wait_for("patient", "reconciling through the outage", |w| {
        w.metadata.generation == Some(2)
            && condition(w, Reconciling).is_some_and(|(s, r, _, g)| {
                s == Status::True && r == "DatabaseUnavailable" && g == Some(2)
            })
    })
    .await;
    let verdict = health(&h, "patient").await;
    assert_eq!(verdict.status, "InProgress", "{verdict:?}");
    assert!(
        verdict.message.contains("DatabaseUnavailable"),
        "{verdict:?}"
    );
    let argo = argocd(&h, "patient").await;
    assert_eq!(argo.status, "Progressing", "{argo:?}");
    assert_eq!(
        argo.message, verdict.message,
        "Reconciling's message, as kstatus"
    );
    assert!(!kubectl_wait(&h, "patient", "2s"));

    h.delete("leaving").await;
    let verdict = health(&h, "leaving").await;
    assert_eq!(verdict.status, "Terminating", "{verdict:?}");
    // Argo CD says Pending deletion before any script; the script itself
    // says the same status, with the summary's message.
    let argo = argocd(&h, "leaving").await;
    assert_eq!(
        (argo.status.as_str(), argo.message.as_str()),
        ("Progressing", "Pending deletion")
    );
    let script = argo.script.expect("the script ran");
    assert_eq!(script.status, "Progressing");
    assert!(script.message.starts_with("Being deleted"), "{script:?}");

    outage.end();
    h.wait_for("patient", "Ready again", |w| {
        w.metadata.generation == Some(2) && ready(w)
    })
    .await;
    wait_health(&h, "patient", "Current").await;
    wait_argocd(&h, "patient", "Healthy").await;
    h.wait_gone("leaving").await;
}
