//! A cluster-scoped kube resource whose root struct is renamed with `root`,
//! and whose status is given as a path rather than a string.
#![deny(missing_docs, warnings)]

use konditions_core::{ConditionType, ConditionalResource, ConditionalStatus, Conditions};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A storage bucket, one per cluster.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "demo.example.com", version = "v1", kind = "Bucket", root = "BucketResource")]
#[kube(status = "BucketStatus")]
#[konditions(types(Created, Versioned))]
pub struct BucketSpec {
    /// Bucket name.
    pub name: String,
}

/// The status of a Bucket.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatus {
    /// The conditions.
    #[serde(default)]
    pub conditions: Conditions<BucketCondition>,
    /// The generation the summary was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

fn main() {
    assert_eq!(BucketResource::crd().spec.scope, "Cluster");
    assert_eq!(BucketCondition::declared(), BucketCondition::ALL);
    assert_eq!(BucketCondition::summary(), None);
    let mut bucket = BucketResource::new("b", BucketSpec { name: "b".into() });
    assert!(bucket.conditions_mut().is_empty());
    assert!(bucket.status.is_some());
}
