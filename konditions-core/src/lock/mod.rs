//! The advisory lock: run a task with external side effects (create a
//! bucket, write a row) at most once per intended transition of one
//! condition, with stale caches, several replicas and crashes.
//!
//! ```no_run
//! # use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
//! # use konditions_core::{ConditionalResource, ConditionalStatus, Conditions, Status};
//! # #[derive(Default, Clone, Debug, serde::Deserialize)] struct BucketStatus { conditions: Conditions }
//! # impl ConditionalStatus for BucketStatus {
//! #     type Type = String; type Status = Status;
//! #     fn conditions(&self) -> &Conditions { &self.conditions }
//! #     fn conditions_mut(&mut self) -> &mut Conditions { &mut self.conditions }
//! # }
//! # #[derive(Clone, Debug, serde::Deserialize)] struct Bucket { metadata: ObjectMeta, status: Option<BucketStatus> }
//! # impl kube::Resource for Bucket {
//! #     type DynamicType = (); type Scope = kube::core::NamespaceResourceScope;
//! #     fn kind(_: &()) -> std::borrow::Cow<'_, str> { "Bucket".into() }
//! #     fn group(_: &()) -> std::borrow::Cow<'_, str> { "example.com".into() }
//! #     fn version(_: &()) -> std::borrow::Cow<'_, str> { "v1".into() }
//! #     fn plural(_: &()) -> std::borrow::Cow<'_, str> { "buckets".into() }
//! #     fn meta(&self) -> &ObjectMeta { &self.metadata }
//! #     fn meta_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
//! # }
//! # impl ConditionalResource for Bucket {
//! #     type Type = String; type Status = Status; type ResourceStatus = BucketStatus;
//! #     fn resource_status(&self) -> Option<&BucketStatus> { self.status.as_ref() }
//! #     fn resource_status_mut(&mut self) -> &mut Option<BucketStatus> { &mut self.status }
//! #     fn generation(&self) -> Option<i64> { self.metadata.generation }
//! # }
//! # async fn create_bucket(_name: &str) -> std::io::Result<()> { Ok(()) }
//! use std::time::Duration;
//! use konditions_core::lock::{Lock, LockError, Outcome, Release};
//!
//! /// One reconcile of a `Bucket`: create the external bucket once.
//! async fn reconcile(api: kube::Api<Bucket>, bucket: &Bucket) -> Result<Option<Duration>, LockError> {
//!     let created = bucket.conditions().and_then(|c| c.find(&"Created".to_string()));
//!     if created.is_some_and(|c| c.status == Status::True) {
//!         return Ok(None); // nothing to do
//!     }
//!     let outcome = Lock::new(api, bucket, "Created".to_string())
//!         .holder(std::env::var("POD_NAME").unwrap_or_else(|_| "bucket-operator".into()))
//!         .lease(Duration::from_secs(120))
//!         .run(|ctx| async move {
//!             if ctx.takeover().is_some() {
//!                 // A previous holder died mid-task: the bucket may exist already.
//!             }
//!             create_bucket("my-bucket").await?;
//!             Ok::<_, std::io::Error>(Release::new(Status::True, "BucketCreated", "my-bucket"))
//!         })
//!         .await?;
//!     Ok(match outcome {
//!         Outcome::Ran { error: None, .. } => None,
//!         Outcome::Ran { error: Some(_), .. } => Some(Duration::from_secs(30)), // retry later
//!         Outcome::Busy(held) => Some(held.remaining().unwrap_or(Duration::from_secs(1))),
//!         Outcome::Stale | Outcome::LostLease { .. } => Some(Duration::from_secs(1)),
//!     })
//! }
//! ```
//!
//! # State machine of the condition
//!
//! ```text
//!   any, not locked ──acquire (CAS)──▶ Locked(holder, since, until) ──release (CAS)──▶ task's condition
//!                                         │                                         ╰▶ False/TaskFailed, TaskPanicked
//!                                         ╰── lease expired: another worker's acquire (CAS) = takeover
//! ```
//!
//! The locked condition has status `Unknown` (or the status set's own
//! `Locked` member, see [`locked_status`]), reason [`LOCKED_REASON`] and a
//! message `locked by <holder> since <RFC 3339> until <RFC 3339>`
//! ([`LockInfo`] parses it). Everything machine-readable is in the message:
//! the CRD schema prunes extra fields.
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
//!   list, then append) within the same call, so two workers locking
//!   different conditions of a new object do not make each other Stale; it
//!   costs a refused request in that race.
//! * **Index shift**: the test is on an index. When an entry before ours was
//!   removed since the caller read the object, the test fails although our
//!   condition did not change: a rare false [`Outcome::Stale`] (conditions
//!   are seldom removed). The next reconcile, on a fresh copy, succeeds.
//! * **Representation**: the API server re-encodes the stored object with
//!   Go's JSON encoder (which escapes `<`, `>`, `&`, U+2028 and U+2029)
//!   and compares strings of a `test` byte for byte, so a message holding
//!   `<` would never compare equal and the lock would be Stale forever. The
//!   lock writes its patches with the same escaping. Other differences
//!   cannot arise: [`Conditions`] only types an entry whose JSON it
//!   reproduces exactly, and an entry it keeps raw is tested as read.
//! * **Already locked** and the lease not expired: [`Outcome::Busy`] with
//!   the holder and expiry, without any request. Expired: a takeover (the
//!   CAS is on the expired lock), and the task is told
//!   ([`LockContext::takeover`]) so it can check for a half-done side
//!   effect. A `Locked` condition whose message does not parse (written by
//!   konditionner, say), typed or kept raw, expires `lease` after its
//!   `lastTransitionTime`.
//!
//! # Release: fenced, and on every path the process survives
//!
//! The release is a CAS too: `test` that the entry is still the locked
//! condition we wrote (as the acquire response returned it), `replace` it
//! with the result. A holder whose lease expired and was taken over finds
//! another holder's lock there and gets [`Outcome::LostLease`]; it never
//! overwrites the new holder. The result:
//! * task `Ok(Release)`: that status, reason and message;
//! * task `Err(e)`: `False`-like ([`ConditionStatus::FALSE`]), reason from
//!   [`Reason::reason`] (default [`TASK_FAILED_REASON`]), message = `e`'s
//!   text truncated to the 32768-character limit;
//! * panic: `False`, [`TASK_PANICKED_REASON`], the panic message; then the
//!   panic is **resumed** (a panic is a bug: it is not turned into a value);
//! * a refused release (an entry before ours removed, or the server's
//!   internal conflict): re-read the status and retry on the new index,
//!   changing only our condition, up to [`Lock::release_attempts`] tries.
//!   Transport and server errors are retried the same way.
//!
//! `observedGeneration` is the generation of the object the caller passed
//! (what the task worked from), `lastTransitionTime` follows the usual rules
//! against the stored condition (acquire: changes when the status does;
//! release: changes when the result's status differs from the lock's).
//!
//! Not covered: a process that dies, or a `run` future that is dropped
//! (cancelled) while the task runs, leaves the condition locked until the
//! lease expires; the next holder is then told it is a takeover. Choose a
//! lease longer than the task can take plus the clock skew between replicas;
//! the lease is not renewed while the task runs.
//!
//! # Cost
//!
//! A task that runs costs exactly two writes (acquire, release) and no read:
//! the acquire response gives the index and the stored lock for the
//! release. Workers locking different conditions of one object do not
//! conflict.

#[cfg(test)]
mod tests;
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
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::{
    Clock, Condition, ConditionStatus, ConditionType, ConditionalResource, Conditions, SystemClock,
};

use types::add;
pub use types::{LockContext, LockError, LockInfo, Outcome, Reason, Release, TaskError};
use wire::{
    LIST, Seen, Shape, check_reason, go_escape, is_refusal, positions, same_result, seen, truncate,
    wire,
};

/// The reason of a locked condition.
pub const LOCKED_REASON: &str = "Locked";
/// The default reason of a condition released after the task returned an error.
pub const TASK_FAILED_REASON: &str = "TaskFailed";
/// The reason of a condition released after the task panicked.
pub const TASK_PANICKED_REASON: &str = "TaskPanicked";
/// The reason of a condition released after the task returned a
/// [`Release`] the API server would reject (invalid or reserved reason).
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

/// A lock on one condition of one object. See the [module documentation](self).
#[must_use = "a lock does nothing until `run` is awaited"]
pub struct Lock<K: ConditionalResource> {
    api: Api<K>,
    name: Option<String>,
    generation: Option<i64>,
    type_: K::Type,
    seen: Seen,
    previous: Option<Condition<K::Type, K::Status>>,
    holder: String,
    lease: Duration,
    clock: Arc<dyn Clock>,
    release_attempts: usize,
}

impl<K> Lock<K>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug,
{
    /// A lock on `condition_type` of `object`, as the caller sees it:
    /// `object` is the copy (possibly stale) the reconciler works from, and
    /// `api` reaches it (namespaced or cluster-scoped).
    pub fn new(api: Api<K>, object: &K, condition_type: K::Type) -> Self {
        let conditions = ConditionalResource::conditions(object);
        let previous = conditions.and_then(|c| c.find(&condition_type)).cloned();
        let seen = seen(conditions, &condition_type);
        Self {
            api,
            name: object.meta().name.clone(),
            generation: ConditionalResource::generation(object),
            type_: condition_type,
            seen,
            previous,
            holder: default_holder(),
            lease: DEFAULT_LEASE,
            clock: Arc::new(SystemClock),
            release_attempts: DEFAULT_RELEASE_ATTEMPTS,
        }
    }

    /// Who holds the lock, written in the condition's message: make it
    /// unique per replica, e.g. the pod name. Default: `$HOSTNAME/<pid>`.
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// How long the lock is held before another worker may take it over
    /// (rounded up to whole seconds, at least one). Default [`DEFAULT_LEASE`].
    pub fn lease(mut self, lease: Duration) -> Self {
        let secs = lease.as_secs() + u64::from(lease.subsec_nanos() > 0);
        self.lease = Duration::from_secs(secs.max(1));
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

    /// Acquires the lock, runs `task` with a [`LockContext`], releases with
    /// its result. See the [module documentation](self) for every path.
    ///
    /// # Panics
    /// Resumes the task's panic after releasing the condition as
    /// [`TASK_PANICKED_REASON`].
    pub async fn run<F, Fut, E>(self, task: F) -> Result<Outcome<K, E>, LockError>
    where
        F: FnOnce(LockContext<K>) -> Fut,
        Fut: Future<Output = Result<Release<K::Status>, E>>,
        E: Reason,
    {
        let name = self.name.clone().ok_or(LockError::MissingName)?;
        let holder = &self.holder;
        if holder.is_empty() || holder.chars().count() > 253 || holder.contains(['\n', '\r']) {
            return Err(LockError::InvalidHolder(holder.clone()));
        }
        let object = format!("{}/{name}", self.api.resource_url());
        let condition = self.type_.as_str().to_owned();
        let span = tracing::debug_span!("acquire", %object, %condition, %holder);
        let acquired = match self.acquire(&name).instrument(span).await? {
            Acquired::Held(held) => held,
            Acquired::Busy(info) => return Ok(Outcome::Busy(info)),
            Acquired::Stale => return Ok(Outcome::Stale),
        };
        let context = LockContext {
            previous: self.previous.clone(),
            takeover: acquired.takeover.clone(),
            holder: self.holder.clone(),
            acquired_at: acquired.since,
            expires_at: acquired.expires_at,
        };
        // `task(context)` itself may panic before returning its future.
        let result = AssertUnwindSafe(async move { task(context).await })
            .catch_unwind()
            .await;
        let (release, error, panic) = self.settle(result);
        let span = tracing::debug_span!("release", %object, %condition, %holder);
        let outcome = self
            .release(&name, acquired, release, error)
            .instrument(span)
            .await;
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
        outcome
    }

    async fn acquire(&self, name: &str) -> Result<Acquired<K>, LockError> {
        let now = self.clock.now();
        let mut takeover = None;
        // A lock can also sit in an entry that could not be typed (one
        // written by konditionner has no message): it blocks all the same.
        let held = match (&self.previous, &self.seen) {
            (Some(c), _) => LockInfo::from_condition(c, self.lease),
            (None, Seen::Entry { value, .. }) => LockInfo::from_raw(value, self.lease),
            (None, _) => None,
        };
        if let Some(info) = held {
            if now < info.expires_at {
                tracing::debug!(holder = ?info.holder, expires_at = %info.expires_at, "busy");
                return Ok(Acquired::Busy(info));
            }
            takeover = Some(info);
        }
        let since = crate::condition::truncate_to_second(now);
        let expires_at = add(since, self.lease);
        let message = LockInfo::message(&self.holder, since, expires_at);
        // The locked condition as `set` makes it from the caller's: same
        // transition rules as any other write.
        let mut base: Conditions<K::Type, K::Status> = self.previous.iter().cloned().collect();
        base.set_with(
            &*self.clock,
            self.generation,
            self.type_.clone(),
            locked_status(),
            LOCKED_REASON,
            &message,
        )?;
        let locked = serde_json::to_value(base.find(&self.type_))?;
        let mut shape = match &self.seen {
            Seen::Unserializable(e) => {
                return Err(LockError::Serialize(serde::de::Error::custom(e)));
            }
            Seen::Entry { index, value } => {
                let path = format!("{LIST}/{index}");
                let ops = json!([
                    {"op": "test", "path": path, "value": value},
                    {"op": "replace", "path": path, "value": locked},
                ]);
                return match self.patch(name, ops).await {
                    Ok(object) => self.held(object, &locked, takeover, since, expires_at),
                    Err(e) if is_refusal(&e) => {
                        tracing::debug!(error = %e, "stale view: not acquired");
                        Ok(Acquired::Stale)
                    }
                    Err(e) => Err(LockError::Acquire(e)),
                };
            }
            Seen::Absent(shape) => *shape,
        };
        loop {
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
            match self.patch(name, ops).await {
                Ok(object) => return self.held(object, &locked, takeover, since, expires_at),
                Err(e) if is_refusal(&e) => {
                    tracing::debug!(error = %e, ?shape, "insert refused");
                    shape = match shape {
                        Shape::CreateStatus => Shape::CreateList,
                        Shape::CreateList => Shape::Append,
                        // A duplicate type: someone else inserted the condition.
                        Shape::Append => return Ok(Acquired::Stale),
                    };
                }
                Err(e) => return Err(LockError::Acquire(e)),
            }
        }
    }

    /// The lock as stored, from the acquire response.
    fn held(
        &self,
        object: K,
        locked: &Value,
        takeover: Option<LockInfo>,
        since: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Acquired<K>, LockError> {
        let entries = wire(ConditionalResource::conditions(&object))?;
        let ours: Vec<usize> = positions(&entries, self.type_.as_str()).collect();
        if ours.len() > 1 {
            return Err(LockError::NotAMapList);
        }
        // What the server stored (normally exactly `locked`) is what the release tests.
        let fence = ours
            .first()
            .map(|&i| (i, entries[i].clone()))
            .unwrap_or_else(|| (0, locked.clone()));
        tracing::debug!(index = fence.0, takeover = takeover.is_some(), "acquired");
        Ok(Acquired::Held(Held {
            object,
            fence,
            takeover,
            since,
            expires_at,
        }))
    }

    /// The release the task's result asks for, its error, and a panic to resume.
    #[allow(clippy::type_complexity)]
    fn settle<E: Reason>(
        &self,
        result: Result<Result<Release<K::Status>, E>, Box<dyn Any + Send>>,
    ) -> (
        Release<K::Status>,
        Option<TaskError<E>>,
        Option<Box<dyn Any + Send>>,
    ) {
        let failed =
            |reason: &str, message: &str| Release::new(K::Status::FALSE, reason, truncate(message));
        match result {
            Ok(Ok(release)) => match check_reason(&release.reason) {
                Ok(()) => {
                    let message = truncate(&release.message);
                    (Release { message, ..release }, None, None)
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
                let release = failed(&reason, &error.to_string());
                (release, Some(TaskError::Failed(error)), None)
            }
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the task panicked".to_owned());
                (failed(TASK_PANICKED_REASON, &text), None, Some(payload))
            }
        }
    }

    async fn release<E>(
        &self,
        name: &str,
        held: Held<K>,
        release: Release<K::Status>,
        error: Option<TaskError<E>>,
    ) -> Result<Outcome<K, E>, LockError> {
        let Held {
            object,
            fence: (mut index, fence),
            takeover,
            ..
        } = held;
        let mut base = object;
        let mut last_error = None;
        for attempt in 1..=self.release_attempts {
            let mut conditions = ConditionalResource::conditions(&base)
                .cloned()
                .unwrap_or_default();
            conditions.set_with(
                &*self.clock,
                self.generation,
                self.type_.clone(),
                release.status.clone(),
                &release.reason,
                &release.message,
            )?;
            let released = conditions
                .find(&self.type_)
                .cloned()
                .expect("set_with stores the condition it was given");
            let path = format!("{LIST}/{index}");
            let ops = json!([
                {"op": "test", "path": path, "value": &fence},
                {"op": "replace", "path": path, "value": serde_json::to_value(&released)?},
            ]);
            let refused = match self.patch(name, ops).await {
                Ok(object) => {
                    tracing::debug!(attempt, "released");
                    let object = Box::new(object);
                    return Ok(Outcome::Ran {
                        object,
                        condition: released,
                        takeover,
                        error,
                    });
                }
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "release refused");
                    let refused = is_refusal(&e);
                    last_error = Some(e);
                    refused
                }
            };
            if !refused {
                // A transport or server error: wait a little, then retry as is.
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
                continue;
            }
            // The entry moved or changed: look where our lock is now.
            match self.api.get_status(name).await {
                Ok(current) => {
                    let entries = wire(ConditionalResource::conditions(&current))?;
                    let found = positions(&entries, self.type_.as_str()).next();
                    if let Some(i) = found.filter(|&i| entries[i] == fence) {
                        index = i;
                        base = current;
                        continue;
                    }
                    let now = ConditionalResource::conditions(&current)
                        .and_then(|c| c.find(&self.type_))
                        .cloned();
                    if now.as_ref().is_some_and(|c| same_result(c, &released)) {
                        // An earlier attempt was stored but its response lost.
                        return Ok(Outcome::Ran {
                            object: Box::new(current),
                            condition: released,
                            takeover,
                            error,
                        });
                    }
                    tracing::warn!(current = ?now, "lease lost: the condition is no longer our lock");
                    return Ok(Outcome::LostLease {
                        current: now,
                        error,
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        let source = last_error.expect("at least one attempt was made");
        tracing::error!(error = %source, "release failed: the lock stays until its lease expires");
        Err(LockError::Release {
            attempts: self.release_attempts,
            source,
        })
    }

    /// Sends a JSON Patch to the status subresource. The body is written with
    /// Go's escaping (see the module documentation) so `test` values compare
    /// equal to what the server re-encodes.
    async fn patch(&self, name: &str, ops: Value) -> Result<K, kube::Error> {
        let patch: json_patch::Patch =
            serde_json::from_value(ops).map_err(kube::Error::SerdeError)?;
        let request = kube::core::Request::new(self.api.resource_url());
        let mut request = request
            .patch_subresource(
                "status",
                name,
                &PatchParams::default(),
                &Patch::Json::<()>(patch),
            )
            .map_err(kube::Error::BuildRequest)?
            .map(|body| go_escape(&body));
        request.extensions_mut().insert("patch_status");
        self.api.clone().into_client().request::<K>(request).await
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

enum Acquired<K> {
    Held(Held<K>),
    Busy(LockInfo),
    Stale,
}

struct Held<K> {
    /// The acquire response: the base of the release.
    object: K,
    /// Where our lock is and its stored JSON.
    fence: (usize, Value),
    takeover: Option<LockInfo>,
    since: Timestamp,
    expires_at: Timestamp,
}

fn default_holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "konditions".to_owned());
    format!("{host}/{}", std::process::id())
}
