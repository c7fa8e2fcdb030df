//! One condition, in the shape of `metav1.Condition`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{ConditionStatus, ConditionType, Status};

/// One condition of a resource's status, in the standard `metav1.Condition`
/// shape. Generic over the condition type `T` and the status set `S`.
// The core issue fleshes this out: serde through `ConditionType` /
// `ConditionStatus`, conversions to and from k8s-openapi's Condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition<T: ConditionType = String, S: ConditionStatus = Status> {
    /// The condition type, e.g. `Ready`.
    pub type_: T,
    /// The status.
    pub status: S,
    /// The `metadata.generation` the condition was computed from.
    pub observed_generation: Option<i64>,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// A CamelCase, programmatic reason for the status.
    pub reason: String,
    /// A human readable message.
    pub message: String,
}
