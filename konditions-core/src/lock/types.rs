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
#[non_exhaustive]
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
    /// The version of the message's format: 1 for a message without a
    /// version (the first release's), else the number it carries; `None`
    /// when the message does not follow the lock's format. See
    /// [`FORMAT`](super::FORMAT).
    pub format: Option<u32>,
}

impl LockInfo {
    /// The last time the holder wrote the lock (renewal or acquisition).
    pub(super) fn stamp(&self) -> Option<Timestamp> {
        self.renewed.or(self.since)
    }
}

/// The key of one intended change: the same for every acquisition that
/// works on it (a retry after a failure, a takeover after a crash), and a
/// new one for the next change. Give it to the external system with the
/// side effect: a system that stores it once (a unique column with `ON
/// CONFLICT DO NOTHING`, a file created only if absent) applies the change
/// exactly once, even when a holder died between its side effect and its
/// release and the next holder runs the task again.
///
/// An intended change is a generation of the object (a spec change, or its
/// deletion, which raises the generation too) for one condition of it:
/// the key is `<uid>:<generation>:<condition type>`. The uid tells apart
/// two objects that had the same name at different times. [`Lock::rerun`](super::Lock::rerun)
/// runs the task again for the same generation, with the same key.
///
/// ```
/// use konditions_core::lock::IdempotencyKey;
/// let key = IdempotencyKey::new("6e1b6f0e-9f3c-4f55-b2d1-0c6b1c0f9a11", 3, "Posted");
/// assert_eq!(key.as_str(), "6e1b6f0e-9f3c-4f55-b2d1-0c6b1c0f9a11:3:Posted");
/// assert_eq!(key.generation(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey {
    key: String,
    generation: i64,
}

impl IdempotencyKey {
    /// The key of `condition` of the object with `uid` at `generation`.
    pub fn new(uid: &str, generation: i64, condition: &str) -> Self {
        Self {
            key: format!("{uid}:{generation}:{condition}"),
            generation,
        }
    }

    /// The key as text: `<uid>:<generation>:<condition type>`.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The generation of the change.
    pub fn generation(&self) -> i64 {
        self.generation
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// A condition of an open set (`Conditions<String>`, which declares no
/// type `(lock)`) to lock by name. Nothing checks that the apply leaves it
/// alone: never send this type with [`apply_status`](crate::apply_status)
/// (which sends every condition of an open set) or
/// [`apply_conditions`](crate::apply_conditions). Prefer a derived enum
/// and `(lock)`, which the compiler checks.
///
/// ```
/// use konditions_core::{LockedType, lock::Untyped};
/// assert_eq!(Untyped::new("Provisioned").condition_type(), "Provisioned");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Untyped(pub String);

impl Untyped {
    /// The condition type named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
}

impl crate::LockedType for Untyped {
    type Type = String;

    fn condition_type(&self) -> String {
        self.0.clone()
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
/// Its width follows KEP-5504, which bounds a comparable resourceVersion
/// by 2^128 − 1. etcd's revisions are signed 64-bit integers, so on an
/// etcd-backed server every token fits a `BIGINT` ([`to_i64`](Self::to_i64));
/// a system that stores tokens of any server uses `NUMERIC(39)` and the
/// decimal text ([`Display`](fmt::Display)).
///
/// ```
/// use konditions_core::lock::FencingToken;
/// let older = FencingToken::new(1041);
/// let newer = FencingToken::new(1187);
/// assert!(older < newer);
/// assert_eq!(newer.to_string(), "1187");
/// assert_eq!(newer.to_i64(), Ok(1187));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(u128);

impl FencingToken {
    /// A token with this value (tests, and systems that store tokens).
    pub const fn new(value: u128) -> Self {
        Self(value)
    }

    /// The token's value.
    pub const fn get(self) -> u128 {
        self.0
    }

    /// The value as a signed 64-bit integer, for a `BIGINT` column. Every
    /// etcd revision fits; a greater token is refused rather than cut,
    /// since two tokens cut to the same value would no longer be ordered.
    /// It converts into `std::io::Error`, `String` and boxed errors, so
    /// `ctx.token().to_i64()?` works in a task.
    pub fn to_i64(self) -> Result<i64, TokenOutOfRange> {
        i64::try_from(self.0).map_err(|_| TokenOutOfRange(self))
    }

    /// Parses a resourceVersion: a decimal integer without sign or leading
    /// zeros, at most 2^128 − 1.
    pub(crate) fn from_resource_version(rv: &str) -> Option<Self> {
        let digits = !rv.is_empty() && rv.bytes().all(|b| b.is_ascii_digit());
        (digits && !rv.starts_with('0'))
            .then(|| rv.parse().ok().map(Self))
            .flatten()
    }
}

/// A fencing token too great for a signed 64-bit integer
/// ([`FencingToken::to_i64`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the fencing token {0} does not fit in a signed 64-bit integer; store it in a wider column (NUMERIC(39) holds every token)"
)]
pub struct TokenOutOfRange(pub FencingToken);

/// So `ctx.token().to_i64()?` works in a task returning `std::io::Error`.
impl From<TokenOutOfRange> for std::io::Error {
    fn from(error: TokenOutOfRange) -> Self {
        std::io::Error::other(error)
    }
}

/// So `ctx.token().to_i64()?` works in a task returning `String`.
impl From<TokenOutOfRange> for String {
    fn from(error: TokenOutOfRange) -> Self {
        error.to_string()
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

/// `at` rounded up to the next whole second (the wire has seconds, and a
/// lease must never come out shorter than asked).
pub(super) fn ceil_to_second(at: Timestamp) -> Timestamp {
    let down = crate::condition::truncate_to_second(at);
    if down == at {
        return at;
    }
    Timestamp::from_second(down.as_second().saturating_add(1)).unwrap_or(down)
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

/// `TokenOutOfRange`, so a task's error enum that wraps it can pass its
/// reason on.
///
/// ```
/// use konditions_core::lock::{FencingToken, Reason};
/// let error = FencingToken::new(u128::MAX).to_i64().unwrap_err();
/// assert_eq!(error.reason(), "TokenOutOfRange");
/// ```
impl Reason for TokenOutOfRange {
    fn reason(&self) -> &str {
        "TokenOutOfRange"
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

/// So `ctx.check()?` works in a task returning `std::io::Error`.
impl From<LeaseLost> for std::io::Error {
    fn from(lost: LeaseLost) -> Self {
        std::io::Error::other(lost)
    }
}

/// So `ctx.check()?` works in a task returning `String`.
impl From<LeaseLost> for String {
    fn from(lost: LeaseLost) -> Self {
        lost.to_string()
    }
}

/// Why a lease was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LostBecause {
    /// The locked condition changed: taken over or edited.
    Changed,
    /// The object was deleted.
    Gone,
    /// Renewals failed until the lease ran out.
    Unrenewed,
    /// This process is stopping and handed the lock over
    /// ([`hand_over`](super::hand_over)).
    HandedOver,
    /// This replica's membership of its group lapsed
    /// ([`shard`](crate::shard)): another member may own the object now.
    #[cfg(feature = "runtime")]
    Lapsed,
    /// The lease's end passed before a renewal moved it, by this process's
    /// monotonic clock: the process was paused or starved, and the renewal
    /// has not even run yet to find out.
    Expired,
}

impl fmt::Display for LostBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Changed => "the condition is no longer this holder's lock",
            Self::Gone => "the object was deleted",
            Self::Unrenewed => "it could not be renewed before it expired",
            Self::HandedOver => "this process is stopping and handed the lock over",
            #[cfg(feature = "runtime")]
            Self::Lapsed => "this replica's membership of its group lapsed",
            Self::Expired => {
                "its end passed before it was renewed (the process was paused or starved)"
            }
        })
    }
}

/// The lease as the renewal sees it, shared with the task.
#[derive(Clone, Debug)]
pub(crate) struct Lease {
    pub(crate) expires_at: Timestamp,
    /// When the lease ends by this process's monotonic clock, which keeps
    /// counting while the process is paused (SIGSTOP, a frozen VM).
    pub(crate) valid_until: tokio::time::Instant,
    pub(crate) lost: Option<LostBecause>,
}

impl Lease {
    /// Why the lease is not this holder's any more, if it is not: lost, or
    /// past its end without a renewal.
    fn lost(&self) -> Option<LostBecause> {
        self.lost.or_else(|| {
            (tokio::time::Instant::now() >= self.valid_until).then_some(LostBecause::Expired)
        })
    }
}

/// What the task is told when it runs.
#[derive(Clone, Debug)]
pub struct LockContext<K: ConditionalResource> {
    pub(super) previous: Option<Condition<K::Type, K::Status>>,
    pub(super) takeover: Option<LockInfo>,
    pub(super) holder: String,
    pub(super) acquired_at: Timestamp,
    pub(super) token: FencingToken,
    pub(super) key: IdempotencyKey,
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

    /// The key of the change this task makes, the same for every holder
    /// that runs it: give it to the external system to make the side
    /// effect exactly-once across crashes (see [`IdempotencyKey`]).
    pub fn idempotency_key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// When the lease expires unless renewed again (it is renewed while the
    /// task runs).
    pub fn expires_at(&self) -> Timestamp {
        self.lease.borrow().expires_at
    }

    /// Whether the lease was lost, or its end passed without a renewal:
    /// another worker may run the task now.
    pub fn is_lost(&self) -> bool {
        self.check().is_err()
    }

    /// `Err` once the lease was lost, or once its end passed by this
    /// process's monotonic clock without a renewal (a process paused past
    /// its lease learns it here, before its renewal runs). Call it right
    /// before the side effect (the fencing token still guards the external
    /// system against a loss in between).
    pub fn check(&self) -> Result<(), LeaseLost> {
        match self.lease.borrow().lost() {
            Some(because) => Err(LeaseLost(because)),
            None => Ok(()),
        }
    }

    /// Completes when the lease is lost, or its end passes without a
    /// renewal (never, while renewals succeed).
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
                let (lost, valid_until) = {
                    let now = lease.borrow_and_update();
                    (now.lost(), now.valid_until)
                };
                if let Some(because) = lost {
                    return LeaseLost(because);
                }
                tokio::select! {
                    changed = lease.changed() => if changed.is_err() {
                        // The renewal ended without losing the lease: the
                        // task is over, nothing will be lost any more.
                        std::future::pending::<()>().await;
                    },
                    // Its end passed with no renewal: lost, as `check` says.
                    () = tokio::time::sleep_until(valid_until) => {}
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
    /// The condition type is one of a closed set (a hand-written
    /// `ConditionType`) that does not say the lock writes it
    /// ([`WrittenBy::Lock`](crate::WrittenBy)): `apply_status` would send
    /// it too and undo the lock. Nothing was written.
    #[error(
        "the condition `{0}` is not declared as written by the lock, so `apply_status` would write it back from stale copies and undo the lock: declare it `(lock)` (`types({0}(lock))` in the derive, or `written_by` returning `WrittenBy::Lock`)"
    )]
    NotLockDeclared(String),
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
    /// lock takes its write back at once (the condition as it was; if that
    /// write fails too, the lock expires with its lease).
    #[error(
        "status.conditions holds the type twice: the CRD must declare it `x-kubernetes-list-type: map` keyed by `type`"
    )]
    NotAMapList,
    /// The server's resourceVersion is not a decimal integer, so it cannot
    /// be a fencing token (Kubernetes before 1.35 did not promise it; an
    /// aggregated API server may not), or is above 2^128 − 1, the bound
    /// Kubernetes sets. The lock was stored but the task did not run; it is
    /// taken back at once, as after [`NotAMapList`](Self::NotAMapList).
    #[error(
        "the object's resourceVersion `{0}` is not a comparable integer, so it cannot serve as a fencing token (Kubernetes 1.35 or later guarantees it)"
    )]
    UnorderedResourceVersion(String),
    /// This process called [`hand_over`](super::hand_over): it is stopping
    /// and takes no new lock. Nothing was written.
    #[error("this process is shutting down and takes no new lock")]
    ShuttingDown,
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
