//! The lock's public data: who holds it, what a task returns and is told,
//! what a run produced, and the lock's errors.

use std::fmt;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{LOCKED_REASON, TASK_FAILED_REASON};
use crate::{Condition, ConditionError, ConditionStatus, ConditionType, ConditionalResource};

/// Who holds a lock and until when, read from a locked condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockInfo {
    /// The holder named in the message; `None` when the message does not
    /// follow the lock's format (a lock written by another tool).
    pub holder: Option<String>,
    /// When the lock was taken, when known.
    pub since: Option<Timestamp>,
    /// When the lease expires: then another worker may take the lock over.
    pub expires_at: Timestamp,
}

impl LockInfo {
    /// The lock recorded by `condition`, or `None` when it is not locked
    /// (its reason is not [`LOCKED_REASON`] and its status is not spelled
    /// `Locked`). A lock whose message does not parse expires `lease` after
    /// its `lastTransitionTime`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use konditions_core::{Condition, Status, lock::LockInfo};
    /// let at = "2024-05-01T10:00:00Z".parse().unwrap();
    /// let c: Condition = Condition::new("Created".into(), Status::Unknown, "Locked",
    ///     "locked by pod-a since 2024-05-01T10:00:00Z until 2024-05-01T10:05:00Z", at).unwrap();
    /// let info = LockInfo::from_condition(&c, Duration::from_secs(60)).unwrap();
    /// assert_eq!(info.holder.as_deref(), Some("pod-a"));
    /// assert_eq!(info.expires_at.to_string(), "2024-05-01T10:05:00Z");
    /// ```
    pub fn from_condition<T: ConditionType, S: ConditionStatus>(
        condition: &Condition<T, S>,
        lease: Duration,
    ) -> Option<Self> {
        if condition.reason != LOCKED_REASON && condition.status.as_str() != "Locked" {
            return None;
        }
        Some(
            Self::parse_message(&condition.message).unwrap_or_else(|| Self {
                holder: None,
                since: None,
                expires_at: add(condition.last_transition_time.0, lease),
            }),
        )
    }

    /// The lock recorded by an entry of our type that could not be typed
    /// (kept raw by [`Conditions`](crate::Conditions)), e.g. one written by
    /// konditionner: status `Locked` and no message. Same rules as
    /// [`from_condition`](Self::from_condition); without a readable
    /// `lastTransitionTime` the lock counts as expired, since nothing says
    /// when it was taken.
    pub(super) fn from_raw(entry: &serde_json::Value, lease: Duration) -> Option<Self> {
        let text = |key: &str| entry.get(key).and_then(serde_json::Value::as_str);
        if text("reason") != Some(LOCKED_REASON) && text("status") != Some("Locked") {
            return None;
        }
        Some(
            text("message")
                .and_then(Self::parse_message)
                .unwrap_or_else(|| Self {
                    holder: None,
                    since: None,
                    expires_at: text("lastTransitionTime")
                        .and_then(|t| t.parse::<Timestamp>().ok())
                        .map_or(Timestamp::UNIX_EPOCH, |t| add(t, lease)),
                }),
        )
    }

    /// Parses `locked by <holder> since <RFC 3339> until <RFC 3339>`.
    fn parse_message(message: &str) -> Option<Self> {
        let rest = message.strip_prefix("locked by ")?;
        // Timestamps hold no spaces: split from the right, so any holder name parses.
        let (rest, until) = rest.rsplit_once(" until ")?;
        let (holder, since) = rest.rsplit_once(" since ")?;
        Some(Self {
            holder: Some(holder.to_owned()),
            since: Some(since.parse().ok()?),
            expires_at: until.parse().ok()?,
        })
    }

    /// The message of a lock taken by `holder` at `since` until `expires_at`.
    pub(super) fn message(holder: &str, since: Timestamp, expires_at: Timestamp) -> String {
        format!("locked by {holder} since {since} until {expires_at}")
    }

    /// How long until the lease expires by the system clock; `None` once expired.
    pub fn remaining(&self) -> Option<Duration> {
        let left = Timestamp::now().duration_until(self.expires_at);
        Duration::try_from(left).ok().filter(|d| !d.is_zero())
    }
}

pub(super) fn add(at: Timestamp, lease: Duration) -> Timestamp {
    let lease = SignedDuration::try_from(lease).unwrap_or(SignedDuration::MAX);
    at.saturating_add(lease).unwrap_or(at)
}

/// What a task's error says about itself when the lock releases the
/// condition with it: the reason (CamelCase; the message is the error's
/// `Display`). Implement it for your error types; the default reason is
/// [`TASK_FAILED_REASON`]. A reason the API server would reject is replaced
/// by the default.
///
/// ```
/// use konditions_core::lock::Reason;
/// #[derive(Debug)]
/// enum BucketError { QuotaExceeded, Network(String) }
/// impl std::fmt::Display for BucketError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         match self { Self::QuotaExceeded => f.write_str("quota exceeded"), Self::Network(e) => f.write_str(e) }
///     }
/// }
/// impl Reason for BucketError {
///     fn reason(&self) -> &str {
///         match self { Self::QuotaExceeded => "QuotaExceeded", Self::Network(_) => "NetworkError" }
///     }
/// }
/// assert_eq!(BucketError::QuotaExceeded.reason(), "QuotaExceeded");
/// assert_eq!(std::io::Error::other("x").reason(), "TaskFailed");
/// ```
pub trait Reason: fmt::Display {
    /// The reason of the released condition.
    fn reason(&self) -> &str {
        TASK_FAILED_REASON
    }
}

impl Reason for String {}
impl Reason for &str {}
impl Reason for std::io::Error {}
impl Reason for kube::Error {}
impl Reason for Box<dyn std::error::Error + Send + Sync> {}
impl Reason for std::convert::Infallible {}

/// The condition a task asks the lock to release with, when it succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release<S> {
    /// The status.
    pub status: S,
    /// The reason (CamelCase; [`LOCKED_REASON`] is reserved).
    pub reason: String,
    /// The message (truncated to 32768 characters).
    pub message: String,
}

impl<S: ConditionStatus> Release<S> {
    /// A release with these fields.
    ///
    /// ```
    /// use konditions_core::{Status, lock::Release};
    /// let r = Release::new(Status::True, "BucketCreated", "bucket b1");
    /// assert_eq!(r.reason, "BucketCreated");
    /// ```
    pub fn new(status: S, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A release with `S::TRUE` (`True`, or `Completed` for konditionner's set).
    ///
    /// ```
    /// use konditions_core::{KonditionnerStatus, lock::Release};
    /// let r = Release::<KonditionnerStatus>::succeeded("Done", "");
    /// assert_eq!(r.status, KonditionnerStatus::Completed);
    /// ```
    pub fn succeeded(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(S::TRUE, reason, message)
    }
}

/// Why a task that ran did not succeed (see [`Outcome::Ran`]). A panic is
/// not one of these: it is resumed after the release.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskError<E> {
    /// The task returned this error; the condition was released `False`
    /// with its reason and text.
    Failed(E),
    /// The task returned a [`Release`] whose reason the API server would
    /// reject (or the reserved [`LOCKED_REASON`]); the condition was
    /// released `False` with reason [`INVALID_RELEASE_REASON`](super::INVALID_RELEASE_REASON).
    InvalidRelease(ConditionError),
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "the task failed: {e}"),
            Self::InvalidRelease(e) => write!(f, "the task returned an invalid release: {e}"),
        }
    }
}

/// What the task is told when it runs.
#[derive(Clone, Debug)]
pub struct LockContext<K: ConditionalResource> {
    pub(super) previous: Option<Condition<K::Type, K::Status>>,
    pub(super) takeover: Option<LockInfo>,
    pub(super) holder: String,
    pub(super) acquired_at: Timestamp,
    pub(super) expires_at: Timestamp,
}

impl<K: ConditionalResource> LockContext<K> {
    /// The condition as it was before locking (`None` when absent or
    /// malformed). After a takeover, that is the expired lock.
    pub fn previous(&self) -> Option<&Condition<K::Type, K::Status>> {
        self.previous.as_ref()
    }

    /// `Some` when this run took over an expired lock: the previous holder
    /// may have died mid-task, so check for a half-done side effect.
    pub fn takeover(&self) -> Option<&LockInfo> {
        self.takeover.as_ref()
    }

    /// This lock's holder.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// When the lock was taken, by the lock's clock.
    pub fn acquired_at(&self) -> Timestamp {
        self.acquired_at
    }

    /// When the lease expires: after that another worker may take over.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

/// What [`Lock::run`](super::Lock::run) did.
#[derive(Debug)]
#[must_use = "the outcome says whether the task ran and when to requeue"]
pub enum Outcome<K: ConditionalResource, E> {
    /// The task ran and the condition was released.
    Ran {
        /// The object as stored after the release.
        object: Box<K>,
        /// The condition as released.
        condition: Condition<K::Type, K::Status>,
        /// `Some` when the lock was taken over from an expired holder.
        takeover: Option<LockInfo>,
        /// Why the task did not succeed; requeue when `Some`.
        error: Option<TaskError<E>>,
    },
    /// Someone else holds the lock (in the caller's view); nothing was written.
    Busy(LockInfo),
    /// The condition changed since the caller read the object (or, rarely,
    /// an entry before it was removed): nothing was written, the task did
    /// not run. Requeue; the next reconcile sees a fresh object.
    Stale,
    /// The task ran, but when releasing, the condition was no longer our
    /// lock: the lease expired and another worker took over. Its condition
    /// is left intact.
    LostLease {
        /// The condition found instead of our lock.
        current: Option<Condition<K::Type, K::Status>>,
        /// The task's error, if it failed.
        error: Option<TaskError<E>>,
    },
}

/// A failure of the lock itself (not of the task, and not a refused
/// compare-and-swap, which is an [`Outcome`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The object passed in has no name.
    #[error("the object has no metadata.name")]
    MissingName,
    /// The holder is empty, longer than 253 characters or holds a line break.
    #[error("invalid lock holder `{0}`: it must be 1 to 253 characters, on one line")]
    InvalidHolder(String),
    /// The locked condition is invalid (for example the condition type).
    #[error("invalid lock condition: {0}")]
    Condition(#[from] ConditionError),
    /// A patch body could not be built.
    #[error("could not serialize the lock patch: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The acquire write failed for another reason than a stale view; the
    /// task did not run. When the failure came after the server stored the
    /// lock (a lost response), it expires after the lease.
    #[error("acquiring the lock failed: {0}")]
    Acquire(#[source] kube::Error),
    /// Two entries of the condition type after an insert: the CRD's
    /// `conditions` schema is not a map-list keyed by `type`, so the lock
    /// cannot be safe. The task did not run.
    #[error(
        "status.conditions holds the type twice: the CRD must declare it `x-kubernetes-list-type: map` keyed by `type`"
    )]
    NotAMapList,
    /// The task ran but every release write failed: the condition stays
    /// locked until the lease expires, then the next holder takes over.
    #[error("releasing the lock failed after {attempts} attempts: {source}")]
    Release {
        /// How many writes were tried.
        attempts: usize,
        /// The last error.
        #[source]
        source: kube::Error,
    },
}
