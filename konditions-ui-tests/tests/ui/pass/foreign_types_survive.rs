//! Conditions of types the enum does not declare (written by another
//! controller) are kept through a read-modify-write of the status.
#![deny(missing_docs, warnings)]

use konditions_core::{Verdict, ConditionalResource, ConditionalStatus, Conditions, Status};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A cache.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "demo.example.com", version = "v1", kind = "Cache", namespaced, status = "CacheStatus")]
#[konditions(types(Warmed))]
pub struct CacheSpec {
    /// Entries.
    pub entries: u32,
}

/// The status of a Cache.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheStatus {
    /// The conditions.
    #[serde(default)]
    pub conditions: Conditions<CacheCondition>,
    /// The generation the summary was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

fn main() {
    let foreign = r#"{"type":"example.com/Audited","status":"True","lastTransitionTime":"2024-05-01T10:00:00Z","reason":"Checked","message":"by the auditor","x-extra":1}"#;
    let json = format!(
        r#"{{"apiVersion":"demo.example.com/v1","kind":"Cache","metadata":{{"name":"c"}},"spec":{{"entries":1}},"status":{{"conditions":[{foreign}]}}}}"#
    );
    let mut cache: Cache = serde_json::from_str(&json).expect("valid object");
    cache
        .conditions_mut()
        .set(None, &CacheCondition::Warmed, Verdict::new(Status::True, "Loaded"))
        .expect("valid condition");
    let written = serde_json::to_value(&cache).expect("serializable");
    let conditions = written["status"]["conditions"].as_array().expect("a list");
    assert_eq!(conditions.len(), 2);
    let kept: serde_json::Value = serde_json::from_str(foreign).expect("json");
    assert_eq!(conditions[0], kept);
    assert_eq!(conditions[1]["type"], "Warmed");
}
