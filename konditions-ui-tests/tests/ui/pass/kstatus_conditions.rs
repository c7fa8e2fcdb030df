//! kstatus' `Reconciling` and `Stalled` (on by default), `stalled_reasons`,
//! a `lock` type, and `status.observedGeneration` wired by its field name:
//! `update_summary` sets all of it, and the CRD's schema has it.
#![deny(missing_docs, warnings)]

use konditions_core::{
    ConditionType, ConditionalResource, ConditionalStatus, Conditions, ManualClock, Polarity,
    Status, Verdict, WrittenBy,
};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Writes a row into a PostgreSQL table.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "demo.example.com", version = "v1", kind = "PostgresWriter", namespaced, status = "PostgresWriterStatus")]
#[konditions(
    types(TableReady, RowWritten(lock)),
    summary = Ready,
    stalled_reasons(TableMissing, InvalidTableName),
)]
pub struct PostgresWriterSpec {
    /// Target table.
    pub table: String,
}

/// The status of a PostgresWriter.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresWriterStatus {
    /// The conditions.
    #[serde(default)]
    pub conditions: Conditions<PostgresWriterCondition>,
    /// The generation the summary was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

fn main() {
    use PostgresWriterCondition::*;
    assert_eq!(PostgresWriterCondition::ALL, &[Ready, TableReady, RowWritten, Reconciling, Stalled]);
    assert_eq!(PostgresWriterCondition::dependents(), &[TableReady, RowWritten]);
    assert_eq!(PostgresWriterCondition::reconciling(), Some(Reconciling));
    assert_eq!(PostgresWriterCondition::stalled(), Some(Stalled));
    assert_eq!(Stalled.polarity(), Polarity::Negative);
    assert!(PostgresWriterCondition::stalls("InvalidTableName"));
    assert!(!PostgresWriterCondition::stalls("DatabaseUnavailable"));
    assert_eq!(RowWritten.written_by(), WrittenBy::Lock);
    assert_eq!(TableReady.written_by(), WrittenBy::Apply);

    let clock = ManualClock::default();
    let mut writer = PostgresWriter::new("w", PostgresWriterSpec { table: "t".into() });
    writer.metadata.generation = Some(2);
    writer
        .set_condition_with(&clock, &TableReady, Verdict::new(Status::False, "TableMissing").message("no table t"))
        .expect("valid condition");
    writer.update_summary_with(&clock).expect("summary");
    let conditions = writer.conditions().expect("status");
    assert!(conditions.is_true(&Stalled));
    assert!(conditions.find(&Reconciling).is_none());
    let json = serde_json::to_value(writer.status.as_ref().expect("status")).expect("serializable");
    assert_eq!(json["observedGeneration"], 2);

    let crd = serde_json::to_value(PostgresWriter::crd()).expect("serializable");
    let status = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(status["properties"]["observedGeneration"]["type"], "integer");
}
