//! Thirty-two condition types (`Cond00` .. `Cond31`) declared with
//! `#[derive(ConditionalResource)]`, for benchmarks and tests of the
//! derived enum with many types.
#![allow(dead_code)] // the resource is there for the derive; users take the enum

use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A resource with 32 declared conditions.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "bench.konditions.dev",
    version = "v1",
    kind = "Gauge",
    namespaced,
    status = "GaugeStatus"
)]
#[konditions(types(
    Cond00, Cond01, Cond02, Cond03, Cond04, Cond05, Cond06, Cond07, Cond08, Cond09, Cond10, Cond11,
    Cond12, Cond13, Cond14, Cond15, Cond16, Cond17, Cond18, Cond19, Cond20, Cond21, Cond22, Cond23,
    Cond24, Cond25, Cond26, Cond27, Cond28, Cond29, Cond30, Cond31
))]
pub(crate) struct GaugeSpec {
    /// Unused.
    pub(crate) size: i64,
}

/// The status of a `Gauge`.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub(crate) struct GaugeStatus {
    /// The conditions.
    #[serde(default)]
    pub(crate) conditions: Conditions<GaugeCondition>,
    /// The generation the conditions were computed for.
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) observed_generation: Option<i64>,
}
