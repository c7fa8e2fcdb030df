//! One reconcile written as ordered steps: the glue between kube-runtime's
//! `Controller`, the [`lock`](crate::lock) and the status, so an operator
//! states what to do and the runner does the rest.
//!
//! A [`Reconciler`] holds what every reconcile shares (client, field
//! manager, finalizer, the lock's holder, lease and backoff, the Event
//! recorder). [`Reconciler::start`] begins a [`Run`] on one object; its
//! steps run in the order written:
//!
//! * [`Run::check`]: a pure step, a [`Verdict`] computed from the object
//!   (a validation, a dependency's state), set on the working copy;
//! * [`Run::lock`]: a side effect under the lock on a condition declared
//!   `(lock)`, run on the latest copy (the one the previous lock returned);
//! * [`Run::cleanup`]: a side effect under the lock when the object is
//!   being deleted; the finalizer is removed only once every cleanup step
//!   is done.
//!
//! The first step that is not done (a check in its bad state, a lock that
//! failed, is busy, backs off or found the copy stale) stops the steps
//! after it. [`Run::finish`] then computes the summary and kstatus'
//! conditions on the latest copy, writes the status once and only when it
//! changed (never from a copy a lock found stale), records Kubernetes
//! Events (every transition of the summary, and every condition, a lock's
//! included, entering its bad state), and returns one [`Action`]: the
//! earliest requeue any step asked for.
//!
//! In the apply phase the cleanup steps are skipped, in the deletion phase
//! the others are: one function describes both, top to bottom.
//!
//! A copy older than this process's own last write of the object (the
//! watch has not delivered that write yet) is not acted on: the run is
//! deferred until the cache shows the write, or reads the object live
//! after a while ([`StaleCopies`]).
//!
//! A lock whose task ran is released with the run's next write: the status
//! rides on the release (one JSON Patch, guarded by the resourceVersion the
//! acquire stored), and the last cleanup's lock goes with the object when
//! the finalizer's removal deletes it. When the object changed since the
//! acquire, the release goes alone and the status follows as a server-side
//! apply. A run dropped before [`Run::finish`] releases its lock in the
//! background.
//!
//! A step's failure is its condition (its reason, its attempt, its
//! backoff). A failure of the runner itself (an [`Error`]: the API server
//! refused the finalizer patch, a lock write, the status apply) goes to
//! [`Reconciler::error_policy`], which backs off per object and shows it in
//! kstatus' `Reconciling` condition ([`RECONCILE_ERROR_REASON`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use konditions_core::example::{Widget, WidgetCondition, WidgetLock};
//! use konditions_core::reconcile::{Error, Reconciler};
//! use konditions_core::{Status, Verdict};
//! use kube::runtime::controller::Action;
//! # async fn create_bucket(_key: &str) -> std::io::Result<()> { Ok(()) }
//! # async fn delete_bucket(_key: &str) -> std::io::Result<()> { Ok(()) }
//!
//! async fn reconcile(widget: Arc<Widget>, reconciler: Arc<Reconciler<Widget>>) -> Result<Action, Error> {
//!     let mut run = reconciler.start(widget).await?;
//!     // A pure step: no side effect, so no lock.
//!     let valid = if run.object().metadata.labels.as_ref().is_some_and(|l| l.contains_key("team")) {
//!         Verdict::new(Status::True, "Labelled")
//!     } else {
//!         Verdict::new(Status::False, "NoTeam").message("label the widget with its team")
//!     };
//!     run.check(&WidgetCondition::DatabaseReady, valid)?;
//!     run.lock(WidgetLock::BucketCreated, |lock| async move {
//!         lock.check()?;
//!         create_bucket(lock.idempotency_key().as_str()).await?;
//!         Ok::<_, std::io::Error>(Verdict::new(Status::True, "BucketCreated"))
//!     })
//!     .await?;
//!     run.cleanup(WidgetLock::BucketCreated, |lock| async move {
//!         lock.check()?;
//!         delete_bucket(lock.idempotency_key().as_str()).await?;
//!         Ok::<_, std::io::Error>(Verdict::new(Status::False, "BucketDeleted"))
//!     })
//!     .await?;
//!     run.finish().await
//! }
//!
//! fn error_policy(widget: Arc<Widget>, error: &Error, reconciler: Arc<Reconciler<Widget>>) -> Action {
//!     reconciler.error_policy(&widget, error)
//! }
//! # async fn demo(client: kube::Client) {
//! let reconciler = Reconciler::<Widget>::new(client.clone(), "widget-controller")
//!     .finalizer("example.com/bucket-cleanup");
//! let widgets = kube::Api::<Widget>::all(client);
//! # let _ = (widgets, reconciler);
//! // Controller::new(widgets, Default::default()).run(reconcile, error_policy, Arc::new(reconciler))
//! # }
//! ```
//!
//! # Metrics
//!
//! With [`Reconciler::metrics`], on the operator's `prometheus-client`
//! registry ([`Metrics`]):
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `konditions_reconcile_condition` (gauge) | `kind`, `namespace`, `name`, `type`, `status` | 1 for each condition's current status (one series per condition: the series of its other statuses are removed); removed when the object is gone or no longer has the condition |
//! | `konditions_condition_transitions_total` | `kind`, `type`, `status` | status changes the runner wrote (a lock's included), by new status |
//! | `konditions_lock_outcomes_total` | `kind`, `condition`, `outcome` | lock runs: `ran`, `failed`, `done`, `busy`, `backing_off`, `stale`, `lost_lease`, `gone` |
//! | `konditions_lock_duration_seconds` (histogram) | `kind`, `condition` | lock runs whose task ran, acquire to release |
//! | `konditions_reconcile_duration_seconds` (histogram) | `kind` | reconciles that finished, start to finish |
//! | `konditions_reconcile_errors_total` | `kind` | reconciles that failed (counted by `error_policy`) |
//! | `konditions_stale_reconciles_total` | `kind` | reconciles deferred: the copy was older than this process's own last write ([`StaleCopies`]) |
//! | `konditions_live_reads_total` | `kind` | reconciles that read the object live: the cache lagged too long, or the object just moved to this [shard](crate::shard) member |
//! | `konditions_cache_lag_seconds` (histogram) | `kind` | from a write of this process to the first reconcile whose copy shows it |
//!
//! The functions under the runner ([`Lock`], [`apply_status`](crate::apply),
//! [`Conditions::set`](crate::Conditions::set), the summary) stay public:
//! a reconcile that needs another order can still be written by hand.

use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use kube::core::{ClusterResourceScope, NamespaceResourceScope};
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

mod memory;
mod metrics;

use memory::{Freshness, Memory};
pub use metrics::Metrics;

use crate::apply::apply_status_if_current;
use crate::event::TransitionEvent;
use crate::lock::{
    Backoff, Grant, Lock, LockContext, LockError, Outcome, Owned, Pending, Ran, Reason,
    default_holder,
};
use crate::shard::{Claim, Member};
use crate::{
    ApplyError, Change, Condition, ConditionError, ConditionStatus, ConditionType,
    ConditionalResource, LockedType, Verdict, WrittenBy,
};

/// kubectl's copy of the last configuration it applied client-side.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The reason of kstatus' `Reconciling` condition while a reconcile fails
/// with an [`Error`] (see [`Reconciler::error_policy`]).
pub const RECONCILE_ERROR_REASON: &str = "ReconcileError";

/// What the runner reconciles: a custom resource with conditions (what
/// kube's `CustomResource` and `#[derive(ConditionalResource)]` give),
/// namespaced or cluster-scoped. Implemented for every such type.
pub trait Object:
    Resource<DynamicType = (), Scope: ObjectScope>
    + ConditionalResource
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Object for K where
    K: Resource<DynamicType = (), Scope: ObjectScope>
        + ConditionalResource
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// The scopes a [`Reconciler`] can build an `Api` for: namespaced and
/// cluster-scoped resources. Sealed.
pub trait ObjectScope: sealed::Sealed {
    #[doc(hidden)]
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = Self>,
        K::DynamicType: Default;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for kube::core::NamespaceResourceScope {}
    impl Sealed for kube::core::ClusterResourceScope {}
}

impl ObjectScope for NamespaceResourceScope {
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = Self>,
        K::DynamicType: Default,
    {
        Api::namespaced(client, namespace.unwrap_or_default())
    }
}

impl ObjectScope for ClusterResourceScope {
    fn api<K>(client: Client, _: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = Self>,
        K::DynamicType: Default,
    {
        Api::all(client)
    }
}

/// What a reconcile run by the runner can fail with. A step's own failure
/// is not one of these: it is recorded in its condition and retried after
/// its backoff.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object has no `metadata.name`.
    #[error("the object has no metadata.name")]
    MissingName,
    /// Adding the finalizer failed (not a lost race: those requeue).
    #[error("adding the finalizer failed")]
    AddFinalizer(#[source] kube::Error),
    /// Removing the finalizer failed (not a lost race: those requeue).
    #[error("removing the finalizer failed")]
    RemoveFinalizer(#[source] kube::Error),
    /// The lock failed (a request, not a refused compare-and-swap).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Writing the status failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A check's verdict was refused (for example an invalid reason).
    #[error(transparent)]
    Condition(#[from] ConditionError),
    /// Writing the status with the locked steps' conditions failed (a
    /// [shard](crate::shard) member's write; not a stale copy).
    #[error("writing the status failed")]
    WriteStatus(#[source] kube::Error),
    /// Reading the object from the API server failed (the cache lagged
    /// behind this process's own write for longer than
    /// [`StaleCopies::Defer`] waits).
    #[error("reading the object from the API server failed")]
    Read(#[source] kube::Error),
}

/// What a reconcile does with a copy older than this process's own last
/// write of the object: the controller's cache has not shown that write
/// yet, so acting on the copy would repeat or undo work (the field's
/// "stale cache" bug, which KEP-5647 mitigates in kube-controller-manager).
/// See [`Reconciler::stale_copies`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StaleCopies {
    /// Defer the reconcile: it requeues without a request, and the watch
    /// event of the write brings the next one. After `read_live_after`
    /// without the cache showing the write, read the object from the API
    /// server and act on that. The default, with 5 seconds.
    Defer {
        /// How long reconciles are deferred before the object is read live.
        read_live_after: Duration,
    },
    /// Act on the copy the controller passes, however old (for comparison).
    Act,
}

impl StaleCopies {
    /// Defer, reading live after 5 seconds.
    pub const DEFAULT: Self = Self::Defer {
        read_live_after: Duration::from_secs(5),
    };
}

impl Default for StaleCopies {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What every reconcile of one kind shares: build one per controller and
/// pass it (in an `Arc`) as the controller's context.
///
/// ```
/// use std::time::Duration;
/// use konditions_core::example::Widget;
/// use konditions_core::lock::Backoff;
/// use konditions_core::reconcile::Reconciler;
/// # async fn demo(client: kube::Client) {
/// let reconciler = Reconciler::<Widget>::new(client, "widget-controller")
///     .finalizer("example.com/bucket-cleanup")
///     .holder("widget-controller-7d9f-x2x4") // the pod's name
///     .lease(Duration::from_secs(60))
///     .backoff(Backoff::default());
/// assert_eq!(reconciler.manager(), "widget-controller");
/// # }
/// ```
pub struct Reconciler<K> {
    client: Client,
    manager: String,
    finalizer: Option<String>,
    holder: String,
    /// `None`: the lock's default.
    lease: Option<Duration>,
    backoff: Backoff,
    recorder: Recorder,
    /// What it remembers per object between reconciles.
    memory: Arc<Memory>,
    stale_copies: StaleCopies,
    metrics: Option<Metrics>,
    /// The group member whose objects this runner acts on, when replicas
    /// share the work.
    shard: Option<Member>,
    /// The `kind` label of the metrics.
    kind_name: String,
    kind: PhantomData<fn() -> K>,
}

impl<K> Debug for Reconciler<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("manager", &self.manager)
            .field("finalizer", &self.finalizer)
            .field("holder", &self.holder)
            .field("lease", &self.lease)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl<K: Object> Reconciler<K> {
    /// A runner writing the status as `manager` (its server-side apply
    /// field manager, also the finalizer patches' field manager and the
    /// Events' reporting controller), with no
    /// finalizer, and the lock's defaults: the holder [`default_holder`],
    /// its lease (see [`Lock::lease`]) and the default [`Backoff`].
    pub fn new(client: Client, manager: impl Into<String>) -> Self {
        let manager = manager.into();
        let holder = default_holder();
        Self {
            recorder: recorder(&client, &manager, &holder),
            client,
            manager,
            finalizer: None,
            holder,
            lease: None,
            backoff: Backoff::default(),
            memory: Arc::default(),
            stale_copies: StaleCopies::DEFAULT,
            metrics: None,
            shard: None,
            kind_name: K::kind(&()).into_owned(),
            kind: PhantomData,
        }
    }

    /// Keeps every object until its [`cleanup`](Run::cleanup) steps are
    /// done: the finalizer `name` (a qualified name, e.g.
    /// `example.com/bucket-cleanup`) is added before any other step runs.
    pub fn finalizer(mut self, name: impl Into<String>) -> Self {
        self.finalizer = Some(name.into());
        self
    }

    /// Who holds the locks this process takes: unique per replica (the
    /// pod's name), also the Events' reporting instance.
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self.recorder = recorder(&self.client, &self.manager, &self.holder);
        self
    }

    /// How long a lock is held before another replica may take over (it is
    /// renewed while the step runs). See [`Lock::lease`].
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The wait before a failed step runs again (see [`Lock::backoff`]),
    /// also the one [`error_policy`](Self::error_policy) uses for errors.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// What a reconcile does with a copy older than this process's own last
    /// write of the object: [`StaleCopies::Defer`] it (the default, reading
    /// the object live after 5 seconds), or [`StaleCopies::Act`] on it.
    /// Every write of the runner counts: the finalizer's, the locks', the
    /// status.
    pub fn stale_copies(mut self, stale_copies: StaleCopies) -> Self {
        self.stale_copies = stale_copies;
        self
    }

    /// Records the runner's metrics (see the [table](self#metrics)) in
    /// `metrics`, registered once on the registry the operator serves;
    /// runners of several kinds may share it.
    ///
    /// ```
    /// use prometheus_client::registry::Registry;
    /// use konditions_core::example::Widget;
    /// use konditions_core::reconcile::{Metrics, Reconciler};
    /// # async fn demo(client: kube::Client) {
    /// let mut registry = Registry::default();
    /// let metrics = Metrics::new(&mut registry);
    /// let reconciler = Reconciler::<Widget>::new(client, "widget-controller").metrics(metrics);
    /// # }
    /// ```
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Shares the work with the other replicas of `member`'s group
    /// ([`shard`](crate::shard)): a reconcile acts only on the objects this
    /// member owns (the others' are finished at once, without a request),
    /// runs their [`lock`](Run::lock) and [`cleanup`](Run::cleanup) steps
    /// without per-object lock writes, under the member's lease and
    /// fencing token, and writes the lock's conditions with the status in
    /// one JSON Patch that tests the resourceVersion of the copy it
    /// computed from. An object that moved here from another member is
    /// read live before its first step.
    ///
    /// Give [`Member::changes`] to the controller's `reconcile_all_on`, so
    /// that the objects a departed member owned are reconciled at once.
    ///
    /// ```no_run
    /// use konditions_core::example::Widget;
    /// use konditions_core::reconcile::Reconciler;
    /// use konditions_core::shard::Group;
    /// # async fn demo(client: kube::Client) -> Result<(), konditions_core::shard::ShardError> {
    /// let member = Group::new(client.clone(), "widget-system", "widget-controller").join().await?;
    /// let reconciler = Reconciler::<Widget>::new(client, "widget-controller")
    ///     .finalizer("example.com/bucket-cleanup")
    ///     .shard(member);
    /// # Ok(())
    /// # }
    /// ```
    pub fn shard(mut self, member: Member) -> Self {
        self.shard = Some(member);
        self
    }

    /// The field manager of the status writes.
    pub fn manager(&self) -> &str {
        &self.manager
    }

    /// Removes from a copy what the runner never reads, for the
    /// controller's cache (`WatchStreamExt::modify` before `reflect`): the
    /// `managedFields` entries other than this manager's applies (the only
    /// ones the status apply reads, see
    /// [`apply_status`](crate::apply::apply_status)), and of those all but
    /// which conditions they own; and kubectl's
    /// `last-applied-configuration` annotation. Field ownership is most of
    /// a cached custom resource's memory. Never send a trimmed copy back
    /// whole (an update): the API server would take its `managedFields`
    /// for the object's.
    ///
    /// ```no_run
    /// use konditions_core::example::Widget;
    /// use konditions_core::reconcile::Reconciler;
    /// use kube::runtime::{reflector, watcher, WatchStreamExt};
    /// # async fn demo(client: kube::Client) {
    /// let reconciler = Reconciler::<Widget>::new(client.clone(), "widget-controller");
    /// let (reader, writer) = reflector::store();
    /// let widgets = watcher(kube::Api::<Widget>::all(client), watcher::Config::default())
    ///     .default_backoff()
    ///     .modify(reconciler.trim())
    ///     .reflect(writer)
    ///     .applied_objects();
    /// // Controller::for_stream(widgets, reader) (kube's `unstable-runtime` feature)
    /// # let _ = (widgets, reader);
    /// # }
    /// ```
    pub fn trim(&self) -> impl Fn(&mut K) + Clone + Send + Sync + 'static {
        let manager = self.manager.clone();
        move |object: &mut K| {
            let meta = object.meta_mut();
            if let Some(entries) = &mut meta.managed_fields {
                entries.retain(|e| {
                    e.manager.as_deref() == Some(manager.as_str())
                        && e.operation.as_deref() == Some("Apply")
                });
                for fields in entries.iter_mut().filter_map(|e| e.fields_v1.as_mut()) {
                    crate::apply::keep_condition_keys(fields);
                }
                if entries.is_empty() {
                    meta.managed_fields = None;
                }
            }
            if let Some(annotations) = &mut meta.annotations {
                annotations.remove(LAST_APPLIED);
                if annotations.is_empty() {
                    meta.annotations = None;
                }
            }
        }
    }

    /// Begins a reconcile of `object` (the copy the controller passed).
    ///
    /// With a [`finalizer`](Self::finalizer): an object without it gets it
    /// (one JSON Patch) and the steps run on the copy that patch stored (a
    /// patch refused because another writer changed the finalizers first
    /// leaves nothing to do: that change comes back as a watch event); a
    /// deleted object whose finalizer is gone has nothing left to do.
    pub async fn start(&self, object: Arc<K>) -> Result<Run<'_, K>, Error> {
        let name = object.meta().name.clone().ok_or(Error::MissingName)?;
        let api = K::Scope::api::<K>(self.client.clone(), object.meta().namespace.as_deref());
        let mut claim = None;
        let mut object = object;
        if let Some(member) = &self.shard {
            let uid = uid(&*object);
            let Some(mine) = member.claim(&uid) else {
                // Another member's, or none acts now: its changes (or the
                // group's) bring the next reconcile.
                return Ok(self.idle(api, name, object));
            };
            if let Some(view) = mine.gained
                && self.memory.verify(&uid, view)
            {
                // Moved here: the last owner's last write may not be in
                // the cache yet.
                if let Some(metrics) = &self.metrics {
                    metrics.live_read(&self.kind_name);
                }
                let span = tracing::debug_span!("read_live", object = %name);
                match api.get_opt(&name).instrument(span).await {
                    Ok(Some(live)) => {
                        let _ = self.memory.freshness(&uid, resource_version(&live));
                        object = Arc::new(live);
                    }
                    Ok(None) => return Ok(self.idle(api, name, object)),
                    Err(error) => return Err(Error::Read(error)),
                }
            }
            claim = Some(mine);
        }
        let (mut object, deferred) = match self.fresh(&api, &name, object).await? {
            Fresh::Copy(object) => (object, None),
            Fresh::Deferred(object, wait) => (object, Some(wait)),
        };
        let deleting = object.meta().deletion_timestamp.is_some();
        let held = self
            .finalizer
            .as_ref()
            .is_some_and(|f| object.finalizers().contains(f));
        let phase = match (&self.finalizer, deleting) {
            _ if deferred.is_some() => Phase::Finished,
            (None, false) => Phase::Apply,
            (Some(_), false) if held => Phase::Apply,
            // Added: the steps run on the copy the patch stored, without
            // waiting for its watch event. Lost to another writer: the
            // change that won comes back as a watch event.
            (Some(finalizer), false) => {
                match add_finalizer(&api, &name, &object, finalizer, &self.manager).await? {
                    Some(stored) => {
                        self.wrote(&stored);
                        object = Arc::new(stored);
                        Phase::Apply
                    }
                    None => Phase::Finished,
                }
            }
            // Deleting: only what our finalizer holds is left to clean up,
            // unless this process removed it already (a late copy).
            (_, true) if held && !self.memory.was_released(&uid(&*object)) => Phase::Cleanup,
            (_, true) => Phase::Finished,
        };
        Ok(Run {
            trusted: deferred.is_none(),
            deferred: deferred.is_some(),
            requeue: deferred,
            claim,
            ..self.run(api, name, object, phase)
        })
    }

    /// A run that does nothing: the object is not this member's.
    fn idle(&self, api: Api<K>, name: String, object: Arc<K>) -> Run<'_, K> {
        Run {
            stopped: true,
            trusted: false,
            deferred: true,
            ..self.run(api, name, object, Phase::Finished)
        }
    }

    /// A run on `object` in `phase`: trusted, not deferred, nothing
    /// checked, pending or claimed yet.
    fn run(&self, api: Api<K>, name: String, object: Arc<K>, phase: Phase) -> Run<'_, K> {
        Run {
            reconciler: self,
            started: Instant::now(),
            api,
            name,
            original: object.clone(),
            stored: object.clone(),
            object: Arc::unwrap_or_clone(object),
            phase,
            stopped: false,
            trusted: true,
            deferred: false,
            cleanup_pending: false,
            requeue: None,
            backoff: self.backoff,
            retry: false,
            checked: Vec::new(),
            pending: None,
            claim: None,
            owned: Vec::new(),
        }
    }

    /// `object`, or a copy to act on instead (see [`StaleCopies`]).
    async fn fresh(&self, api: &Api<K>, name: &str, object: Arc<K>) -> Result<Fresh<K>, Error> {
        let StaleCopies::Defer { read_live_after } = self.stale_copies else {
            return Ok(Fresh::Copy(object));
        };
        let uid = uid(&*object);
        match self.memory.freshness(&uid, resource_version(&*object)) {
            Freshness::Current => Ok(Fresh::Copy(object)),
            Freshness::CaughtUp { lag } => {
                if let Some(metrics) = &self.metrics {
                    metrics.cache_lag(&self.kind_name, lag);
                }
                Ok(Fresh::Copy(object))
            }
            Freshness::NotComparable => {
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    tracing::warn!(
                        "resourceVersions are not numbers on this API server: \
                         reconciles act on cached copies without comparing them with \
                         their own writes"
                    );
                });
                Ok(Fresh::Copy(object))
            }
            Freshness::Behind { waited } if waited < read_live_after => {
                tracing::debug!(object = %name, "copy older than our own write: deferred");
                if let Some(metrics) = &self.metrics {
                    metrics.stale(&self.kind_name);
                }
                Ok(Fresh::Deferred(object, read_live_after - waited))
            }
            Freshness::Behind { waited } => {
                tracing::info!(object = %name, ?waited, "the cache has not shown our write: reading the object");
                if let Some(metrics) = &self.metrics {
                    metrics.live_read(&self.kind_name);
                }
                let span = tracing::debug_span!("read_live", object = %name);
                match api.get_opt(name).instrument(span).await {
                    Ok(Some(live)) => {
                        let _ = self.memory.freshness(&uid, resource_version(&live));
                        Ok(Fresh::Copy(Arc::new(live)))
                    }
                    // Gone: what the cache has is all there is.
                    Ok(None) => Ok(Fresh::Copy(object)),
                    Err(error) => Err(Error::Read(error)),
                }
            }
        }
    }

    /// Remembers a write of this process that stored `object`.
    fn wrote(&self, object: &K) {
        if let Some(rv) = resource_version(object) {
            self.memory.wrote(&uid(object), rv);
        }
    }

    /// The `error_policy` for kube-runtime's `Controller`: logs the error,
    /// shows it in kstatus' `Reconciling` condition, and requeues after the
    /// [`backoff`](Self::backoff) for the object's consecutive errors (1 s,
    /// 2 s, 4 s ... by default), reset by the next reconcile that finishes.
    ///
    /// The condition is `Reconciling` True, reason [`RECONCILE_ERROR_REASON`],
    /// the error as its message (kstatus: in progress, retrying), with a
    /// Warning Event. It is written in the background with server-side
    /// apply, only when the object is still the copy given and the message
    /// is new (a repeated error writes nothing), and only if the condition
    /// types declare `Reconciling`. The next run that finishes computes
    /// `Reconciling` again and clears it.
    pub fn error_policy(&self, object: &K, error: &Error) -> Action {
        let delay = self.failed_again(object);
        if let Some(metrics) = &self.metrics {
            metrics.failed(&self.kind_name);
        }
        tracing::warn!(
            object = %object.name_any(),
            namespace = object.namespace().unwrap_or_default(),
            error = %Chain(error),
            retry_in = ?delay,
            "reconcile failed"
        );
        self.show(object, error);
        Action::requeue(delay)
    }

    /// Writes `error` into `object`'s `Reconciling` condition, in the
    /// background (`error_policy` cannot wait).
    fn show(&self, object: &K, error: &Error) {
        let Some(reconciling) = K::Type::reconciling() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The condition says what its Event's note says.
        let mut message = Chain(error).to_string();
        crate::event::fit_note(&mut message);
        let shown = object
            .conditions()
            .and_then(|c| c.find(&reconciling))
            .is_some_and(|c| c.reason == RECONCILE_ERROR_REASON && c.message == message);
        if shown {
            return;
        }
        let mut copy = object.clone();
        let generation = copy.generation();
        let verdict = Verdict::new(K::Status::TRUE, RECONCILE_ERROR_REASON).message(message);
        if copy
            .conditions_mut()
            .set(generation, &reconciling, verdict)
            .is_err()
        {
            return;
        }
        let Some(name) = copy.meta().name.clone() else {
            return;
        };
        let api = K::Scope::api::<K>(self.client.clone(), copy.meta().namespace.as_deref());
        let manager = self.manager.clone();
        let recorder = self.recorder.clone();
        let memory = self.memory.clone();
        runtime.spawn(
            async move {
                match apply_status_if_current(&api, &copy, &manager).await {
                    Ok(Some(stored)) => {
                        if let Some(rv) = resource_version(&stored) {
                            memory.wrote(&uid(&stored), rv);
                        }
                        let condition = stored.conditions().and_then(|c| c.find(&reconciling));
                        let event = kube::runtime::events::Event {
                            type_: kube::runtime::events::EventType::Warning,
                            reason: RECONCILE_ERROR_REASON.to_owned(),
                            note: condition.map(|c| c.message.clone()),
                            action: "Reconcile".to_owned(),
                            secondary: None,
                        };
                        if let Err(error) = recorder.publish(&event, &stored.object_ref(&())).await
                        {
                            tracing::debug!(%error, "could not record an event");
                        }
                    }
                    // Changed since the copy: the next reconcile has a newer one.
                    Ok(None) => {}
                    Err(error) => {
                        tracing::debug!(%error, "could not show the error in Reconciling")
                    }
                }
            }
            .instrument(tracing::debug_span!("show_error", object = %name)),
        );
    }

    /// Counts one more failure of `object`; the wait before the next try.
    fn failed_again(&self, object: &K) -> Duration {
        self.backoff.delay(self.memory.failed_again(&uid(object)))
    }

    /// Counts `after` replacing `before` when its status changed, and
    /// records its Event when `event` and [`event_for`] say so.
    async fn transition(
        &self,
        object: &K,
        before: Option<&Condition<K::Type, K::Status>>,
        after: &Condition<K::Type, K::Status>,
        event: bool,
    ) {
        let Some(change) = status_change(before, after) else {
            return;
        };
        if let Some(metrics) = &self.metrics {
            metrics.transition(&self.kind_name, after.type_.as_str(), after.status.as_str());
        }
        if let Some(event) = event.then(|| event_for(&change, after)).flatten() {
            self.publish(object, event).await;
        }
    }

    async fn publish(&self, object: &K, event: TransitionEvent) {
        let reference = object.object_ref(&());
        if let Err(error) = self.recorder.publish(&event.into(), &reference).await {
            // An Event is a courtesy: the condition already says it.
            tracing::debug!(%error, "could not record an event");
        }
    }
}

fn recorder(client: &Client, manager: &str, holder: &str) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: manager.to_owned(),
            instance: Some(holder.to_owned()),
        },
    )
}

fn uid<K: Resource>(object: &K) -> String {
    object
        .meta()
        .uid
        .clone()
        .unwrap_or_else(|| object.name_any())
}

/// A copy to act on, or one whose reconcile is deferred for a while.
enum Fresh<K> {
    Copy(Arc<K>),
    Deferred(Arc<K>, Duration),
}

/// Which steps of a [`Run`] run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The object is live: [`Run::check`] and [`Run::lock`] run,
    /// [`Run::cleanup`] is skipped.
    Apply,
    /// The object is being deleted and holds the finalizer: only
    /// [`Run::cleanup`] runs.
    Cleanup,
    /// Nothing to do in this reconcile (another writer changed the
    /// finalizers first, a deleted object's finalizer is gone, or the copy
    /// is older than this
    /// process's own last write, see [`StaleCopies`]): every step is
    /// skipped.
    Finished,
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// The step's condition is in its good state for this generation: the
    /// step ran now, or earlier (a lock does not run a task twice).
    Done,
    /// The step ran and failed (or a check is in its bad state): its
    /// condition says why. The steps after it are skipped; a failed lock
    /// is retried after its backoff.
    Failed,
    /// The step did not run: another worker holds its lock, its last
    /// failure waits for its backoff, or the copy was stale. The steps
    /// after it are skipped and the run requeues.
    Waiting,
    /// Not run: an earlier step is not done, or the step is not of this
    /// [`Phase`].
    Skipped,
}

/// One reconcile of one object, begun by [`Reconciler::start`]: call the
/// steps in order, then [`finish`](Self::finish).
#[must_use = "a run writes the status and removes the finalizer only in `finish`"]
pub struct Run<'r, K: Object> {
    reconciler: &'r Reconciler<K>,
    started: Instant,
    api: Api<K>,
    name: String,
    /// The copy the run began with: what transitions are measured against.
    original: Arc<K>,
    /// The latest copy as stored (the last lock's, else the original):
    /// what the locks compare-and-swap against, without the checks.
    stored: Arc<K>,
    /// The latest copy: the one the last lock returned, with the checks set.
    object: K,
    phase: Phase,
    /// An earlier step is not done: the next locks are skipped.
    stopped: bool,
    /// Whether `object` may be written: false once a lock found it stale
    /// or another worker on it (a status computed from it could be older
    /// than the stored one).
    trusted: bool,
    /// The copy is older than this process's last write: nothing runs.
    deferred: bool,
    /// A cleanup step is not done: the finalizer stays.
    cleanup_pending: bool,
    requeue: Option<Duration>,
    /// The backoff of this run's locks (the reconciler's unless overridden).
    backoff: Backoff,
    /// Asked to [`retry`](Run::retry): requeue on the object's error backoff.
    retry: bool,
    /// The checks' verdicts: set again on each copy a lock returns, and
    /// their Events recorded once written.
    checked: Vec<(K::Type, Verdict<'static, K::Status>)>,
    /// The last lock, when its task ran: released with the run's next
    /// write (the status, the finalizer's removal), or alone before the
    /// next lock.
    pending: Option<PendingLock<K>>,
    /// This member's claim on the object, when replicas share the work:
    /// locked steps run without lock writes.
    claim: Option<Claim>,
    /// The conditions of the locked steps that ran under `claim`: set again
    /// on each copy, written with the status.
    owned: Vec<OwnedStep<K>>,
}

/// A locked step that ran under a shard member's claim.
struct OwnedStep<K: Object> {
    condition: Condition<K::Type, K::Status>,
    /// Its condition before the run, for the transition.
    before: Option<Condition<K::Type, K::Status>>,
    /// Whether its transition records an Event (not for a cleanup).
    event: bool,
}

/// A lock whose task ran and which is not released yet.
struct PendingLock<K: Object> {
    pending: Box<Pending<K>>,
    /// Its condition before the run, for the transition.
    before: Option<Condition<K::Type, K::Status>>,
    /// Whether its transition records an Event (not for a cleanup).
    event: bool,
}

impl<K: Object> Debug for Run<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("name", &self.name)
            .field("phase", &self.phase)
            .field("stopped", &self.stopped)
            .field("requeue", &self.requeue)
            .finish_non_exhaustive()
    }
}

impl<K: Object> Run<'_, K> {
    /// The latest copy of the object: the one the last lock returned, with
    /// the checks so far set.
    pub fn object(&self) -> &K {
        &self.object
    }

    /// Which steps this run runs.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The backoff of the locks after this call in this run, instead of
    /// the reconciler's: e.g. [`Backoff::NONE`] when the reconcile was
    /// woken because what the failures waited for is back.
    pub fn backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// Asks for another reconcile after this object's error backoff (the
    /// one [`Reconciler::error_policy`] follows: 1 s, 2 s, 4 s ... by
    /// default), without an error: for a check in a bad state that a later
    /// look may find fixed (a missing table, an unreachable dependency).
    /// The count goes on until a run finishes without asking.
    pub fn retry(&mut self) {
        self.retry = true;
    }

    /// A pure step: sets `type_` to `verdict` on the working copy (written
    /// by [`finish`](Self::finish)). When the condition is not in its good
    /// state ([`Condition::is_good`]), the locks after it are skipped: a
    /// side effect does not run on an object that failed its checks.
    /// Skipped when deleting.
    pub fn check(
        &mut self,
        type_: &K::Type,
        verdict: Verdict<'_, K::Status>,
    ) -> Result<Step, Error> {
        if self.phase != Phase::Apply {
            return Ok(Step::Skipped);
        }
        let verdict = verdict.into_owned();
        let generation = self.object.generation();
        self.object
            .conditions_mut()
            .set(generation, type_, verdict.borrowed())?;
        match self.checked.iter_mut().find(|(t, _)| t == type_) {
            Some((_, kept)) => *kept = verdict,
            None => self.checked.push((type_.clone(), verdict)),
        }
        let good = self
            .object
            .conditions()
            .and_then(|c| c.find(type_))
            .is_some_and(Condition::is_good);
        if good {
            Ok(Step::Done)
        } else {
            self.stopped = true;
            Ok(Step::Failed)
        }
    }

    /// A side effect under the lock on `condition` (declared `(lock)`):
    /// runs `task` at most once per generation, on the latest copy, unless
    /// an earlier step is not done. See [`Lock::run`] for the task's
    /// [`LockContext`]. Skipped when deleting.
    pub async fn lock<L, F, Fut, E>(&mut self, condition: L, task: F) -> Result<Step, Error>
    where
        L: LockedType<Type = K::Type>,
        F: FnOnce(LockContext<K>) -> Fut,
        Fut: Future<Output = Result<Verdict<'static, K::Status>, E>>,
        E: Reason,
    {
        if self.phase != Phase::Apply || self.stopped {
            return Ok(Step::Skipped);
        }
        self.run_lock(condition, task).await
    }

    /// A cleanup under the lock on `condition` when the object is being
    /// deleted: runs `task` once per deletion; the finalizer is removed by
    /// [`finish`](Self::finish) when every cleanup step is done (or the
    /// object is gone). Its verdict is usually `False`-like for a
    /// positive condition (`BucketDeleted`). Skipped when not deleting.
    ///
    /// When the object has no `condition` at all, its lock was never taken:
    /// no side effect can have happened, so there is nothing to undo and
    /// the step is done without running (a bucket the policy refused is
    /// not deleted). Once the lock was taken, the cleanup runs whatever
    /// the step's result (a failed or interrupted task may have done part
    /// of its work); [`LockContext::previous`] tells the task what it was.
    pub async fn cleanup<L, F, Fut, E>(&mut self, condition: L, task: F) -> Result<Step, Error>
    where
        L: LockedType<Type = K::Type>,
        F: FnOnce(LockContext<K>) -> Fut,
        Fut: Future<Output = Result<Verdict<'static, K::Status>, E>>,
        E: Reason,
    {
        if self.phase != Phase::Cleanup {
            return Ok(Step::Skipped);
        }
        if self.stopped {
            self.cleanup_pending = true;
            return Ok(Step::Skipped);
        }
        // Under a shard no acquire records that a task may have started:
        // the cleanup always runs.
        if self.claim.is_none() && !ever_locked(&*self.stored, &condition.condition_type()) {
            return Ok(Step::Done);
        }
        let step = self.run_lock(condition, task).await?;
        // A cleanup's verdict may be in the condition's bad state
        // (deleted): that it ran is what counts.
        if step != Step::Done {
            self.cleanup_pending = true;
        }
        Ok(step)
    }

    async fn run_lock<L, F, Fut, E>(&mut self, condition: L, task: F) -> Result<Step, Error>
    where
        L: LockedType<Type = K::Type>,
        F: FnOnce(LockContext<K>) -> Fut,
        Fut: Future<Output = Result<Verdict<'static, K::Status>, E>>,
        E: Reason,
    {
        // The previous lock's release is what this one compares against.
        self.flush().await?;
        if self.stopped || self.phase == Phase::Finished {
            return Ok(Step::Skipped);
        }
        let type_ = condition.condition_type();
        let reconciler = self.reconciler;
        let mut lock = Lock::new(self.api.clone(), &*self.stored, condition)
            .holder(reconciler.holder.clone())
            .backoff(self.backoff);
        if let Some(lease) = reconciler.lease {
            lock = lock.lease(lease);
        }
        let began = Instant::now();
        let before = self
            .object
            .conditions()
            .and_then(|c| c.find(&type_))
            .cloned();
        // A cleanup's verdict is the condition's end, not a fault.
        let event = self.phase == Phase::Apply;
        if let (Some(claim), Some(member)) = (self.claim, &reconciler.shard) {
            let grant = Grant {
                holder: member.name().to_owned(),
                token: claim.token,
                lease: member.lease(),
            };
            let outcome = match lock.run_owned(grant, task).await? {
                Owned::Finished(outcome) => outcome,
                Owned::Ran {
                    condition,
                    error,
                    retry_after,
                } => {
                    let step = self.task_ran(&type_, began, error.as_ref(), retry_after);
                    self.owned.push(OwnedStep {
                        condition,
                        before,
                        event,
                    });
                    self.refresh()?;
                    return Ok(step);
                }
            };
            self.lock_metrics(&type_, outcome_label(&outcome), None);
            return self.settle(outcome, before, event).await;
        }
        let outcome = match lock.run_unreleased(task).await? {
            Ran::Unreleased {
                pending,
                error,
                retry_after,
            } => {
                let step = self.task_ran(&type_, began, error.as_ref(), retry_after);
                // The working copy is the object as the release will store
                // it; the release waits for the run's next write.
                self.stored = Arc::new(pending.object()?);
                self.refresh()?;
                self.pending = Some(PendingLock {
                    pending,
                    before,
                    event,
                });
                return Ok(step);
            }
            Ran::Finished(outcome) => outcome,
        };
        let ran_for = outcome.ran().then(|| began.elapsed());
        self.lock_metrics(&type_, outcome_label(&outcome), ran_for);
        self.settle(outcome, before, event).await
    }

    /// Takes in a locked step whose task returned (`error` when it
    /// failed): its metrics, its backoff, its log line; the step it makes.
    fn task_ran<E: std::fmt::Display>(
        &mut self,
        type_: &K::Type,
        began: Instant,
        error: Option<&E>,
        retry_after: Option<Duration>,
    ) -> Step {
        let label = if error.is_some() { "failed" } else { "ran" };
        self.lock_metrics(type_, label, Some(began.elapsed()));
        self.wait(retry_after);
        let Some(error) = error else {
            return Step::Done;
        };
        tracing::warn!(
            object = %self.name,
            condition = type_.as_str(),
            %error,
            retry_in = ?retry_after,
            "step failed"
        );
        self.stopped = true;
        Step::Failed
    }

    fn lock_metrics(&self, type_: &K::Type, label: &'static str, ran_for: Option<Duration>) {
        if let Some(metrics) = &self.reconciler.metrics {
            metrics.lock_outcome(&self.reconciler.kind_name, type_.as_str(), label, ran_for);
        }
    }

    /// Takes in a lock's `outcome`: its requeue, its transition, the copy
    /// it stored; the step it makes.
    async fn settle<E: std::fmt::Display>(
        &mut self,
        outcome: Outcome<K, E>,
        before: Option<Condition<K::Type, K::Status>>,
        event: bool,
    ) -> Result<Step, Error> {
        self.wait(outcome.requeue_after());
        let step = match outcome {
            Outcome::Ran {
                object,
                condition,
                error,
                ..
            } => {
                self.reconciler.wrote(&object);
                self.reconciler
                    .transition(&object, before.as_ref(), &condition, event)
                    .await;
                self.stored = Arc::from(object);
                self.refresh()?;
                if error.is_some() {
                    Step::Failed
                } else {
                    Step::Done
                }
            }
            Outcome::Done(_) => Step::Done,
            Outcome::Gone { .. } => {
                // Nothing left to write or to clean up.
                self.phase = Phase::Finished;
                return Ok(Step::Done);
            }
            Outcome::BackingOff(_) => Step::Waiting,
            Outcome::Busy(_) | Outcome::Stale | Outcome::LostLease { .. } => {
                self.trusted = false;
                Step::Waiting
            }
        };
        if step != Step::Done {
            self.stopped = true;
        }
        Ok(step)
    }

    /// The working copy again from the stored one: the checks set on it
    /// (the stored copy has the lock's write, not the checks).
    fn refresh(&mut self) -> Result<(), Error> {
        self.object = (*self.stored).clone();
        let generation = self.object.generation();
        for (type_, verdict) in &self.checked {
            self.object
                .conditions_mut()
                .set(generation, type_, verdict.borrowed())?;
        }
        for step in &self.owned {
            self.object
                .conditions_mut()
                .insert_condition(step.condition.clone())?;
        }
        Ok(())
    }

    /// Releases the last lock alone, if its release is still pending.
    async fn flush(&mut self) -> Result<(), Error> {
        let Some(PendingLock {
            pending,
            before,
            event,
        }) = self.pending.take()
        else {
            return Ok(());
        };
        let outcome = pending
            .release::<std::convert::Infallible>(None, None)
            .await?;
        self.settle(outcome, before, event).await?;
        Ok(())
    }

    fn wait(&mut self, after: Option<Duration>) {
        if let Some(after) = after {
            self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
        }
    }

    /// Ends the run: in the apply phase, computes the summary and kstatus'
    /// conditions on the latest copy and writes the status when it changed
    /// (then records the transitions' Events); when deleting, removes
    /// the finalizer once every cleanup step is done. Returns when to look
    /// again: the earliest requeue a step asked for, else on the next
    /// change.
    pub async fn finish(mut self) -> Result<Action, Error> {
        if self.deferred {
            // Nothing ran: the watch event of our write brings the next
            // reconcile, or the requeue reads the object live. Another
            // member's object is not counted: that member reconciles it.
            let idle = self.reconciler.shard.is_some() && self.claim.is_none();
            if let Some(metrics) = self.reconciler.metrics.as_ref().filter(|_| !idle) {
                metrics.reconciled(&self.reconciler.kind_name, self.started.elapsed());
            }
            return Ok(self
                .requeue
                .map_or_else(Action::await_change, Action::requeue));
        }
        let deleting = self.object.meta().deletion_timestamp.is_some();
        let mut gone = false;
        match self.phase {
            Phase::Cleanup if !self.cleanup_pending => gone = self.remove_finalizer().await?,
            Phase::Apply if self.trusted => self.write_status().await?,
            Phase::Finished | Phase::Cleanup | Phase::Apply => self.flush().await?,
        }
        if self.phase == Phase::Finished {
            gone |= deleting;
        }
        if self.retry {
            let delay = self.reconciler.failed_again(&self.object);
            self.wait(Some(delay));
        } else {
            self.reconciler.memory.succeeded(&uid(&self.object));
        }
        if let Some(metrics) = &self.reconciler.metrics {
            let namespace = self.object.namespace().unwrap_or_default();
            if gone {
                metrics.forget(&self.reconciler.kind_name, &namespace, &self.name);
            } else if self.trusted
                && self
                    .reconciler
                    .memory
                    .regauge(&uid(&self.object), statuses(&self.object))
            {
                metrics.conditions(
                    &self.reconciler.kind_name,
                    &namespace,
                    &self.name,
                    &self.object,
                );
            }
            metrics.reconciled(&self.reconciler.kind_name, self.started.elapsed());
        }
        Ok(self
            .requeue
            .map_or_else(Action::await_change, Action::requeue))
    }

    /// Every cleanup step is done: removes the finalizer (with the last
    /// lock's release when nothing else holds the object: one request
    /// deletes it). Whether the object is gone for this process.
    async fn remove_finalizer(&mut self) -> Result<bool, Error> {
        let Some(finalizer) = self.reconciler.finalizer.clone() else {
            self.flush().await?;
            return Ok(true);
        };
        if let Some(lock) = self.pending.take() {
            match lock
                .pending
                .release_with_finalizer_removal(&finalizer)
                .await
            {
                Ok(stored) => {
                    self.reconciler.wrote(&stored);
                    self.reconciler.memory.released(&uid(&self.object));
                    return Ok(true);
                }
                Err(pending) => self.pending = Some(PendingLock { pending, ..lock }),
            }
        }
        self.flush().await?;
        match self.phase {
            Phase::Finished => return Ok(true),
            // Another worker took the lock over: its run removes the finalizer.
            _ if !self.trusted => return Ok(false),
            _ => {}
        }
        if let Some(stored) = remove_finalizer(
            &self.api,
            &self.name,
            &self.object,
            &finalizer,
            &self.reconciler.manager,
        )
        .await?
        {
            self.reconciler.wrote(&stored);
        }
        self.reconciler.memory.released(&uid(&self.object));
        Ok(true)
    }

    async fn write_status(&mut self) -> Result<(), Error> {
        if self.claim.is_some() {
            return self.write_owned_status().await;
        }
        self.object.initialize_conditions();
        self.object.update_summary()?;
        // Only what the apply sends counts: the lock's conditions are
        // initialised too, but never written by it.
        let mut applied = Applied::of(&self.object);
        if let Some(lock) = self.pending.take() {
            if applied != Applied::of(&*self.stored) {
                let ops = status_ops(&*self.stored, &self.object).map_err(LockError::from)?;
                let condition = lock.pending.condition().clone();
                let span = tracing::debug_span!("release_with_status", object = %self.name);
                match lock
                    .pending
                    .release_with_status(ops, &self.reconciler.manager)
                    .instrument(span)
                    .await
                {
                    Ok(stored) => {
                        self.reconciler
                            .transition(&stored, lock.before.as_ref(), &condition, lock.event)
                            .await;
                        return self.written(stored).await;
                    }
                    Err(pending) => self.pending = Some(PendingLock { pending, ..lock }),
                }
            }
            // Nothing to carry, or the object changed since the acquire:
            // release alone, then compute the status on what it stored.
            self.flush().await?;
            if !self.trusted || self.phase != Phase::Apply {
                return Ok(());
            }
            self.object.initialize_conditions();
            self.object.update_summary()?;
            applied = Applied::of(&self.object);
        }
        if applied == Applied::of(&*self.stored) {
            return Ok(());
        }
        let span = tracing::debug_span!("apply_status", object = %self.name);
        let stored = apply_status_if_current(&self.api, &self.object, &self.reconciler.manager)
            .instrument(span)
            .await?;
        let Some(stored) = stored else {
            // Changed since this copy (another replica, or a write of ours
            // the cache has not shown yet): the newer copy comes back as a
            // watch event, and its transitions are that writer's to record.
            tracing::debug!(object = %self.name, "status changed since this copy; not applied");
            return Ok(());
        };
        self.written(stored).await
    }

    /// The status write under a shard member's claim: one JSON Patch, the
    /// locked steps' conditions included, that tests the resourceVersion
    /// of the copy it was computed from. Refused because the object
    /// changed, and with steps that ran to record: read live and write
    /// again on that copy (their side effects are done; losing the record
    /// would run them again).
    async fn write_owned_status(&mut self) -> Result<(), Error> {
        const ATTEMPTS: usize = 3;
        if !self.still_owned() {
            // Moved while the steps ran (or this member paused past its
            // lease): the new owner writes.
            tracing::info!(object = %self.name, "no longer this member's: nothing written");
            return Ok(());
        }
        for attempt in 1..=ATTEMPTS {
            self.object.initialize_conditions();
            self.object.update_summary()?;
            if self.owned.is_empty() && Applied::of(&self.object) == Applied::of(&*self.stored) {
                // The reconcile its own write set off, most often: nothing
                // to write, and no need to serialize both copies to see it.
                return Ok(());
            }
            let mut ops = status_ops(&*self.stored, &self.object).map_err(LockError::from)?;
            if ops.is_empty() {
                return Ok(());
            }
            let rv = self.stored.meta().resource_version.clone();
            ops.insert(
                0,
                serde_json::json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}),
            );
            let span = tracing::debug_span!("patch_status", object = %self.name, attempt);
            let written =
                crate::lock::patch_status(&self.api, &self.name, &ops, &self.reconciler.manager)
                    .instrument(span)
                    .await;
            match written {
                Ok(stored) => {
                    for step in std::mem::take(&mut self.owned) {
                        self.reconciler
                            .transition(&stored, step.before.as_ref(), &step.condition, step.event)
                            .await;
                    }
                    return self.written(stored).await;
                }
                Err(error) if crate::lock::is_stale_write(&error) => {
                    if self.owned.is_empty() {
                        tracing::debug!(object = %self.name, "status changed since this copy; not written");
                        return Ok(());
                    }
                    tracing::debug!(object = %self.name, %error, "status changed since this copy: writing the steps' conditions on the live one");
                    match self.api.get_opt(&self.name).await {
                        Ok(Some(live)) => {
                            self.stored = Arc::new(live);
                            self.keep_owned_steps();
                            if self.owned.is_empty() {
                                return Ok(());
                            }
                            self.refresh()?;
                        }
                        Ok(None) => return Ok(()),
                        Err(error) => return Err(Error::Read(error)),
                    }
                }
                Err(error) => return Err(Error::WriteStatus(error)),
            }
        }
        tracing::warn!(object = %self.name, "status kept changing: the steps' conditions were not written, they run again");
        Ok(())
    }

    /// Whether this run's shard member still owns the object (and acts).
    fn still_owned(&self) -> bool {
        let uid = uid(&*self.stored);
        self.reconciler
            .shard
            .as_ref()
            .is_some_and(|m| m.claim(&uid).is_some())
    }

    /// Drops the locked steps' conditions that must not be written on the
    /// live copy any more: all of them once this member no longer owns the
    /// object (its membership lapsed, a pause included: the new owner's
    /// record stands), and each one the live copy has for a newer
    /// generation.
    fn keep_owned_steps(&mut self) {
        let owner = self.still_owned();
        let live = self.stored.conditions().cloned();
        self.owned.retain(|step| {
            owner
                && live
                    .as_ref()
                    .and_then(|c| c.find(&step.condition.type_))
                    .and_then(|c| c.observed_generation)
                    .is_none_or(|g| Some(g) <= step.condition.observed_generation)
        });
    }

    /// Takes in the status write that stored `stored`: remembers it, and
    /// records the transitions of what it applied.
    async fn written(&mut self, stored: K) -> Result<(), Error> {
        self.reconciler.wrote(&stored);
        let written = stored.conditions().into_iter().flat_map(|c| c.iter());
        for after in written.filter(|c| c.type_.written_by() == WrittenBy::Apply) {
            let before = self
                .original
                .conditions()
                .and_then(|c| c.find(&after.type_));
            // Events for the checks and the summary only: the others
            // (kstatus', the initialised ones) would say it again.
            let event = K::Type::summary().as_ref() == Some(&after.type_)
                || self.checked.iter().any(|(t, _)| *t == after.type_);
            self.reconciler
                .transition(&stored, before, after, event)
                .await;
        }
        self.object = stored;
        Ok(())
    }
}

/// The JSON Patch operations that turn `stored`'s status into `object`'s,
/// field by field, so fields of the status this type does not know are
/// left alone. The conditions list is written whole: the patch carrying
/// them tests that the object is still `stored`.
fn status_ops<K: Serialize>(
    stored: &K,
    object: &K,
) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    use serde_json::{Map, Value, json};
    let status = |object: &K| -> Result<Map<String, Value>, serde_json::Error> {
        Ok(match serde_json::to_value(object)? {
            Value::Object(mut fields) => match fields.remove("status") {
                Some(Value::Object(status)) => status,
                _ => Map::new(),
            },
            _ => Map::new(),
        })
    };
    let (old, new) = (status(stored)?, status(object)?);
    let path = |key: &str| format!("/status/{}", key.replace('~', "~0").replace('/', "~1"));
    let mut ops: Vec<Value> = new
        .iter()
        .filter(|(key, value)| old.get(*key) != Some(*value))
        .map(|(key, value)| json!({"op": "add", "path": path(key), "value": value}))
        .collect();
    ops.extend(
        old.keys()
            .filter(|key| !new.contains_key(*key))
            .map(|key| json!({"op": "remove", "path": path(key)})),
    );
    Ok(ops)
}

/// How `after` replaced `before`, when its status changed.
fn status_change<T: ConditionType, S: ConditionStatus>(
    before: Option<&Condition<T, S>>,
    after: &Condition<T, S>,
) -> Option<Change<S>> {
    match before {
        None => Some(Change::Added),
        Some(before) if before.status != after.status => Some(Change::Transitioned {
            from: before.status.clone(),
        }),
        Some(_) => None,
    }
}

/// The Event of a status `change` of `after`: for the summary, and for any
/// other condition entering its bad state. A condition reaching its good
/// state is told by the summary's Event: one Event per resource on the
/// happy path, so Events stay within a reconcile's write budget.
fn event_for<T: ConditionType, S: ConditionStatus>(
    change: &Change<S>,
    after: &Condition<T, S>,
) -> Option<TransitionEvent> {
    if T::summary().as_ref() != Some(&after.type_) && after.is_good() {
        return None;
    }
    change.event(after)
}

/// Whether `object` holds a condition of `type_`, typed or kept raw (a
/// lock's condition exists from its first acquire on).
fn ever_locked<K: ConditionalResource>(object: &K, type_: &K::Type) -> bool {
    object.conditions().is_some_and(|c| {
        c.find(type_).is_some()
            || c.unrecognized()
                .any(|raw| raw.type_name() == Some(type_.as_str()))
    })
}

/// What a status apply says, without transition times: a copy computed
/// again from a stale cache gets new times for the same verdicts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Applied {
    conditions: Vec<(String, &'static str, String, String, Option<i64>)>,
    observed_generation: Option<i64>,
}

impl Applied {
    fn of<K: ConditionalResource>(object: &K) -> Self {
        let conditions = object
            .conditions()
            .into_iter()
            .flat_map(|c| c.iter())
            .filter(|c| c.type_.written_by() == WrittenBy::Apply)
            .filter(|c| !cleared_by_an_older_release(c))
            .map(|c| {
                (
                    c.type_.as_str().to_owned(),
                    c.status.as_str(),
                    c.reason.clone(),
                    c.message.clone(),
                    c.observed_generation,
                )
            })
            .collect();
        let observed_generation = object
            .resource_status()
            .and_then(crate::ConditionalStatus::observed_generation);
        Self {
            conditions,
            observed_generation,
        }
    }
}

/// kstatus' `Reconciling` or `Stalled` written False, as releases before
/// they became abnormal-true (present only while True) wrote them: the
/// same as absent. Replicas of both releases then agree on what is
/// written during a rolling upgrade instead of rewriting each other's
/// status for every object; the next write of this release removes it.
fn cleared_by_an_older_release<T: ConditionType, S: ConditionStatus>(
    condition: &Condition<T, S>,
) -> bool {
    condition.status == S::FALSE
        && crate::declaration::abnormal_true::<T>().any(|t| t == condition.type_)
}

/// A digest of `object`'s condition types and statuses: what the gauges show.
fn statuses<K: ConditionalResource>(object: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for condition in object.conditions().into_iter().flat_map(|c| c.iter()) {
        condition.type_.as_str().hash(&mut hasher);
        condition.status.as_str().hash(&mut hasher);
    }
    hasher.finish()
}

/// An object's resourceVersion as a number (comparable since Kubernetes 1.35).
fn resource_version<K: Resource>(object: &K) -> Option<u64> {
    object.meta().resource_version.as_deref()?.parse().ok()
}

/// The `outcome` label of a lock run.
fn outcome_label<K: ConditionalResource, E>(outcome: &Outcome<K, E>) -> &'static str {
    match outcome {
        Outcome::Ran { error: None, .. } => "ran",
        Outcome::Ran { .. } => "failed",
        Outcome::Done(_) => "done",
        Outcome::Busy(_) => "busy",
        Outcome::BackingOff(_) => "backing_off",
        Outcome::Stale => "stale",
        Outcome::LostLease { .. } => "lost_lease",
        Outcome::Gone { .. } => "gone",
    }
}

/// Adds `finalizer`, on the condition that the list is still the copy's
/// (two replicas never add it twice). A lost race is not an error: the
/// winner's change comes back as a watch event.
async fn add_finalizer<K>(
    api: &Api<K>,
    name: &str,
    object: &K,
    finalizer: &str,
    manager: &str,
) -> Result<Option<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let current = object.finalizers();
    let patch = if current.is_empty() {
        serde_json::json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [finalizer] },
        ])
    } else {
        serde_json::json!([
            { "op": "test", "path": "/metadata/finalizers", "value": current },
            { "op": "add", "path": "/metadata/finalizers/-", "value": finalizer },
        ])
    };
    patch_finalizers(api, name, patch, manager, "add_finalizer")
        .await
        .map_err(Error::AddFinalizer)
}

/// Removes `finalizer` where the copy has it, on the condition that it is
/// still there (never someone else's entry).
async fn remove_finalizer<K>(
    api: &Api<K>,
    name: &str,
    object: &K,
    finalizer: &str,
    manager: &str,
) -> Result<Option<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(index) = object.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(None);
    };
    let path = format!("/metadata/finalizers/{index}");
    let patch = serde_json::json!([
        { "op": "test", "path": path, "value": finalizer },
        { "op": "remove", "path": path },
    ]);
    patch_finalizers(api, name, patch, manager, "remove_finalizer")
        .await
        .map_err(Error::RemoveFinalizer)
}

async fn patch_finalizers<K>(
    api: &Api<K>,
    name: &str,
    patch: serde_json::Value,
    manager: &str,
    what: &'static str,
) -> Result<Option<K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch: json_patch::Patch =
        serde_json::from_value(patch).expect("a finalizer patch is a valid JSON Patch");
    let span = tracing::debug_span!("finalizer", %name, what);
    // Named in managedFields as the reconciler's manager, not "unknown".
    let params = PatchParams {
        field_manager: Some(manager.to_owned()),
        ..PatchParams::default()
    };
    match api
        .patch(name, &params, &Patch::Json::<()>(patch))
        .instrument(span)
        .await
    {
        Ok(stored) => Ok(Some(stored)),
        // Gone, or changed since the copy (the test failed): a lost race;
        // the change that won comes back as a watch event.
        Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409 | 422) => {
            tracing::debug!(%name, what, code = status.code, "lost a race for the finalizer");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// An error with its causes, `a: b: c`, for logs.
struct Chain<'a, E: ?Sized>(&'a E);

impl<E: std::error::Error + ?Sized> std::fmt::Display for Chain<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
