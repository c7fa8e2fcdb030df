//! `crate = "..."` makes the generated code use konditions-core through a
//! re-export, as a library wrapping konditions would.
#![deny(missing_docs, warnings)]

/// A facade crate would re-export konditions-core like this.
pub mod facade {
    pub use konditions_core as konditions;
}

use facade::konditions::{
    ConditionType, ConditionalResource, ConditionalStatus, Conditions, WrittenBy,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A queue.
#[derive(ConditionalResource, Default)]
#[konditions(types(Drained(lock)), crate = "crate::facade::konditions")]
pub struct Queue {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Status.
    pub status: Option<QueueStatus>,
}

/// The status of a queue.
#[derive(ConditionalStatus, Default)]
#[konditions(crate = "crate::facade::konditions")]
pub struct QueueStatus {
    /// The conditions.
    pub conditions: Conditions<QueueCondition>,
    /// The generation the summary was computed for.
    pub observed_generation: Option<i64>,
}

fn main() {
    use QueueCondition::*;
    assert_eq!(QueueCondition::declared(), &[Drained, Reconciling, Stalled]);
    assert_eq!(Drained.written_by(), WrittenBy::Lock);
    assert_eq!(QueueCondition::stalled(), Some(Stalled));
    assert_eq!(QueueStatus::default().observed_generation(), None);
    assert!(Queue::default().conditions().is_none());
}
