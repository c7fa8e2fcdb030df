//! A summary computed from some of the declared types, a negative-polarity
//! type, and per-type documentation and wire names.
#![deny(missing_docs, warnings)]

use konditions_core::{ConditionType, ConditionalResource, ConditionalStatus, Conditions, Polarity};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A database.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "demo.example.com", version = "v1", kind = "Database", namespaced, status = "DatabaseStatus")]
#[konditions(
    types(
        Ready(doc = "The database accepts connections."),
        SchemaMigrated,
        DiskPressure(negative),
        Progressing(allow_progressive),
        NotFound(allow_negated),
        BackupDone(rename = "backup.example.com/Done"),
    ),
    summary = Ready,
    dependents(SchemaMigrated, DiskPressure)
)]
pub struct DatabaseSpec {
    /// Size in GiB.
    pub size: u32,
}

/// The status of a Database.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    /// The conditions.
    #[serde(default)]
    pub conditions: Conditions<DatabaseCondition>,
    /// The generation the summary was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

fn main() {
    use DatabaseCondition::*;
    assert_eq!(
        DatabaseCondition::ALL,
        &[Ready, SchemaMigrated, DiskPressure, Progressing, NotFound, BackupDone, Reconciling, Stalled]
    );
    assert_eq!(DatabaseCondition::summary(), Some(Ready));
    assert_eq!(DatabaseCondition::dependents(), vec![SchemaMigrated, DiskPressure]);
    assert_eq!(DiskPressure.polarity(), Polarity::Negative);
    assert_eq!(Ready.polarity(), Polarity::Positive);
    assert_eq!(BackupDone.as_str(), "backup.example.com/Done");
    assert_eq!(DatabaseCondition::parse("backup.example.com/Done"), Some(BackupDone));
    assert_eq!(DatabaseCondition::parse("BackupDone"), None);
    let _ = Database::new("db", DatabaseSpec { size: 1 }).conditions().is_none();
}
