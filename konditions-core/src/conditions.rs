//! The `conditions` list of a status and its utility API.

use crate::{Condition, ConditionStatus, ConditionType, Status};

/// The list of conditions of a resource's status.
// Placeholder shape; the core issue replaces the representation (foreign
// conditions kept as written) and adds the utility API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conditions<T: ConditionType = String, S: ConditionStatus = Status> {
    known: Vec<Condition<T, S>>,
}

impl<T: ConditionType, S: ConditionStatus> Default for Conditions<T, S> {
    fn default() -> Self {
        Self { known: Vec::new() }
    }
}

impl<T: ConditionType, S: ConditionStatus> Conditions<T, S> {
    /// True when the list holds no condition.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}
