//! A `Bucket` operator: what a user of konditions writes in a crate of
//! their own. A Bucket asks for storage in a region; the controller
//! "creates" it as a ConfigMap `bucket-<name>` (the side effect, visible in
//! the API server), refuses public buckets by policy, and reports
//! `BucketCreated`, `PolicyApplied` and the summary `Ready`. A `Transfer`
//! ([`transfer`]) posts amounts to a ledger under the lock.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod controller;
pub mod transfer;

/// Storage in a region.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "Bucket",
    namespaced,
    status = "BucketStatus"
)]
#[konditions(
    types(BucketCreated, PolicyApplied),
    summary = Ready,
    // Only a person can make a public bucket acceptable: kstatus says Failed.
    stalled_reasons(PublicNotAllowed),
)]
pub struct BucketSpec {
    /// Where the data lives.
    pub region: String,
    /// Readable by anyone: refused by the policy.
    #[serde(default)]
    pub public: bool,
}

/// What the controller reports.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatus {
    /// BucketCreated, PolicyApplied, Ready, and kstatus' Reconciling and Stalled.
    #[serde(default)]
    pub conditions: Conditions<BucketCondition>,
    /// The generation the conditions were computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The CRDs of this crate, for `cargo xtask crd` and the tests.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![Bucket::crd(), transfer::crd()]
}
