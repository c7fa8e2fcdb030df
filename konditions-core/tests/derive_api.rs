//! Against the real kube-apiserver (`cargo xtask controlplane up`): a CRD
//! declared with `#[derive(ConditionalResource)]` is accepted by the server,
//! and conditions set through the generated enum are stored, read back
//! typed, and validated by the server; a condition written by someone else
//! survives our writes.
//!
//! These tests fail (they do not skip) when no control plane is running.

use konditions_core::{
    ConditionType, ConditionalResource, ConditionalStatus, Conditions, Status, Verdict,
};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A PostgresWriter, as in the kubebuilder tutorial.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "derive.konditions.test",
    version = "v1",
    kind = "PostgresWriter",
    namespaced,
    status = "PostgresWriterStatus"
)]
#[konditions(types(TableReady, RowWritten, DiskPressure(negative)), summary = Ready)]
pub struct PostgresWriterSpec {
    /// Target table.
    pub table: String,
}

/// Status of a PostgresWriter.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresWriterStatus {
    /// The conditions.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions<PostgresWriterCondition>,
    /// The generation the summary was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Installs the CRD, creates a PostgresWriter in a fresh namespace.
async fn setup(name: &str) -> (kube::Api<PostgresWriter>, PostgresWriter) {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &PostgresWriter::crd()).await;
    let namespace = konditions_testing::namespace(&client).await;
    let api = namespace.api::<PostgresWriter>();
    let created = api
        .create(
            &PostParams::default(),
            &PostgresWriter::new(
                name,
                PostgresWriterSpec {
                    table: "rows".into(),
                },
            ),
        )
        .await
        .expect("the server accepts the derived resource");
    (api, created)
}

#[tokio::test]
async fn conditions_set_through_the_derive_are_stored_and_read_back() {
    let (api, mut writer) = setup("writer").await;
    let generation = writer.metadata.generation;
    assert!(generation.is_some(), "the server sets metadata.generation");
    assert_eq!(writer.generation(), generation);

    writer.conditions_mut().initialize(None);
    writer
        .set_condition(
            &PostgresWriterCondition::TableReady,
            Verdict::new(Status::True, "TableCreated").message("table rows exists"),
        )
        .expect("valid condition");
    writer
        .set_condition(
            &PostgresWriterCondition::DiskPressure,
            Verdict::new(Status::False, "EnoughSpace"),
        )
        .expect("valid condition");
    writer.update_summary().expect("summary");
    let status = json!({ "status": writer.status });
    api.patch_status("writer", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("the server accepts the conditions");

    let read = api.get_status("writer").await.expect("read back");
    let conditions = read.conditions().expect("the status was stored");
    let types: Vec<_> = conditions.iter().map(|c| c.type_).collect();
    let reported: Vec<_> = PostgresWriterCondition::declared()
        .iter()
        .copied()
        .filter(|t| *t != PostgresWriterCondition::Stalled)
        .collect();
    assert_eq!(
        types, reported,
        "every declared condition reported once (Stalled only when True)"
    );
    let table = conditions
        .find(&PostgresWriterCondition::TableReady)
        .expect("TableReady");
    assert_eq!(table.status, Status::True);
    assert_eq!(table.reason, "TableCreated");
    assert_eq!(table.message, "table rows exists");
    assert_eq!(table.observed_generation, generation);
    assert_eq!(
        conditions
            .find(&PostgresWriterCondition::RowWritten)
            .expect("RowWritten")
            .status,
        Status::Unknown
    );
    // DiskPressure is negative: False is good; RowWritten is still Unknown.
    let ready = conditions
        .find(&PostgresWriterCondition::Ready)
        .expect("Ready");
    assert_eq!(ready.status, Status::Unknown);
    // kstatus' conditions, added by the derive, are accepted by the
    // schema: not decided yet, so Reconciling (Stalled is absent until
    // something stalls).
    assert!(conditions.is_true(&PostgresWriterCondition::Reconciling));
    assert!(conditions.find(&PostgresWriterCondition::Stalled).is_none());
    assert!(conditions.unrecognized().next().is_none());
    let stored = read.status.as_ref().expect("status");
    assert_eq!(
        stored.observed_generation, generation,
        "status.observedGeneration stored under the name kstatus reads"
    );
}

#[tokio::test]
async fn a_foreign_condition_survives_a_write_of_ours() {
    let (api, _) = setup("shared").await;
    let foreign = json!({
        "type": "audit.example.com/Audited",
        "status": "True",
        "lastTransitionTime": "2024-05-01T10:00:00Z",
        "reason": "Checked",
        "message": "written by another controller",
    });
    let status = json!({ "status": { "conditions": [foreign.clone()] } });
    api.patch_status("shared", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("another controller's write");

    let mut writer = api.get_status("shared").await.expect("read");
    assert_eq!(writer.conditions().expect("status").foreign().count(), 1);
    writer
        .set_condition(
            &PostgresWriterCondition::RowWritten,
            Verdict::new(Status::True, "Inserted").message("1 row"),
        )
        .expect("valid condition");
    let status = json!({ "status": writer.status });
    api.patch_status("shared", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("our write");

    let read = api.get_status("shared").await.expect("read back");
    let conditions = read.conditions().expect("status");
    assert_eq!(
        conditions.foreign().cloned().collect::<Vec<_>>(),
        vec![foreign]
    );
    assert!(conditions.is_true(&PostgresWriterCondition::RowWritten));
}

#[tokio::test]
async fn the_server_rejects_a_condition_type_the_derive_would_reject() {
    let (api, _) = setup("invalid").await;
    // The derive refuses such a name at compile time; the CRD schema refuses
    // it at run time for writers that bypass the typed API.
    let status = json!({ "status": { "conditions": [{
        "type": "Not A Type",
        "status": "True",
        "lastTransitionTime": "2024-05-01T10:00:00Z",
        "reason": "Whatever",
        "message": "",
    }] } });
    let error = api
        .patch_status("invalid", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect_err("the schema's type pattern rejects it");
    assert!(error.to_string().contains("type"), "{error}");
}

#[tokio::test]
async fn kstatus_conditions_cleared_are_removed_even_when_a_json_patch_wrote_them() {
    use PostgresWriterCondition::*;
    use konditions_core::apply_status;
    const MANAGER: &str = "writer-controller";
    let (api, mut writer) = setup("cleared").await;
    // Not decided yet: Reconciling True, written by the controller with a
    // JSON Patch (as the lock's release carrying the status writes it).
    // Its Update owns the entry, so an apply that leaves it out would not
    // delete it.
    writer.initialize_conditions();
    writer.update_summary().unwrap();
    let conditions = serde_json::to_value(&writer.status.as_ref().unwrap().conditions).unwrap();
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/status/conditions", "value": conditions},
    ]))
    .unwrap();
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..PatchParams::default()
    };
    let mut writer = api
        .patch_status("cleared", &params, &Patch::Json::<()>(patch))
        .await
        .unwrap();
    assert!(writer.conditions().unwrap().is_true(&Reconciling));
    // All good: Reconciling is cleared, and gone from the stored object.
    for (type_, status) in [
        (TableReady, Status::True),
        (RowWritten, Status::True),
        (DiskPressure, Status::False),
    ] {
        writer
            .set_condition(&type_, Verdict::new(status, "Checked"))
            .unwrap();
    }
    let change = writer.update_summary().unwrap();
    assert!(matches!(
        change.reconciling,
        konditions_core::Change::Removed { .. }
    ));
    let stored = apply_status(&api, &writer, MANAGER).await.unwrap();
    let read = api.get_status("cleared").await.unwrap();
    for object in [&stored, &read] {
        let conditions = object.conditions().unwrap();
        assert!(conditions.is_true(&Ready));
        assert!(
            conditions.find(&Reconciling).is_none() && conditions.find(&Stalled).is_none(),
            "{:?}",
            object.status
        );
    }
}
