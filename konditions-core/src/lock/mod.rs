//! The advisory lock: run a task with external side effects (create a
//! bucket, write a row) at most once per intended transition of one
//! condition, with stale caches, several replicas and crashes.
//!
//! ```no_run
//! use std::time::Duration;
//! use konditions_core::{ConditionalResource, Status, Verdict};
//! use konditions_core::example::{Widget, WidgetLock::BucketCreated}; // a condition declared `(lock)`
//! use konditions_core::lock::{Lock, LockError, Outcome};
//! # async fn create_bucket(_name: &str, _token: i64, _key: &str) -> std::io::Result<()> { Ok(()) }
//!
//! /// One reconcile of a `Widget`: create its bucket once per generation.
//! async fn reconcile(api: kube::Api<Widget>, widget: &Widget) -> Result<Option<Duration>, LockError> {
//!     let outcome = Lock::new(api, widget, BucketCreated)
//!         .holder(konditions_core::lock::default_holder()) // POD_NAME in a cluster
//!         .lease(Duration::from_secs(60))
//!         .run(|ctx| async move {
//!             if ctx.takeover().is_some() {
//!                 // A previous holder may have died mid-task: the bucket may exist already.
//!             }
//!             ctx.check()?; // still ours? (renewed while the task runs)
//!             // The bucket store refuses a token lower than the highest it has seen,
//!             // and creates the bucket of one change once, whoever runs it.
//!             create_bucket("my-bucket", ctx.token().to_i64()?, ctx.idempotency_key().as_str()).await?;
//!             Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
//!                 Verdict::new(Status::True, "BucketCreated").message("my-bucket"),
//!             )
//!         })
//!         .await?;
//!     // Done, busy, backing off after a failure, stale: the outcome says when to look again.
//!     Ok(outcome.requeue_after())
//! }
//! ```
//!
//! # State machine of the condition
//!
//! ```text
//!   free ──acquire (CAS)──▶ Locked(holder, since, until) ──release (CAS)──▶ done: the task's verdict
//!    ▲                        │  ▲ renew (CAS) while the task runs      ╰──▶ failed: False, reason, "(attempt n, retry in Ns)"
//!    │                        │  ╰─ lease expired: another worker's acquire (CAS) = takeover
//!    ╰── new generation ──────┴──── failed ──backoff passed──▶ acquire
//! ```
//!
//! The locked condition has status `Unknown` (or the status set's own
//! `Locked` member, see [`locked_status`]), reason [`LOCKED_REASON`] and a
//! message `locked by <holder> (lock <id>, format 2) since <RFC 3339> until
//! <RFC 3339>`, with ` (renewed <RFC 3339>)` once renewed ([`LockInfo`];
//! [`FORMAT`] says how replicas of two releases read each other's). The id
//! is new for every acquisition. Everything
//! machine-readable is in the message: the CRD schema prunes extra fields.
//!
//! # Acquire: a compare-and-swap on one condition
//!
//! One JSON Patch on the status subresource. When the caller's copy has the
//! condition at index `i` of `status.conditions`, the patch is `test
//! /status/conditions/i` = the condition exactly as the caller saw it, then
//! `replace` it with the locked condition. Changes to other conditions or
//! fields do not touch that entry, so they never make the acquire fail.
//! The server refuses the patch (422, or 409) when the entry changed; the
//! outcome is then [`Outcome::Stale`] and the task does not run.
//!
//! Before writing anything, the lock reads the caller's copy and may decide
//! without a request:
//! * **Done**: the condition records a successful run for the object's
//!   current generation (not locked, no failure record, status `True` or
//!   `False`-like, `observedGeneration` equal to `metadata.generation`):
//!   [`Outcome::Done`]. A deletion raises the generation (the API server
//!   does so when it sets `deletionTimestamp`), so a cleanup task is done
//!   once per deletion too. [`Lock::rerun`] turns this off.
//! * **Backing off**: the last attempt for this generation failed and its
//!   backoff has not passed: [`Outcome::BackingOff`]. So a failing task runs
//!   on the backoff schedule ([`Backoff`]: 1 s, 2 s, 4 s ... 5 min), whatever
//!   watch events wake the reconciler up, including the ones its own status
//!   writes cause. A new generation is a new transition and runs at once.
//! * **Busy**: another holder's lock has not expired: [`Outcome::Busy`].
//!
//! Edge cases, decided:
//! * **Condition absent**: the locked condition is appended (`add
//!   /status/conditions/-`). There is nothing to `test`; what stops two
//!   workers from both inserting is the CRD schema: the `conditions` list is
//!   a map keyed by `type` (what [`Conditions`]'s `JsonSchema` declares), and
//!   the API server rejects a duplicate type (422 `FieldValueDuplicate`,
//!   checked against a real server by this crate's tests). A response with
//!   two entries of the type means the schema lacks this, and is reported as
//!   [`LockError::NotAMapList`].
//! * **No status, or no list yet**: `test /status` (or `/status/conditions`)
//!   is null, then `add` it. When another writer created the status or the
//!   list meanwhile, the acquire falls through to the next shape (create the
//!   list, then append) within the same call; it costs a refused request in
//!   that race. An empty list in the caller's view is tried as `[]` first
//!   (append), since a CRD generated by konditions defaults it to `[]` and
//!   the API server patches the defaulted object, then as absent.
//! * **Index shift**: the test is on an index. When an entry before ours was
//!   removed since the caller read the object, the test fails although our
//!   condition did not change: a rare false [`Outcome::Stale`]. The next
//!   reconcile, on a fresh copy, succeeds.
//! * **Representation**: the API server re-encodes the stored object with
//!   Go's JSON encoder (which escapes `<`, `>`, `&`, U+2028 and U+2029)
//!   and compares strings of a `test` byte for byte, so a message holding
//!   `<` would never compare equal and the lock would be Stale forever. The
//!   lock writes its patches with the same escaping.
//! * **The same holder**: a lock held by this lock's own holder that no task
//!   of this process runs under is taken back at once, without waiting for
//!   its lease (an acquire whose response was lost, or a process that
//!   restarted with the same name). It is a takeover unless this process
//!   knows it sent that lock itself and got no answer (then no task ran
//!   under it). Fencing still holds: the new acquisition has a greater token.
//!
//! # Expiry judged by the reader
//!
//! A reader takes a lock over at the earlier of two deadlines:
//! * the **written** one, `until`, but never later than the holder's last
//!   write (`since`, or `renewed`) plus the reader's own [`lease`](Lock::lease);
//! * the **observed** one: the lock seen unchanged, by this process, for
//!   the lease it declares (`until` minus its last write, at most the
//!   reader's lease). This is the one that holds when clocks disagree: a
//!   holder whose clock runs hours ahead writes an `until` hours away, but
//!   it cannot stop the lock from being observed unchanged. A live holder
//!   renews, which changes the lock and restarts the observation.
//!
//! A lock that claims more than the reader trusts (a hand-edited `until`
//! in 2099) is logged and treated as expiring at that bound. A lock whose
//! message does not parse (written by konditionner, say), typed or kept
//! raw, expires `lease` after its `lastTransitionTime`. The same rules bound
//! a failure record's backoff (`lastTransitionTime` plus the delay, or the
//! delay after it was first observed).
//!
//! # While the task runs: renewal
//!
//! Every [`renew_every`](Lock::renew_every) (a third of the lease by
//! default) the lock renews its lease with a CAS on its own entry, until
//! the task ends. When renewal fails (taken over, the object deleted, or
//! the API unreachable until the lease is gone) the task is told through
//! [`LockContext::lost`], [`LockContext::is_lost`] and
//! [`LockContext::check`], so it can stop before its side effect. A lease is
//! never shorter than asked: expiry times are rounded up to the second.
//!
//! # Fencing the external system
//!
//! Each acquisition has a [`FencingToken`] ([`LockContext::token`]): the
//! `resourceVersion` of the object as stored by the acquire, strictly
//! greater than every earlier acquisition's. A holder paused past its lease
//! (a long GC or VM pause) still holds its old token; when it resumes and
//! writes, an external system that keeps the greatest token it has seen
//! refuses the write. For a table with one row per object:
//!
//! ```sql
//! INSERT INTO buckets AS b (id, size, fencing_token) VALUES ($1, $2, $3)
//! ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, fencing_token = EXCLUDED.fencing_token
//!   WHERE b.fencing_token <= EXCLUDED.fencing_token;  -- a stale holder updates 0 rows
//! ```
//!
//! A release, a renewal, a takeover or a `kubectl edit` of the object only
//! raises the resourceVersion, so the order of tokens survives all of them.
//!
//! # Exactly once: the idempotency key
//!
//! The token orders holders; it cannot undo an effect. A holder that dies
//! between its side effect and its release leaves the lock to expire, and
//! the next holder runs the task again: an append-only sink (a ledger, a
//! queue, an email) would hold the effect twice. [`LockContext::idempotency_key`]
//! is the same for every holder that works on one change (the object's
//! uid, its generation, the condition) and new for the next change. A sink
//! that stores it once turns "at least once after a crash" into exactly once:
//!
//! ```sql
//! INSERT INTO ledger (idempotency_key, account, amount) VALUES ($1, $2, $3)
//! ON CONFLICT (idempotency_key) DO NOTHING;  -- a second run of the same change adds nothing
//! ```
//!
//! # Release: fenced, and on every path the process survives
//!
//! The release is a CAS too: `test` that the entry is still the locked
//! condition we wrote (as last stored), `replace` it with the result. A
//! holder whose lease expired and was taken over finds another holder's
//! lock there and gets [`Outcome::LostLease`]; it never overwrites the new
//! holder. The result:
//! * task `Ok(verdict)`: that status, reason and message: done for this
//!   generation;
//! * task `Err(e)`: `False`-like ([`ConditionStatus::FALSE`]), reason from
//!   [`Reason::reason`] (default [`TASK_FAILED_REASON`]), message = `e`'s
//!   text and the failure record ` (attempt n, retry in Ns)`;
//! * panic: `False`, [`TASK_PANICKED_REASON`], the panic message and the
//!   failure record; then the panic is **resumed**;
//! * a refused release (an entry before ours removed, or the server's
//!   internal conflict): re-read the status and retry on the new index,
//!   changing only our condition, up to [`Lock::release_attempts`] tries.
//!   Transport and server errors are retried the same way.
//! * the object deleted meanwhile: [`Outcome::Gone`].
//!
//! `observedGeneration` is the generation of the object the caller passed
//! (what the task worked from), `lastTransitionTime` follows the usual rules.
//!
//! # Stopping: hand the locks over
//!
//! A process that stops calls [`hand_over`]: the tasks are told their lease
//! is lost, and each lock is rewritten to expire now, so another replica
//! takes over at its next reconcile rather than at the end of the lease. A
//! `run` future that is dropped (cancelled) while its task runs hands its
//! lock over the same way. The next holder is told it is a takeover, and
//! runs the task again with the same
//! [idempotency key](LockContext::idempotency_key). A lock whose acquire
//! stored it but which cannot be held safely
//! ([`LockError::UnorderedResourceVersion`], [`LockError::NotAMapList`]) is
//! taken back at once.
//!
//! Not covered: a process that dies (a crash, SIGKILL, a lost node) leaves
//! the condition locked until the lease expires (or, for the same holder
//! name, until its next run).
//!
//! # Only conditions declared `(lock)`
//!
//! [`Lock::new`] takes a [`LockedType`]: the derive's lock enum
//! (`TransferLock::Posted` for a `Transfer` declaring `types(Posted(lock))`),
//! never the condition enum. `apply_status` leaves those types out; a type
//! it also sent would be written back from a stale copy over a lock another
//! worker holds, and the task would run twice. So that mistake does not
//! compile, and a hand-written closed set whose type is not
//! [`WrittenBy::Lock`] is refused before any request
//! ([`LockError::NotLockDeclared`]). Whatever the declaration, no apply
//! writes a condition that is locked in its copy
//! ([`ApplyError::Locked`](crate::ApplyError::Locked)).
//!
//! # Cost
//!
//! A task that runs costs two writes (acquire, release), one more per
//! renewal (one every `lease / 3` of task time), and no read. Deciding
//! Done, Busy and BackingOff costs no request. Workers locking different
//! conditions of one object never refuse each other, but their writes to
//! that one object meet inside the API server, which retries each against
//! the others' results: several locked conditions of one hot object cost
//! more per task than one condition per object. The writes of one process
//! to one object take turns (first come, first served, waiting at most a
//! second), so they land at their first try; writes from other processes
//! (replicas) still meet inside the server.

mod message;
// The owner of an object under sharing runs its steps here: only the
// reconcile runner (the `runtime` feature) does.
#[cfg(feature = "runtime")]
mod owned;
mod registry;
mod release;
mod renewal;
#[cfg(test)]
mod tests;
mod turns;
mod types;
mod wire;

use std::any::Any;
use std::fmt::{self, Debug};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use jiff::Timestamp;
use kube::Resource;
use kube::api::Api;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

use crate::{
    Clock, Condition, ConditionStatus, ConditionType, ConditionalResource, Conditions, LockedType,
    SystemClock, Verdict, WrittenBy,
};

pub use message::FORMAT;
pub(crate) use message::is_locked;
use message::{
    Failure, check_reason, failure_message, lock_id, lock_info, lock_message, parse_failure,
    raw_lock_info, truncate,
};
#[cfg(feature = "runtime")]
pub(crate) use owned::{Grant, Owned};
use registry::Key;
use release::PendingParts;
pub(crate) use release::{Pending, Ran};
pub use renewal::hand_over;
use renewal::{Holding, Renewal, Renewed};
pub(crate) use types::Lease;
#[cfg(feature = "runtime")]
pub(crate) use types::LostBecause;
pub use types::{
    BackingOff, Backoff, Busy, FencingToken, IdempotencyKey, LeaseLost, LockContext, LockError,
    LockInfo, Outcome, Reason, TaskError, TokenOutOfRange, Untyped,
};
use types::{add, ceil_to_second, until};
use wire::{
    LIST, Op, Seen, Shape, Writer, count, is_duplicate, is_gone, is_refusal, position, seen, wire,
};

/// The reason of a locked condition.
pub const LOCKED_REASON: &str = "Locked";
/// The default reason of a condition released after the task returned an error.
pub const TASK_FAILED_REASON: &str = "TaskFailed";
/// The reason of a condition released after the task panicked.
pub const TASK_PANICKED_REASON: &str = "TaskPanicked";
/// The reason of a condition released after the task returned a
/// [`Verdict`] the API server would reject (invalid or reserved reason).
pub const INVALID_RELEASE_REASON: &str = "InvalidRelease";
/// The lease of a lock unless [`Lock::lease`] says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5 * 60);
/// How many release writes are tried unless [`Lock::release_attempts`] says otherwise.
pub const DEFAULT_RELEASE_ATTEMPTS: usize = 5;

/// The status a locked condition gets in the status set `S`: its member
/// spelled `Locked` if it has one (e.g. [`KonditionnerStatus::Locked`](crate::KonditionnerStatus::Locked)),
/// else `Unknown` (the standard status: the outcome is not known while the
/// task runs), else `S::UNKNOWN`.
///
/// ```
/// use konditions_core::{KonditionnerStatus, Status, lock::locked_status};
/// assert_eq!(locked_status::<Status>(), Status::Unknown);
/// assert_eq!(locked_status::<KonditionnerStatus>(), KonditionnerStatus::Locked);
/// ```
pub fn locked_status<S: ConditionStatus>() -> S {
    S::parse("Locked")
        .or_else(|| S::parse("Unknown"))
        .unwrap_or(S::UNKNOWN)
}

/// A holder name unique per replica: `POD_NAME` when set (give it from the
/// Downward API in a Deployment), else the host name and the process id.
///
/// ```
/// let holder = konditions_core::lock::default_holder();
/// assert!(!holder.is_empty() && !holder.contains('\n'));
/// ```
pub fn default_holder() -> String {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(pod) = env("POD_NAME") {
        return pod.trim().to_owned();
    }
    let host = env("HOSTNAME")
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .filter(|h| !h.trim().is_empty())
        })
        .unwrap_or_else(|| "konditions".to_owned());
    format!("{}-{}", host.trim(), std::process::id())
}

/// A lock on one condition of one object. See the [module documentation](self).
#[must_use = "a lock does nothing until `run` is awaited"]
pub struct Lock<K: ConditionalResource> {
    api: Api<K>,
    name: Option<String>,
    uid: Option<String>,
    generation: Option<i64>,
    type_: K::Type,
    seen: Seen,
    previous: Option<Condition<K::Type, K::Status>>,
    /// `None` until `run`: [`default_holder`] reads the host name, which
    /// is wasted when the caller names the holder.
    holder: Option<String>,
    lease: Duration,
    renew_every: Option<Duration>,
    backoff: Backoff,
    rerun: bool,
    clock: Arc<dyn Clock>,
    release_attempts: usize,
}

impl<K> Lock<K>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// A lock on `condition` of `object`, as the caller sees it: `object`
    /// is the copy (possibly stale) the reconciler works from, and `api`
    /// reaches it (namespaced or cluster-scoped).
    ///
    /// `condition` is a type declared `(lock)`: the derive's lock enum
    /// (`<Kind>Lock::Posted`), never the condition enum, so a condition
    /// that `apply_status` writes cannot be locked (see [`LockedType`]).
    pub fn new(api: Api<K>, object: &K, condition: impl LockedType<Type = K::Type>) -> Self {
        let condition_type = condition.condition_type();
        let conditions = ConditionalResource::conditions(object);
        let previous = conditions.and_then(|c| c.find(&condition_type)).cloned();
        let seen = seen(conditions, &condition_type);
        Self {
            api,
            name: object.meta().name.clone(),
            uid: object.meta().uid.clone(),
            generation: ConditionalResource::generation(object),
            type_: condition_type,
            seen,
            previous,
            holder: None,
            lease: DEFAULT_LEASE,
            renew_every: None,
            backoff: Backoff::default(),
            rerun: false,
            clock: Arc::new(SystemClock),
            release_attempts: DEFAULT_RELEASE_ATTEMPTS,
        }
    }

    /// Who holds the lock, written in the condition's message: unique per
    /// replica, e.g. the pod name. Default: [`default_holder`].
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = Some(holder.into());
        self
    }

    /// How long the lock is held without renewal before another worker may
    /// take it over (rounded up to whole seconds, at least one). Also the
    /// longest lease this reader trusts another holder's lock for. Default
    /// [`DEFAULT_LEASE`].
    pub fn lease(mut self, lease: Duration) -> Self {
        let secs = lease.as_secs() + u64::from(lease.subsec_nanos() > 0);
        self.lease = Duration::from_secs(secs.max(1));
        self
    }

    /// How often the lease is renewed while the task runs. Default: a third
    /// of the lease. `Duration::MAX` (or anything not shorter than the
    /// lease) turns renewal off.
    pub fn renew_every(mut self, every: Duration) -> Self {
        self.renew_every = Some(every);
        self
    }

    /// The backoff of a task that failed before it runs again for the same
    /// generation. Default [`Backoff::default`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Runs the task even when the condition records it as done for this
    /// generation (see [`Outcome::Done`]).
    pub fn rerun(mut self) -> Self {
        self.rerun = true;
        self
    }

    /// The clock for lock times, expiry and `lastTransitionTime` (tests).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How many release writes are tried before giving up (at least one).
    /// Default [`DEFAULT_RELEASE_ATTEMPTS`].
    pub fn release_attempts(mut self, attempts: usize) -> Self {
        self.release_attempts = attempts.max(1);
        self
    }

    /// Acquires the lock, runs `task` with a [`LockContext`] while renewing
    /// the lease, releases with its result. See the [module documentation](self)
    /// for every path.
    ///
    /// # Panics
    /// Resumes the task's panic after releasing the condition as
    /// [`TASK_PANICKED_REASON`].
    pub async fn run<F, Fut, E>(self, task: F) -> Result<Outcome<K, E>, LockError>
    where
        F: FnOnce(LockContext<K>) -> Fut,
        Fut: Future<Output = Result<Verdict<'static, K::Status>, E>>,
        E: Reason,
    {
        match self.run_unreleased(task).await? {
            Ran::Finished(outcome) => Ok(outcome),
            Ran::Unreleased {
                pending,
                error,
                retry_after,
            } => pending.release(error, retry_after).await,
        }
    }

    /// [`run`](Self::run), except that a task that returned leaves the
    /// lock held for the caller to release ([`Pending`]): alone, or with
    /// the caller's next write to the object.
    pub(crate) async fn run_unreleased<F, Fut, E>(mut self, task: F) -> Result<Ran<K, E>, LockError>
    where
        F: FnOnce(LockContext<K>) -> Fut,
        Fut: Future<Output = Result<Verdict<'static, K::Status>, E>>,
        E: Reason,
    {
        let name = self.name.clone().ok_or(LockError::MissingName)?;
        // A closed set declares who writes each type; a hand-written one
        // may not say the lock writes this one, and then the apply would too.
        if !K::Type::declared().is_empty() && self.type_.written_by() != WrittenBy::Lock {
            return Err(LockError::NotLockDeclared(self.type_.as_str().to_owned()));
        }
        self.holder.get_or_insert_with(default_holder);
        let holder = self.holder_name();
        if holder.is_empty() || holder.chars().count() > 253 || holder.contains(['\n', '\r']) {
            return Err(LockError::InvalidHolder(holder.to_owned()));
        }
        if renewal::stopping() {
            return Err(LockError::ShuttingDown);
        }
        let object = format!("{}/{name}", self.api.resource_url());
        let condition = self.type_.as_str().to_owned();
        let key = Key::new(object.clone(), self.uid.clone(), &condition);
        let now = self.clock.now();
        let takeover = match self.plan(&key, now) {
            Plan::Acquire { takeover } => takeover,
            Plan::Done(c) => return Ok(Ran::Finished(Outcome::Done(c))),
            Plan::Busy(busy) => return Ok(Ran::Finished(Outcome::Busy(busy))),
            Plan::BackingOff(wait) => return Ok(Ran::Finished(Outcome::BackingOff(wait))),
            Plan::Stale => return Ok(Ran::Finished(Outcome::Stale)),
        };
        // Reserved before the acquire, so a second run in this process sees
        // the lock as busy rather than as its own to take back.
        let Some(running) = registry::run(&key, self.holder_name()) else {
            return Ok(Ran::Finished(Outcome::Stale));
        };
        let writer = Writer {
            api: self.api.clone(),
            name,
            object: format!("{object} {}", self.uid.as_deref().unwrap_or_default()),
        };
        let span = tracing::debug_span!("acquire", %object, %condition, %holder);
        let held = match self
            .acquire(&writer, &key, takeover, now)
            .instrument(span)
            .await?
        {
            Acquired::Held(held) => held,
            Acquired::Stale => return Ok(Ran::Finished(Outcome::Stale)),
            Acquired::Gone => {
                return Ok(Ran::Finished(Outcome::Gone {
                    ran: false,
                    error: None,
                }));
            }
        };
        registry::forget(&key);
        let holding = Holding::new();

        let (lease_tx, lease_rx) = watch::channel(Lease {
            expires_at: held.until,
            valid_until: held.held_until,
            lost: None,
        });
        let context = LockContext {
            previous: self.previous.clone(),
            takeover: held.takeover.clone(),
            holder: self.holder_name().to_owned(),
            acquired_at: held.since,
            token: held.token,
            key: self.idempotency_key(&object, &condition),
            lease: lease_rx,
        };
        let (stop, stopped) = oneshot::channel();
        let renewal = tokio::spawn(
            Renewal {
                writer: writer.clone(),
                holder: self.holder_name().to_owned(),
                id: held.id.clone(),
                since: held.since,
                lease: self.lease,
                every: self.renew_every.unwrap_or(self.lease / 3),
                clock: self.clock.clone(),
                index: held.index,
                fence: held.fence.clone(),
                held_until: held.held_until,
                holding: holding.clone(),
            }
            .run(lease_tx, stopped)
            .instrument(tracing::debug_span!("renew", %object, %condition, %holder)),
        );
        // `task(context)` itself may panic before returning its future.
        let result = AssertUnwindSafe(async move { task(context).await })
            .catch_unwind()
            .await;
        let _ = stop.send(());
        let renewed = match renewal.await {
            Ok(renewed) => renewed,
            // The renewal never panics; if it did, the acquire's fence is
            // still a safe base: a stale fence makes the release re-read.
            Err(_) => Renewed {
                index: held.index,
                fence: held.fence.clone(),
                handed_over: false,
            },
        };
        let Settled {
            verdict,
            error,
            retry_after,
            panic,
        } = self.settle(result);
        if renewed.handed_over && retry_after.is_some() {
            // Failed (or panicked) after the hand-over: the next holder runs
            // the task at once, without this failure's backoff.
            drop(holding);
            if let Some(payload) = panic {
                std::panic::resume_unwind(payload);
            }
            return Ok(Ran::Finished(Outcome::LostLease {
                current: parsed::<K>(&renewed.fence),
                error,
            }));
        }
        let pending = Box::new(Pending::new(PendingParts {
            writer,
            clock: self.clock.clone(),
            generation: self.generation,
            type_: self.type_.clone(),
            release_attempts: self.release_attempts,
            key,
            holder: self.holder_name().to_owned(),
            running,
            held: *held,
            renewed,
            verdict,
            holding,
        })?);
        if let Some(payload) = panic {
            let _ = pending.release(error, retry_after).await;
            std::panic::resume_unwind(payload);
        }
        Ok(Ran::Unreleased {
            pending,
            error,
            retry_after,
        })
    }

    /// The key of the change the task makes: the object's UID (its URL
    /// when it has none), the generation, the condition.
    fn idempotency_key(&self, object: &str, condition: &str) -> IdempotencyKey {
        IdempotencyKey::new(
            self.uid.as_deref().unwrap_or(object),
            self.generation.unwrap_or_default(),
            condition,
        )
    }

    /// The holder (given, or the default once `run` started).
    fn holder_name(&self) -> &str {
        self.holder.as_deref().unwrap_or_default()
    }

    /// What the caller's copy says to do, without any request.
    fn plan(&self, key: &Key, now: Timestamp) -> Plan<K> {
        let entry = match &self.seen {
            Seen::Entry { value, .. } => Some(value),
            _ => None,
        };
        // A lock can also sit in an entry that could not be typed (one
        // written by konditionner has no message): it blocks all the same.
        let held = match (&self.previous, entry) {
            (Some(c), _) => lock_info(c, self.lease),
            (None, Some(value)) => raw_lock_info(value, self.lease),
            (None, None) => None,
        };
        if let (Some(info), Some(entry)) = (held, entry) {
            if info.holder.as_deref() == Some(self.holder_name())
                && info
                    .id
                    .as_deref()
                    .is_some_and(|id| registry::was_released(key, self.holder_name(), id))
            {
                // A copy older than our own release: the newer one comes.
                tracing::debug!("a lock this holder released: the copy is stale");
                return Plan::Stale;
            }
            if info.holder.as_deref() == Some(self.holder_name())
                && !registry::is_running(key, self.holder_name())
            {
                // Our own lock, and no task of ours runs under it.
                let sent_by_us = registry::was_unanswered(key, self.holder_name(), entry);
                tracing::debug!(sent_by_us, "taking back a lock of this holder");
                return Plan::Acquire {
                    takeover: (!sent_by_us).then_some(info),
                };
            }
            let deadline = self.expiry(key, entry, &info, now);
            if now < deadline {
                tracing::debug!(holder = ?info.holder, %deadline, "busy");
                return Plan::Busy(Busy {
                    retry_after: until(now, deadline),
                    lock: info,
                });
            }
            return Plan::Acquire {
                takeover: Some(info),
            };
        }
        let Some(c) = self
            .previous
            .as_ref()
            .filter(|c| self.generation.is_some() && c.observed_generation == self.generation)
        else {
            return Plan::Acquire { takeover: None };
        };
        if let Some(failure) = parse_failure(&c.message).filter(|_| c.status.truth() == Some(false))
        {
            let delay = failure.retry_in.min(self.backoff.delay(failure.attempt));
            let written = add(c.last_transition_time.0, delay);
            let observed = entry.map_or(written, |e| add(registry::first_seen(key, e, now), delay));
            let at = written.min(observed);
            if now < at {
                tracing::debug!(attempt = failure.attempt, retry_at = %at, "backing off");
                return Plan::BackingOff(BackingOff {
                    attempt: failure.attempt,
                    retry_after: until(now, at),
                });
            }
            return Plan::Acquire { takeover: None };
        }
        if !self.rerun && c.status.truth().is_some() {
            tracing::debug!(generation = ?self.generation, "already done for this generation");
            return Plan::Done(c.clone());
        }
        Plan::Acquire { takeover: None }
    }

    /// When this reader considers `info` (stored as `entry`) expired.
    fn expiry(&self, key: &Key, entry: &Value, info: &LockInfo, now: Timestamp) -> Timestamp {
        let (written, declared) = match info.stamp() {
            Some(stamp) => (
                info.expires_at.min(add(stamp, self.lease)),
                until(stamp, info.expires_at).min(self.lease),
            ),
            // Not our format: `expires_at` is already lastTransitionTime + lease.
            None => (info.expires_at, self.lease),
        };
        let observed = add(registry::first_seen(key, entry, now), declared);
        let deadline = written.min(observed);
        if info.expires_at > add(deadline, Duration::from_secs(1)) {
            tracing::warn!(
                holder = ?info.holder,
                claimed = %info.expires_at,
                trusted = %deadline,
                "a lock claims a longer lease than this reader trusts; it expires at the trusted time"
            );
        }
        deadline
    }

    async fn acquire(
        &self,
        writer: &Writer<K>,
        key: &Key,
        takeover: Option<LockInfo>,
        now: Timestamp,
    ) -> Result<Acquired<K>, LockError> {
        let started = tokio::time::Instant::now();
        let since = ceil_to_second(now);
        let until = ceil_to_second(add(now, self.lease));
        let id = lock_id();
        let message = lock_message(self.holder_name(), &id, since, until, None);
        // The locked condition as `set` makes it from the caller's: same
        // transition rules as any other write.
        let mut base: Conditions<K::Type, K::Status> = self.previous.iter().cloned().collect();
        base.set_with(
            &*self.clock,
            self.generation,
            &self.type_,
            Verdict::new(locked_status::<K::Status>(), LOCKED_REASON).message(&message),
        )?;
        let locked = serde_json::to_value(base.find(&self.type_))?;
        let held = |object: &K| {
            let (index, fence, token) = self.stored(object, &locked)?;
            tracing::debug!(index, %token, takeover = takeover.is_some(), "acquired");
            Ok(Acquired::Held(Box::new(Held {
                object: object.clone(),
                index,
                fence,
                token,
                id: id.clone(),
                takeover: takeover.clone(),
                since,
                until,
                held_until: started + self.lease,
            })))
        };
        let shapes = match &self.seen {
            Seen::Unserializable(e) => {
                return Err(LockError::Serialize(serde::de::Error::custom(e)));
            }
            Seen::Entry { index, value } => {
                let path = format!("{LIST}/{index}");
                return match writer.patch(&Op::swap(&path, value, &locked)).await {
                    Ok(object) => self.kept(writer, &object, &locked, held(&object)).await,
                    Err(e) => self.refused(key, &locked, e),
                };
            }
            Seen::Absent(shapes) => *shapes,
        };
        for (i, shape) in shapes.iter().enumerate() {
            let ops = match shape {
                Shape::CreateStatus => json!([
                    {"op": "test", "path": "/status", "value": null},
                    {"op": "add", "path": "/status", "value": {"conditions": [&locked]}},
                ]),
                Shape::CreateList => json!([
                    {"op": "test", "path": LIST, "value": null},
                    {"op": "add", "path": LIST, "value": [&locked]},
                ]),
                Shape::Append => {
                    json!([{"op": "add", "path": format!("{LIST}/-"), "value": &locked}])
                }
            };
            match writer.patch(&ops).await {
                Ok(object) => return self.kept(writer, &object, &locked, held(&object)).await,
                // The structure differs from the view: try the next shape.
                Err(e) if is_refusal(&e) && i + 1 < shapes.len() && !is_duplicate(&e) => {
                    tracing::debug!(error = %e, ?shape, "insert refused");
                }
                // A duplicate type: someone else inserted the condition.
                Err(e) => return self.refused(key, &locked, e),
            }
        }
        Ok(Acquired::Stale)
    }

    /// The acquire's result; when the lock was stored but cannot be held
    /// safely (no fencing token, or no map-list), takes the write back at
    /// once: the entry as the caller saw it, or none.
    async fn kept(
        &self,
        writer: &Writer<K>,
        object: &K,
        locked: &Value,
        held: Result<Acquired<K>, LockError>,
    ) -> Result<Acquired<K>, LockError> {
        let Err(error @ (LockError::UnorderedResourceVersion(_) | LockError::NotAMapList)) = held
        else {
            return held;
        };
        let entries = wire(ConditionalResource::conditions(object)).unwrap_or_default();
        let Some(index) = entries.iter().position(|e| e == locked) else {
            return Err(error);
        };
        let path = format!("{LIST}/{index}");
        // The entry as the caller saw it comes back by the same swap the
        // release uses; an inserted one is removed.
        let taken_back = match &self.seen {
            Seen::Entry { value, .. } => writer.patch(&Op::swap(&path, locked, value)).await,
            _ => {
                let ops = json!([
                    {"op": "test", "path": &path, "value": locked},
                    {"op": "remove", "path": &path},
                ]);
                writer.patch(&ops).await
            }
        };
        match taken_back {
            Ok(_) => tracing::info!(%error, "lock taken back: it cannot be held safely"),
            Err(e) => {
                tracing::warn!(%error, write = %e, "could not take the lock back: it expires with its lease");
            }
        }
        Err(error)
    }

    /// What a failed acquire write means.
    fn refused(
        &self,
        key: &Key,
        locked: &Value,
        error: kube::Error,
    ) -> Result<Acquired<K>, LockError> {
        if is_refusal(&error) {
            tracing::debug!(%error, "stale view: not acquired");
            return Ok(Acquired::Stale);
        }
        if is_gone(&error) {
            return Ok(Acquired::Gone);
        }
        // The server may have stored the lock: if this holder finds it
        // later, it knows no task ran under it.
        registry::unanswered(key, self.holder_name(), locked);
        Err(LockError::Acquire(error))
    }

    /// The lock as stored, from the acquire response: its index, the
    /// entry the release will test, and the fencing token.
    fn stored(
        &self,
        object: &K,
        locked: &Value,
    ) -> Result<(usize, Value, FencingToken), LockError> {
        let rv = object.meta().resource_version.clone().unwrap_or_default();
        let token = FencingToken::from_resource_version(&rv)
            .ok_or(LockError::UnorderedResourceVersion(rv))?;
        let entries = wire(ConditionalResource::conditions(object))?;
        if count(&entries, self.type_.as_str()) > 1 {
            return Err(LockError::NotAMapList);
        }
        // What the server stored (normally exactly `locked`) is what the release tests.
        let (index, fence) = position(&entries, self.type_.as_str())
            .map(|i| (i, entries[i].clone()))
            .unwrap_or_else(|| (0, locked.clone()));
        Ok((index, fence, token))
    }

    /// The verdict the task's result asks for, its error, its backoff and
    /// a panic to resume.
    fn settle<E: Reason>(&self, result: TaskResult<K::Status, E>) -> Settled<K::Status, E> {
        // The attempt count goes on while the generation stays the same.
        let attempt = self
            .previous
            .as_ref()
            .filter(|c| c.observed_generation == self.generation)
            .and_then(|c| parse_failure(&c.message))
            .map_or(1, |f| f.attempt.saturating_add(1));
        let retry_in = self.backoff.delay(attempt);
        let failed = |reason: &str, text: &str| {
            let message = failure_message(text, Failure { attempt, retry_in });
            Verdict::new(K::Status::FALSE, reason.to_owned()).message(message)
        };
        let (verdict, error, panic) = match result {
            Ok(Ok(verdict)) => match check_reason(&verdict.reason) {
                Ok(()) => {
                    let message = truncate(&verdict.message, crate::validation::MAX_MESSAGE_LEN);
                    let message = message.to_owned();
                    return Settled {
                        verdict: verdict.message(message),
                        error: None,
                        retry_after: None,
                        panic: None,
                    };
                }
                Err(e) => (
                    failed(INVALID_RELEASE_REASON, &e.to_string()),
                    Some(TaskError::InvalidRelease(e)),
                    None,
                ),
            },
            Ok(Err(error)) => {
                let reason = match error.reason() {
                    r if check_reason(r).is_ok() => r.to_owned(),
                    _ => TASK_FAILED_REASON.to_owned(),
                };
                let verdict = failed(&reason, &error.to_string());
                (verdict, Some(TaskError::Failed(error)), None)
            }
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the task panicked".to_owned());
                (failed(TASK_PANICKED_REASON, &text), None, Some(payload))
            }
        };
        Settled {
            verdict,
            error,
            retry_after: Some(retry_in),
            panic,
        }
    }
}

impl<K: ConditionalResource> Debug for Lock<K>
where
    K::Type: Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("name", &self.name)
            .field("condition", &self.type_)
            .field("holder", &self.holder)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// What the caller's copy says to do.
enum Plan<K: ConditionalResource> {
    Acquire { takeover: Option<LockInfo> },
    Stale,
    Done(Condition<K::Type, K::Status>),
    Busy(Busy),
    BackingOff(BackingOff),
}

enum Acquired<K> {
    Held(Box<Held<K>>),
    Stale,
    Gone,
}

/// A lock this run holds.
struct Held<K> {
    /// The object as the acquire stored it.
    object: K,
    /// Where our lock is and its stored JSON.
    index: usize,
    fence: Value,
    token: FencingToken,
    /// The lock's id (see the message format).
    id: String,
    takeover: Option<LockInfo>,
    since: Timestamp,
    until: Timestamp,
    /// When the lease ends by this process's monotonic clock.
    held_until: tokio::time::Instant,
}

/// What running the task produced: its result, or the panic's payload.
type TaskResult<S, E> = Result<Result<Verdict<'static, S>, E>, Box<dyn Any + Send>>;

struct Settled<S, E> {
    verdict: Verdict<'static, S>,
    error: Option<TaskError<E>>,
    retry_after: Option<Duration>,
    panic: Option<Box<dyn Any + Send>>,
}

/// The typed condition in a stored entry.
fn parsed<K: ConditionalResource>(entry: &Value) -> Option<Condition<K::Type, K::Status>> {
    serde_json::from_value(entry.clone()).ok()
}

/// A JSON Patch of `name`'s status as `manager`, encoded as the lock's own
/// writes are: the runner's status write when a [shard](crate::shard)
/// member owns the object (the lock's conditions go with the status).
#[cfg(feature = "runtime")]
pub(crate) async fn patch_status<K>(
    api: &Api<K>,
    name: &str,
    ops: &[Value],
    manager: &str,
) -> Result<K, kube::Error>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug,
{
    let writer = Writer {
        api: api.clone(),
        name: name.to_owned(),
        object: format!("{}/{name}", api.resource_url()),
    };
    writer.patch_as(&ops, Some(manager)).await
}

/// Whether the API server refused a write because the object is not as
/// the write expected (a failed `test`, a conflict) or because it would
/// replace a condition of a newer generation (the schema's generation
/// guard): a stale copy.
#[cfg(feature = "runtime")]
pub(crate) fn is_stale_write(error: &kube::Error) -> bool {
    is_refusal(error) || crate::apply::is_older_generation(error)
}
