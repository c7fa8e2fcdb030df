//! Typed, convention-following `status.conditions` for Kubernetes custom
//! resources built with kube-rs.
//!
//! * [`Condition`] is `metav1.Condition`, generic over the condition type
//!   ([`ConditionType`]: a derived enum, or `String`) and the status set
//!   ([`ConditionStatus`]: [`Status`] by default, [`KonditionnerStatus`] opt-in).
//! * [`Conditions`] is the `conditions` list: lookups, a transition-aware
//!   setter reporting a [`Change`], initialisation of declared conditions,
//!   the summary condition, staleness; conditions it cannot type are kept
//!   and written back unchanged ([`RawCondition`]).
//! * [`ConditionalResource`] / [`ConditionalStatus`] connect a CRD to its
//!   conditions; their provided methods fill `observedGeneration`.
//! * [`apply`] writes conditions with server-side apply, so controllers
//!   sharing an object do not overwrite each other.
//! * The `JsonSchema` of [`Conditions`] matches `metav1.Condition`'s
//!   validation and makes the list a map keyed by `type`.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod apply;
#[cfg(feature = "chrono")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
pub mod chrono;
mod clock;
mod condition;
mod conditions;
#[cfg(feature = "crd")]
#[cfg_attr(docsrs, doc(cfg(feature = "crd")))]
pub mod crd;
mod declaration;
mod error;
// Backs the doc examples; not part of the API.
#[doc(hidden)]
pub mod example;
pub mod lock;
mod raw;
mod resource;
mod schema;
mod status;
mod summary;
pub mod validation;

pub use apply::{apply_conditions, apply_resource_conditions};
pub use clock::{Clock, ManualClock, SystemClock};
pub use condition::Condition;
pub use conditions::{Change, Conditions, INITIAL_MESSAGE, INITIAL_REASON, Iter};
pub use declaration::{ConditionType, Polarity};
pub use error::{ApplyError, ConditionError, ConversionError};
pub use lock::{Lock, LockContext, LockError, LockInfo, Outcome, Reason, Release, TaskError};
pub use raw::{RawCondition, RawKind};
pub use resource::{ConditionalResource, ConditionalStatus};
pub use status::{ConditionStatus, KonditionnerStatus, Status};
pub use summary::{SUMMARY_TRUE_MESSAGE, SUMMARY_TRUE_REASON, Summary};

#[cfg(feature = "derive")]
pub use konditions_derive::{ConditionalResource, ConditionalStatus};
