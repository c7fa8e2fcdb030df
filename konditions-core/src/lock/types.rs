//! The lock's public data: who holds it, what a task is told and returns,
//! what a run produced, and the lock's errors.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use super::TASK_FAILED_REASON;
use crate::{Condition, ConditionError, ConditionalResource};

/// Who holds a lock and until when, read from a locked condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockInfo {
    /// The holder named in the message; `None` when the message does not
    /// follow the lock's format (a lock written by another tool).
    pub holder: Option<String>,
    /// The id of this acquisition's lock, when known.
    pub id: Option<String>,
    /// When the lock was taken, when known.
    pub since: Option<Timestamp>,
    /// When the holder last renewed it, when it did.
    pub renewed: Option<Timestamp>,
    /// When the lease expires by the holder's clock, as written. A reader
    /// does not trust it blindly: see the [module documentation](super#expiry-judged-by-the-reader).
    pub expires_at: Timestamp,
}

impl LockInfo {
    /// The last time the holder wrote the lock (renewal or acquisition).
    pub(super) fn stamp(&self) -> Option<Timestamp> {
        self.renewed.or(self.since)
    }
}

/// The fencing token of one acquisition: strictly greater than the token
/// of every earlier acquisition of any condition of the same object,
/// whoever held it, across releases, crashes, takeovers and edits.
///
/// It is the `resourceVersion` the API server gave the object when it
/// stored the lock. Since Kubernetes 1.35 (KEP-5504, GA), resource versions
/// of objects of one resource type are comparable integers, and every write
/// gives a greater one. Hand it to the external system with the side effect;
/// the system keeps the greatest token it has seen for the object and
/// refuses a write with a smaller one (see the [module documentation](super#fencing-the-external-system)).
///
/// ```
/// use konditions_core::lock::FencingToken;
/// let older = FencingToken::new(1041);
/// let newer = FencingToken::new(1187);
/// assert!(older < newer);
/// assert_eq!(newer.to_string(), "1187");
/// assert_eq!(newer.to_i64(), 1187);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(u64);

impl FencingToken {
    /// A token with this value (tests, and systems that store tokens).
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The token's value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The value as a signed 64-bit integer, for databases without
    /// unsigned types. Resource versions are etcd revisions, which are
    /// signed 64-bit integers, so this never saturates in practice.
    pub fn to_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// Parses a resourceVersion: a decimal integer without sign or leading zeros.
    pub(super) fn from_resource_version(rv: &str) -> Option<Self> {
        let digits = !rv.is_empty() && rv.bytes().all(|b| b.is_ascii_digit());
        (digits && !rv.starts_with('0'))
            .then(|| rv.parse().ok().map(Self))
            .flatten()
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How long a failed task waits before it may run again for the same
/// generation: `initial`, doubled for each further failure, at most `max`.
///
/// ```
/// use std::time::Duration;
/// use konditions_core::lock::Backoff;
/// let b = Backoff::default();
/// assert_eq!(b.delay(1), Duration::from_secs(1));
/// assert_eq!(b.delay(4), Duration::from_secs(8));
/// assert_eq!(b.delay(30), Duration::from_secs(300));
/// assert_eq!(Backoff::NONE.delay(5), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// No waiting: a failed task may run again at once (tests, or tasks
    /// whose failures are always cheap).
    pub const NONE: Backoff = Backoff {
        initial: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// The wait after the `attempt`-th consecutive failure (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        self.initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max)
    }
}

impl Default for Backoff {
    /// 1 second, doubling, at most 5 minutes.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

pub(super) fn add(at: Timestamp, by: Duration) -> Timestamp {
    let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
    at.saturating_add(by).unwrap_or(at)
}

/// How long from `now` until `at`; zero when `at` is not later.
pub(super) fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(now.duration_until(at)).unwrap_or_default()
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

impl Reason for LeaseLost {
    fn reason(&self) -> &str {
        "LeaseLost"
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
    /// The task returned a [`Verdict`](crate::Verdict) whose reason the API
    /// server would reject (or the reserved [`LOCKED_REASON`](super::LOCKED_REASON));
    /// the condition was released `False` with reason
    /// [`INVALID_RELEASE_REASON`](super::INVALID_RELEASE_REASON).
    InvalidRelease(ConditionError),
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "the task failed: {e}"),
            Self::InvalidRelease(e) => write!(f, "the task returned an invalid verdict: {e}"),
        }
    }
}

/// The lease of a running task ended: another worker may hold the lock, so
/// the task must not start (or finish) its side effect. Returned by
/// [`LockContext::check`], produced by [`LockContext::lost`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the lock's lease was lost: {0}")]
pub struct LeaseLost(pub(super) LostBecause);

/// Why a lease was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LostBecause {
    /// The locked condition changed: taken over or edited.
    Changed,
    /// The object was deleted.
    Gone,
    /// Renewals failed until the lease ran out.
    Unrenewed,
}

impl fmt::Display for LostBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Changed => "the condition is no longer this holder's lock",
            Self::Gone => "the object was deleted",
            Self::Unrenewed => "it could not be renewed before it expired",
        })
    }
}

/// The lease as the renewal sees it, shared with the task.
#[derive(Clone, Debug)]
pub(super) struct Lease {
    pub(super) expires_at: Timestamp,
    pub(super) lost: Option<LostBecause>,
}

/// What the task is told when it runs.
#[derive(Clone, Debug)]
pub struct LockContext<K: ConditionalResource> {
    pub(super) previous: Option<Condition<K::Type, K::Status>>,
    pub(super) takeover: Option<LockInfo>,
    pub(super) holder: String,
    pub(super) acquired_at: Timestamp,
    pub(super) token: FencingToken,
    pub(super) lease: watch::Receiver<Lease>,
}

impl<K: ConditionalResource> LockContext<K> {
    /// The condition as it was before locking (`None` when absent or
    /// malformed). After a takeover, that is the expired lock.
    pub fn previous(&self) -> Option<&Condition<K::Type, K::Status>> {
        self.previous.as_ref()
    }

    /// `Some` when this run took over a lock it did not release itself: an
    /// expired lock of another holder, or this holder's own lock left by an
    /// earlier process (a crash, a restart). That run may have died
    /// mid-task, so check for a half-done side effect.
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

    /// This acquisition's fencing token: give it to the external system.
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// When the lease expires unless renewed again (it is renewed while the
    /// task runs).
    pub fn expires_at(&self) -> Timestamp {
        self.lease.borrow().expires_at
    }

    /// Whether the lease was lost: another worker may run the task now.
    pub fn is_lost(&self) -> bool {
        self.lease.borrow().lost.is_some()
    }

    /// `Err` once the lease was lost. Call it right before the side effect
    /// (the fencing token still guards the external system against a
    /// loss in between).
    pub fn check(&self) -> Result<(), LeaseLost> {
        match self.lease.borrow().lost {
            Some(because) => Err(LeaseLost(because)),
            None => Ok(()),
        }
    }

    /// Completes when the lease is lost (never, while renewals succeed).
    /// Select on it to stop a long task early:
    ///
    /// ```no_run
    /// # async fn copy_chunk() {}
    /// # async fn demo<K: konditions_core::ConditionalResource>(ctx: konditions_core::LockContext<K>) -> Result<(), konditions_core::lock::LeaseLost> {
    /// loop {
    ///     tokio::select! {
    ///         lost = ctx.lost() => return Err(lost),
    ///         () = copy_chunk() => {}
    ///     }
    /// }
    /// # }
    /// ```
    pub fn lost(&self) -> impl Future<Output = LeaseLost> + Send + 'static {
        let mut lease = self.lease.clone();
        async move {
            loop {
                if let Some(because) = lease.borrow_and_update().lost {
                    return LeaseLost(because);
                }
                if lease.changed().await.is_err() {
                    // The renewal ended without losing the lease: the task
                    // is over, nothing will be lost any more.
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// Someone else holds the lock (in the caller's view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    /// The lock.
    pub lock: LockInfo,
    /// When this reader will consider the lock expired, from now (see the
    /// [module documentation](super#expiry-judged-by-the-reader)).
    pub retry_after: Duration,
}

/// The previous attempt failed for this generation, and its backoff has
/// not passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackingOff {
    /// How many attempts failed in a row.
    pub attempt: u32,
    /// When the next attempt may run, from now.
    pub retry_after: Duration,
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
        /// `Some` when the lock was taken over (see [`LockContext::takeover`]).
        takeover: Option<LockInfo>,
        /// The acquisition's fencing token.
        token: FencingToken,
        /// Why the task did not succeed; the condition records the failure
        /// and its attempt count, and the task waits for its backoff.
        error: Option<TaskError<E>>,
        /// When `error` is `Some`: the backoff before the next attempt.
        retry_after: Option<Duration>,
    },
    /// The condition already records this task as done for the object's
    /// generation (for a deletion: for this deletion, which has its own
    /// generation): nothing ran, nothing was written. See
    /// [`Lock::rerun`](super::Lock::rerun).
    Done(Condition<K::Type, K::Status>),
    /// Someone else holds the lock (in the caller's view); nothing was written.
    Busy(Busy),
    /// The last attempt failed and its backoff has not passed: nothing ran,
    /// nothing was written, whatever woke the reconciler up.
    BackingOff(BackingOff),
    /// The condition changed since the caller read the object (or, rarely,
    /// an entry before it was removed): nothing was written, the task did
    /// not run. Requeue; the next reconcile sees a fresh object.
    Stale,
    /// The task ran, but when releasing, the condition was no longer our
    /// lock: the lease expired and another worker took over (or someone
    /// edited the condition). Its condition is left intact.
    LostLease {
        /// The condition found instead of our lock.
        current: Option<Condition<K::Type, K::Status>>,
        /// The task's error, if it failed.
        error: Option<TaskError<E>>,
    },
    /// The object was deleted: before the acquire (`ran` is false, nothing
    /// ran), or while the task ran (`ran` is true, `error` tells whether it
    /// failed; there is nothing left to release).
    Gone {
        /// Whether the task ran.
        ran: bool,
        /// The task's error, if it ran and failed.
        error: Option<TaskError<E>>,
    },
}

impl<K: ConditionalResource, E> Outcome<K, E> {
    /// When to look at the object again: `None` when nothing is left to do
    /// for this generation (done, or gone), else a delay that respects the
    /// lease of a holder and the backoff of a failure.
    ///
    /// ```
    /// use std::time::Duration;
    /// use konditions_core::lock::Outcome;
    /// use konditions_core::example::Widget;
    /// let outcome: Outcome<Widget, std::io::Error> = Outcome::Stale;
    /// assert_eq!(outcome.requeue_after(), Some(Duration::from_secs(1)));
    /// ```
    pub fn requeue_after(&self) -> Option<Duration> {
        const SOON: Duration = Duration::from_secs(1);
        match self {
            Outcome::Ran { retry_after, .. } => *retry_after,
            Outcome::Done(_) | Outcome::Gone { .. } => None,
            Outcome::Busy(busy) => Some(busy.retry_after.max(SOON)),
            Outcome::BackingOff(wait) => Some(wait.retry_after.max(SOON)),
            Outcome::Stale | Outcome::LostLease { .. } => Some(SOON),
        }
    }

    /// Whether the task ran (whatever its result).
    pub fn ran(&self) -> bool {
        match self {
            Outcome::Ran { .. } | Outcome::LostLease { .. } => true,
            Outcome::Gone { ran, .. } => *ran,
            Outcome::Done(_) | Outcome::Busy(_) | Outcome::BackingOff(_) | Outcome::Stale => false,
        }
    }
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
    #[error("invalid lock condition")]
    Condition(#[from] ConditionError),
    /// A patch body could not be built.
    #[error("could not serialize the lock patch")]
    Serialize(#[from] serde_json::Error),
    /// The acquire write failed for another reason than a stale view; the
    /// task did not run. When the failure came after the server stored the
    /// lock (a lost response), the same holder gets it back on its next run.
    #[error("acquiring the lock failed")]
    Acquire(#[source] kube::Error),
    /// Two entries of the condition type after an insert: the CRD's
    /// `conditions` schema is not a map-list keyed by `type`, so the lock
    /// cannot be safe. The lock was stored but the task did not run; the
    /// condition stays locked until its lease ends.
    #[error(
        "status.conditions holds the type twice: the CRD must declare it `x-kubernetes-list-type: map` keyed by `type`"
    )]
    NotAMapList,
    /// The server's resourceVersion is not a decimal integer, so it cannot
    /// be a fencing token (Kubernetes before 1.35 did not promise it; an
    /// aggregated API server may not). The lock was stored but the task
    /// did not run; the condition stays locked until its lease ends, as
    /// after [`NotAMapList`](Self::NotAMapList).
    #[error(
        "the object's resourceVersion `{0}` is not a comparable integer, so it cannot serve as a fencing token (Kubernetes 1.35 or later guarantees it)"
    )]
    UnorderedResourceVersion(String),
    /// The task ran but every release write failed: the condition stays
    /// locked until the lease expires, then the next holder takes over.
    #[error("releasing the lock failed after {attempts} attempts")]
    Release {
        /// How many writes were tried.
        attempts: usize,
        /// The last error.
        #[source]
        source: kube::Error,
    },
}
