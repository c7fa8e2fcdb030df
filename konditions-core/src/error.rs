//! The errors of this crate, one enum per kind of operation.

/// A condition that the API server would reject: returned by the setters
/// before anything is changed.
///
/// ```
/// use konditions_core::{ConditionError, Conditions, Status, Verdict};
/// let mut conditions = Conditions::<String>::default();
/// let err = conditions.set(None, "Ready", Verdict::new(Status::True, "not CamelCase")).unwrap_err();
/// assert!(matches!(err, ConditionError::InvalidReason { .. }));
/// assert!(conditions.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConditionError {
    /// The `type` does not match `metav1.Condition`'s pattern or length.
    #[error("invalid condition type `{type_}`: {problem}")]
    InvalidType {
        /// The rejected type.
        type_: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The `reason` is empty, too long, or not CamelCase-like.
    #[error("invalid condition reason `{reason}`: {problem}")]
    InvalidReason {
        /// The rejected reason.
        reason: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The `message` is longer than 32768 characters.
    #[error("condition message is {len} characters long, the limit is 32768")]
    MessageTooLong {
        /// Its length in characters.
        len: usize,
    },
}

/// Why a k8s-openapi `Condition` could not be converted to a typed one.
///
/// ```
/// use konditions_core::ConversionError;
/// assert_eq!(ConversionError::UnknownStatus("Maybe".into()).to_string(), "unknown condition status `Maybe`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConversionError {
    /// The `type` is not one of `T`'s.
    #[error("unknown condition type `{0}`")]
    UnknownType(String),
    /// The `status` is not a member of `S`.
    #[error("unknown condition status `{0}`")]
    UnknownStatus(String),
}

/// A failed status write (see [`apply`](crate::apply)).
#[cfg(feature = "client")]
///
/// ```
/// use konditions_core::ApplyError;
/// let e = ApplyError::MissingName;
/// assert_eq!(e.to_string(), "the object has no metadata.name");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The object passed in has no name, so there is nothing to patch.
    #[error("the object has no metadata.name")]
    MissingName,
    /// The patch body could not be built.
    #[error("could not serialize the status patch")]
    Serialize(#[from] serde_json::Error),
    /// The API server (or the connection to it) refused the write.
    #[error("the status write was rejected")]
    Api(#[from] kube::Error),
    /// A condition to send is locked (reason `Locked`) in the copy being
    /// written: writing it back could undo a lock another worker holds now,
    /// or bring back one already released, so nothing was sent. The lock
    /// writes this condition: leave it out of the apply (declare it
    /// `(lock)`, which `apply_status` skips).
    #[error(
        "the condition `{0}` is locked in the copy being written; the lock writes it, so the apply must leave it out (declare it `(lock)`): nothing was sent"
    )]
    Locked(String),
    /// The copy given is older than the stored object, and it holds
    /// conditions declared `(lock)` that an earlier release applied: those
    /// are handed to the lock's field manager first, from a current copy
    /// only (see [`apply_status`](crate::apply_status)). Nothing was sent;
    /// the next reconcile has a newer copy.
    #[error(
        "the copy is older than the stored object, and the lock's conditions it holds must be handed over from a current one: nothing was sent"
    )]
    StaleCopy,
    /// The API server's generation guard refused the write (422 Invalid,
    /// see [`GENERATION_RULE`](crate::schema::GENERATION_RULE)): a
    /// condition it would replace is stored with a newer `observedGeneration`
    /// than the one sent, so the copy it was computed from is older than
    /// what another writer (a newer replica) stored. Nothing was written;
    /// like a lost race, the newer copy comes with the next watch event.
    /// The server's refusal is the source.
    #[error(
        "a condition this write would replace is stored for a newer generation of the object: nothing was written"
    )]
    OlderGeneration(#[source] kube::Error),
}
