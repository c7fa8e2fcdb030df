//! The main use: on the spec struct of kube's `CustomResource`, namespaced.
#![deny(missing_docs, warnings)]

use konditions_core::{Verdict, ConditionType, ConditionalResource, ConditionalStatus, Conditions, Status};
use kube::{CustomResource, CustomResourceExt, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Writes a row into a PostgreSQL table.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "demo.example.com",
    version = "v1",
    kind = "PostgresWriter",
    namespaced,
    status = "PostgresWriterStatus",
    shortname = "pgw",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[konditions(types(TableReady, RowWritten), summary = Ready)]
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
    assert_eq!(PostgresWriter::kind(&()), "PostgresWriter");
    assert!(PostgresWriter::crd().spec.scope == "Namespaced");

    let mut writer = PostgresWriter::new("w", PostgresWriterSpec { table: "t".into() });
    writer.metadata.generation = Some(4);
    assert!(writer.conditions().is_none());
    writer
        .conditions_mut()
        .set(None, &PostgresWriterCondition::TableReady, Verdict::new(Status::True, "Created").message("table t exists"))
        .expect("valid condition");
    let conditions = writer.conditions().expect("status was created");
    assert!(conditions.is_true(&PostgresWriterCondition::TableReady));
    assert_eq!(writer.generation(), Some(4));
    assert_eq!(PostgresWriterCondition::summary(), Some(PostgresWriterCondition::Ready));
    assert_eq!(
        PostgresWriterCondition::dependents(),
        vec![PostgresWriterCondition::TableReady, PostgresWriterCondition::RowWritten]
    );

    fn typed<R: ConditionalResource<Type = PostgresWriterCondition, Status = Status>>() {}
    typed::<PostgresWriter>();
}
