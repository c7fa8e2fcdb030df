//! A generic hand-written root.
#![deny(missing_docs, warnings)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};

/// A generic envelope.
#[derive(ConditionalResource, Default)]
#[konditions(types(Delivered))]
pub struct Envelope<P: Default> {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Payload.
    pub spec: P,
    /// Status.
    pub status: Option<EnvelopeStatus>,
}

/// The status of an envelope.
#[derive(ConditionalStatus, Default)]
pub struct EnvelopeStatus {
    /// The conditions.
    pub conditions: Conditions<EnvelopeCondition>,
    /// The generation the summary was computed for.
    pub observed_generation: Option<i64>,
}

fn main() {
    let mut envelope = Envelope::<u8>::default();
    assert!(envelope.conditions_mut().is_empty());
}
