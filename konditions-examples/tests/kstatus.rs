//! What Flux, Argo CD and kubectl see: the REAL kstatus (`status.Compute`
//! of sigs.k8s.io/cli-utils v0.37.2), Argo CD's own health evaluation
//! (v3.2.12, with the health script `cargo xtask crd` generates), the REAL
//! `kubectl wait`, and konditions-testing's compliance check, on
//! PostgresWriters driven through every state against the real API server
//! and PostgreSQL. The matrix of docs/health.md, asserted (the outage rows
//! are in kstatus_outage.rs: that binary stops the database).

// The verdicts are printed for the record (run with --nocapture).
#![allow(clippy::print_stderr)]

mod common;

use common::health::{argocd, health, kubectl_wait, kubectl_wait_for, wait_argocd, wait_health};
use common::process::{Launch, OperatorProcess, wait_for_file};
use common::{Harness, condition, ready};
use konditions_core::Status;
use konditions_examples::postgres_writer::PostgresWriterCondition::{self, *};
use konditions_testing::ComplianceCheck;

/// The compliance check's verdict on the object now: what kstatus computes
/// and no broken rule, not even a warning (Flux's style: `Reconciling` and
/// `Stalled` only while True).
async fn assert_compliant(h: &Harness, name: &str, kstatus: &str) {
    let writer = h.api.get(name).await.unwrap();
    let report = ComplianceCheck::of::<PostgresWriterCondition>()
        .check(&writer)
        .unwrap();
    assert_eq!(report.kstatus.status, kstatus, "{report:?}");
    assert!(report.is_compliant(), "{name}: {report:?}");
    assert_eq!(report.violations, [], "{name}");
}

#[tokio::test]
async fn before_the_operator_ready_then_a_spec_change_it_has_not_seen() {
    let h = Harness::with_table().await;
    h.create("early", h.spec("eve", 30)).await;
    // No operator yet: the schema default makes observedGeneration 0.
    let verdict = health(&h, "early").await;
    assert_eq!(verdict.status, "InProgress", "{verdict:?}");
    assert!(
        verdict.message.contains("observed generation is 0"),
        "{verdict:?}"
    );
    let argo = argocd(&h, "early").await;
    assert_eq!(argo.status, "Progressing", "{argo:?}");
    assert_eq!(
        argo.message,
        "Generation 1 is not observed yet: the controller last observed generation 0"
    );
    assert!(!kubectl_wait(&h, "early", "2s"), "not Ready yet");

    let operator = h.start_operator("replica-a");
    h.wait_for("early", "Ready", ready).await;
    let verdict = health(&h, "early").await;
    assert_eq!(verdict.status, "Current", "{verdict:?}");
    let argo = argocd(&h, "early").await;
    // Ready's message: the good dependents that say something, one line each.
    assert_eq!(argo.status, "Healthy", "{argo:?}");
    assert!(
        argo.message.starts_with("* TableReady: table ")
            && argo.message.contains("\n* RowWritten: row "),
        "{argo:?}"
    );
    assert!(kubectl_wait(&h, "early", "30s"), "kubectl sees Ready");
    assert_compliant(&h, "early", "Current").await;
    // Reconciling is absent once Ready: a wait for it to be False never ends
    // (health.md says to wait for Ready).
    let writer = h.api.get("early").await.unwrap();
    assert!(condition(&writer, Reconciling).is_none());
    assert!(
        !kubectl_wait_for(&h, "early", "condition=Reconciling=False", "2s"),
        "kubectl wait does not match an absent condition"
    );

    // The operator goes down; the spec changes: not current any more.
    operator.stop().await;
    h.patch_spec("early", serde_json::json!({"age": 31})).await;
    let verdict = health(&h, "early").await;
    assert_eq!(verdict.status, "InProgress", "{verdict:?}");
    assert!(
        verdict
            .message
            .contains("generation is 2, but latest observed generation is 1"),
        "{verdict:?}"
    );
    let argo = argocd(&h, "early").await;
    assert_eq!(argo.status, "Progressing", "{argo:?}");
    assert_eq!(
        argo.message,
        "Generation 2 is not observed yet: the controller last observed generation 1"
    );
    assert!(
        !kubectl_wait(&h, "early", "2s"),
        "Ready is for generation 1"
    );

    // Back up: current again, for generation 2.
    let _operator = h.start_operator("replica-a");
    h.wait_for("early", "Ready for generation 2", |w| {
        w.metadata.generation == Some(2) && ready(w)
    })
    .await;
    wait_health(&h, "early", "Current").await;
    wait_argocd(&h, "early", "Healthy").await;
}

#[tokio::test]
async fn a_missing_table_is_failed_with_its_reason_and_a_fix_brings_it_back() {
    let h = Harness::without_table().await;
    let _operator = h.start_operator("replica-a");
    h.create("orphan", h.spec("oz", 40)).await;
    let verdict = wait_health(&h, "orphan", "Failed").await;
    assert!(verdict.message.contains("TableMissing"), "{verdict:?}");
    assert!(verdict.message.contains(h.table.as_str()), "{verdict:?}");
    let writer = h.api.get("orphan").await.unwrap();
    assert_eq!(condition(&writer, Stalled).unwrap().0, Status::True);
    assert!(
        condition(&writer, Reconciling).is_none(),
        "abnormal-true: absent"
    );
    let argo = argocd(&h, "orphan").await;
    assert_eq!(argo.status, "Degraded", "{argo:?}");
    assert_eq!(
        argo.message, verdict.message,
        "Stalled's message, as kstatus"
    );
    assert!(!kubectl_wait(&h, "orphan", "2s"));
    assert_compliant(&h, "orphan", "Failed").await;

    h.create_table().await;
    h.wait_for("orphan", "Ready once the table exists", ready)
        .await;
    wait_health(&h, "orphan", "Current").await;
    wait_argocd(&h, "orphan", "Healthy").await;
}

#[tokio::test]
async fn while_a_generation_is_being_reconciled_it_is_in_progress() {
    let h = Harness::with_table().await;
    let hold = std::env::temp_dir().join(format!("pgw-kstatus-{}", std::process::id()));
    std::fs::create_dir_all(&hold).unwrap();
    // The operator binary, holding every row write right before its
    // statement until told: the test sees the object mid-reconcile.
    let _operator = OperatorProcess::start(
        &h,
        Launch {
            holder: "replica-holding",
            hold: Some(&hold),
            ..Launch::default()
        },
    );
    h.create("busy", h.spec("bo", 60)).await;
    let id = h.row_id("busy").replace('/', "_");
    wait_for_file(&hold.join(format!("{id}.held"))).await;
    // The row's lock is held, its write not done.
    let writer = h.api.get("busy").await.unwrap();
    assert_eq!(condition(&writer, RowWritten).unwrap().1, "Locked");
    let verdict = health(&h, "busy").await;
    assert_eq!(verdict.status, "InProgress", "{verdict:?}");
    let argo = argocd(&h, "busy").await;
    // The first reconcile has not written the status yet: the generation
    // is not observed.
    assert_eq!(argo.status, "Progressing", "{argo:?}");
    assert_eq!(
        argo.message,
        "Generation 1 is not observed yet: the controller last observed generation 0"
    );
    assert!(!kubectl_wait(&h, "busy", "2s"));
    // Not a compliance check here: before its first status write the
    // object has no Ready (Flux's rules are for reconciled objects).

    std::fs::write(hold.join(format!("{id}.release")), b"").unwrap();
    h.wait_for("busy", "Ready", ready).await;
    wait_health(&h, "busy", "Current").await;
    wait_argocd(&h, "busy", "Healthy").await;
    assert!(kubectl_wait(&h, "busy", "30s"));
    let _ = std::fs::remove_dir_all(&hold);
}
