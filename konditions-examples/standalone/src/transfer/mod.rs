//! A `Transfer` operator, written the way the guide says: a transfer posts
//! an amount to an account and then notifies its owner, two side effects
//! that append a line each to a ledger, an append-only sink. Both run
//! under the lock (`Posted(lock)`, `Notified(lock)`); a deletion reverses
//! the posting, under the same lock as the posting.
//!
//! The test command runs two replicas of it as processes against one
//! ledger, and kills them (SIGKILL) right after a side effect, to show what
//! reaches the ledger with and without the lock's idempotency key.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod controller;
pub mod ledger;

/// Move `amount` to `account`.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "Transfer",
    namespaced,
    status = "TransferStatus"
)]
#[konditions(types(Posted(lock), Notified(lock)), summary = Ready)]
pub struct TransferSpec {
    /// The account credited.
    pub account: String,
    /// The amount, in cents.
    pub amount: i64,
}

/// What the controller reports.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferStatus {
    /// Posted, Notified, Ready, and kstatus' Reconciling and Stalled.
    #[serde(default)]
    pub conditions: Conditions<TransferCondition>,
    /// The generation the conditions were computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The CRD of `Transfer`.
pub fn crd() -> CustomResourceDefinition {
    Transfer::crd()
}
