//! The `PostgresWriter` custom resource (group `demo.yash.com`, version
//! `v1`): the kubebuilder tutorial's CRD, with its schema validation, and
//! conditions declared with konditions.
//!
//! ```
//! use konditions_examples::postgres_writer::{PostgresWriter, PostgresWriterCondition, PostgresWriterSpec};
//!
//! // The tutorial's sample.
//! let sample = PostgresWriter::new("sample-student", PostgresWriterSpec {
//!     table: "students".into(),
//!     name: "alex".into(),
//!     age: 23,
//!     country: "canada".into(),
//! });
//! assert_eq!(sample.spec.table, "students");
//! assert_eq!(PostgresWriterCondition::Ready.as_str(), "Ready");
//! ```

// kube's KubeSchema derive emits a private mirror of the spec struct with
// its visibility and without its attributes, which trips `unreachable_pub`;
// every public item here is re-exported by the parent module.
#![allow(unreachable_pub)]

use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The desired row: the row with id `<namespace>/<name>` in `table` holds
/// `name`, `age` and `country`.
// Each `printcolumn(...)` repeats `type_`: that is kube's syntax, not a
// duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(
    CustomResource, KubeSchema, ConditionalResource, Serialize, Deserialize, Clone, Debug, PartialEq,
)]
#[kube(
    group = "demo.yash.com",
    version = "v1",
    kind = "PostgresWriter",
    namespaced,
    status = "PostgresWriterStatus",
    shortname = "pgw",
    category = "konditions",
    doc = "A row in a PostgreSQL table, written and deleted by the PostgresWriter operator",
    printcolumn(name = "Table", type_ = "string", json_path = ".spec.table"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[konditions(
    types(
        TableReady(doc = "The table exists in the database and has the columns the operator writes."),
        RowWritten(lock, doc = "The row of this resource holds the current spec (observedGeneration says which)."),
    ),
    summary = Ready,
    // Failures a retry will not fix: kstatus reports the writer Stalled.
    stalled_reasons(TableMissing, TableIncompatible, InvalidTableName, InvalidValue),
)]
pub struct PostgresWriterSpec {
    /// The table to write to: a lower-case SQL identifier. Immutable: the row
    /// belongs to the table it was written to.
    #[schemars(pattern(super::TABLE_NAME_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.table is immutable: create a new PostgresWriter to write to another table"))]
    pub table: String,
    /// The `name` column (no NUL character: PostgreSQL text cannot hold one).
    #[schemars(length(max = 1024), pattern(super::TEXT_PATTERN))]
    pub name: String,
    /// The `age` column.
    #[schemars(range(min = 0))]
    pub age: i32,
    /// The `country` column (no NUL character).
    #[schemars(length(max = 1024), pattern(super::TEXT_PATTERN))]
    pub country: String,
}

/// The observed state of a PostgresWriter: its conditions (`TableReady`,
/// `RowWritten`, the summary `Ready` and kstatus' `Reconciling` and
/// `Stalled`) and the generation they were computed for.
#[derive(
    ConditionalStatus,
    Serialize,
    Deserialize,
    Clone,
    Debug,
    Default,
    PartialEq,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct PostgresWriterStatus {
    /// The conditions, in the standard `metav1.Condition` shape.
    #[serde(default)]
    pub conditions: Conditions<PostgresWriterCondition>,
    /// The generation the summary (`Ready`) was last computed for
    /// (`status.observedGeneration`, which kstatus, Flux and Argo CD read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
