//! Typed, convention-following `status.conditions` for Kubernetes custom
//! resources built with kube-rs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod condition;
mod conditions;
mod declaration;
mod resource;
mod status;

pub use condition::Condition;
pub use conditions::Conditions;
pub use declaration::{ConditionType, Polarity};
pub use resource::{ConditionalResource, ConditionalStatus};
pub use status::{ConditionStatus, Status};

#[cfg(feature = "derive")]
pub use konditions_derive::{ConditionalResource, ConditionalStatus};
