//! Typed, convention-following `status.conditions` for Kubernetes custom
//! resources built with kube-rs.
//!
//! * [`Condition`] is `metav1.Condition`, generic over the condition type
//!   ([`ConditionType`]: a derived enum, or `String`) and the status set
//!   ([`ConditionStatus`]: [`Status`] by default, [`KonditionnerStatus`] opt-in).
//! * [`Verdict`] is what a condition says (status, reason, message): what
//!   setters, the summary and the lock's tasks produce.
//! * [`Conditions`] is the `conditions` list: lookups, a transition-aware
//!   setter reporting a [`Change`], initialisation of declared conditions,
//!   the summary condition, staleness; conditions it cannot type are kept
//!   and written back unchanged ([`RawCondition`]).
//! * [`ConditionalResource`] / [`ConditionalStatus`] connect a CRD to its
//!   conditions; their provided methods fill `observedGeneration`.
//! * [`event`] turns a transition into a Kubernetes Event.
//! * The `JsonSchema` of [`Conditions`] matches `metav1.Condition`'s
//!   validation and makes the list a map keyed by `type`.
//!
//! With the default `client` feature (kube's client, tokio):
//! * [`apply`] writes conditions with server-side apply, so controllers
//!   sharing an object do not overwrite each other;
//! * [`lock`] runs a task with external side effects at most once per
//!   intended transition of a condition.
//!
//! Features: `derive` (default) re-exports the derive macros; `client`
//! (default) the API-writing parts; `runtime` conversions to kube-runtime
//! types (Events); `chrono` conversions of timestamps.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod apply;
#[cfg(feature = "chrono")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
pub mod chrono;
mod clock;
mod condition;
pub mod conditions;
mod declaration;
mod error;
pub mod event;
#[doc(hidden)]
pub mod example;
pub mod kstatus;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod lock;
mod raw;
mod resource;
mod schema;
mod status;
mod summary;
pub mod validation;
mod verdict;

#[cfg(feature = "client")]
pub use apply::{apply_conditions, apply_status};
pub use clock::{Clock, ManualClock, SystemClock};
pub use condition::Condition;
pub use conditions::{Change, Conditions, INITIAL_MESSAGE, INITIAL_REASON};
pub use declaration::{ConditionType, Polarity, WrittenBy};
#[cfg(feature = "client")]
pub use error::ApplyError;
pub use error::{ConditionError, ConversionError};
#[cfg(feature = "client")]
pub use lock::{Lock, LockContext, LockError, Outcome};
pub use raw::{RawCondition, RawKind};
pub use resource::{ConditionalResource, ConditionalStatus};
pub use status::{ConditionStatus, KonditionnerStatus, Status};
pub use summary::{
    NOT_STALLED_REASON, RECONCILED_REASON, STALLED_REASON, SUMMARY_TRUE_MESSAGE,
    SUMMARY_TRUE_REASON, SummaryChange,
};
pub use verdict::Verdict;

#[cfg(feature = "derive")]
pub use konditions_derive::{ConditionalResource, ConditionalStatus};
