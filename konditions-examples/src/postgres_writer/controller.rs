//! The PostgresWriter controller: kube-runtime's `Controller` reconciling
//! `PostgresWriter` resources into rows.
//!
//! Per resource, top to bottom:
//! 1. the finalizer is added before anything is written (kube-runtime's
//!    `finalizer` helper), so no row can outlive its resource;
//! 2. the table is checked; `TableReady` says what was found;
//! 3. when the table is usable and `RowWritten` is not `True` for the
//!    current generation, the upsert runs under the konditions lock on
//!    `RowWritten`, with the lock's fencing token: two replicas (or a
//!    replica with a stale cache, or one paused past its lease) never write
//!    the same generation twice nor an older one over a newer one;
//! 4. `Ready` summarises the two, and is applied when it changed;
//! 5. on deletion, the row is deleted under the same lock (once per
//!    deletion), then the finalizer is removed. While the database is down,
//!    the finalizer stays.
//!
//! Its own status writes come back as watch events and run the reconciler
//! again; that costs one reconcile that writes nothing, because the lock
//! refuses to rerun a task that is done for this generation or that failed
//! and waits for its backoff, and the conditions are applied only when they
//! changed. Retries come from requeues that follow the lock's backoff (a
//! failed write) or `error_policy`'s (a table that cannot be used).
//!
//! Writes to the status are split by owner so they never clobber each
//! other: `RowWritten` (declared `lock`) is written only by the lock (a
//! compare-and-swap JSON Patch); `TableReady`, the summary `Ready`, kstatus'
//! `Reconciling` and `Stalled` and `status.observedGeneration` only by
//! server-side apply with the field manager [`FIELD_MANAGER`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use konditions_core::apply::apply_status_if_current;
use konditions_core::lock::{
    self, Backoff, LeaseLost, Lock, LockError, Outcome, Reason, TaskError,
};
use konditions_core::{
    ApplyError, Condition, ConditionError, ConditionStatus, ConditionType, ConditionalResource,
    Status, Verdict, WrittenBy,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use super::recovery::{Recovery, Waiting, waits_for_database};
use super::{
    Health, InvalidTableName, Metrics, PostgresWriter, PostgresWriterCondition, PostgresWriterLock,
    Row, Rows, StoreError, TableName, TableShape,
};

#[cfg(test)]
#[path = "controller_tests.rs"]
mod tests;

/// The finalizer that keeps a resource until its row is deleted.
pub const FINALIZER: &str = "demo.yash.com/row-cleanup";

/// The field manager of the conditions written with server-side apply
/// (`TableReady`, `Ready`).
pub const FIELD_MANAGER: &str = "postgres-writer";

/// How long the hand-over of the locks of abandoned reconciles may take
/// after the shutdown grace (one write per lock).
const HAND_OVER_WAIT: Duration = Duration::from_secs(5);

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Who holds the locks this process takes (unique per replica, e.g. the
    /// pod name).
    pub holder: String,
    /// How long a lock is held before another replica may take over, unless
    /// renewed (it is, while the write runs).
    pub lease: Duration,
    /// How many resources are reconciled at once (0: no limit).
    pub concurrency: u16,
    /// Watch only this namespace (`None`: every namespace).
    pub namespace: Option<String>,
    /// After a shutdown is requested, how long the reconciles in flight may
    /// take to finish before they are abandoned (their locks then expire
    /// after the lease, and another replica takes over).
    pub shutdown_grace: Duration,
    /// The wait before a failed resource is retried, growing with each
    /// consecutive failure: for the row write (the lock keeps it) and for
    /// the table check. A resource that waits for the database is retried
    /// as soon as it is back, whatever this says.
    pub retry_backoff: Backoff,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            holder: konditions_core::lock::default_holder(),
            lease: Duration::from_secs(30),
            concurrency: 16,
            namespace: None,
            shutdown_grace: Duration::from_secs(20),
            retry_backoff: Backoff::default(),
        }
    }
}

/// What a reconcile can fail with. The controller retries with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API call failed")]
    Kube(#[from] kube::Error),
    /// The lock failed (not a refused compare-and-swap: those are outcomes).
    #[error("the row lock failed")]
    Lock(#[from] LockError),
    /// Writing the conditions failed.
    #[error("writing the status failed")]
    Apply(#[from] ApplyError),
    /// A condition could not be set.
    #[error("a condition could not be set")]
    Condition(#[from] ConditionError),
    /// The table cannot be used; `TableReady` says why.
    #[error(transparent)]
    Table(StoreError),
    /// The row could not be deleted yet (database down, another replica on
    /// it); retried after `retry_after`, the finalizer stays meanwhile.
    #[error("row deletion deferred: {why}")]
    Deferred {
        /// Why.
        why: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The finalizer machinery failed.
    #[error("finalizer")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    /// The resource is not namespaced (the CRD is; this is a bug elsewhere).
    #[error("PostgresWriter {0} has no namespace")]
    NoNamespace(String),
}

/// Why the row task failed.
#[derive(Debug, thiserror::Error)]
enum RowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lost(#[from] LeaseLost),
}

impl Reason for RowError {
    fn reason(&self) -> &str {
        match self {
            Self::Store(e) => store_reason(e),
            Self::Lost(e) => e.reason(),
        }
    }
}

/// The reason a store error is reported with, in conditions and Events.
fn store_reason(error: &StoreError) -> &'static str {
    match error {
        StoreError::Unavailable(_) => "DatabaseUnavailable",
        StoreError::TableMissing(_) => "TableMissing",
        StoreError::TableIncompatible { .. } => "TableIncompatible",
        StoreError::InvalidValue { .. } => "InvalidValue",
        StoreError::Fenced { .. } => "StaleFencingToken",
        StoreError::TokenOutOfRange(_) => "FencingTokenOutOfRange",
        StoreError::Query(_) => "QueryFailed",
        StoreError::Tls(_) => "TlsMisconfigured",
    }
}

/// What every reconcile shares.
struct Context<R> {
    client: Client,
    store: R,
    recorder: Recorder,
    options: Options,
    metrics: Metrics,
    /// Consecutive failures per resource, for `error_policy`'s backoff.
    failures: Mutex<HashMap<ObjectRef<PostgresWriter>, u32>>,
    /// Objects whose finalizer this process removed recently.
    released: Recent<()>,
    /// The last status this process applied per object, and the
    /// resourceVersion it got.
    applied: Recent<(u64, Applied)>,
    /// The resources waiting for the database, retried once it is back.
    recovery: Recovery,
}

/// A bounded map from recent objects' UIDs (the oldest are forgotten first).
struct Recent<V>(Mutex<std::collections::VecDeque<(String, V)>>);

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<V: Clone> Recent<V> {
    const CAPACITY: usize = 4096;

    fn insert(&self, uid: String, value: V) {
        let mut recent = self.0.lock().unwrap_or_else(|p| p.into_inner());
        recent.retain(|(u, _)| *u != uid);
        if recent.len() == Self::CAPACITY {
            recent.pop_front();
        }
        recent.push_back((uid, value));
    }

    fn get(&self, uid: &str) -> Option<V> {
        let recent = self.0.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .iter()
            .find(|(u, _)| u == uid)
            .map(|(_, v)| v.clone())
    }
}

/// What an apply of the status said, without transition times: a copy
/// computed again from a stale cache gets new times for the same verdicts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Applied {
    conditions: Vec<(String, String, String, String, Option<i64>)>,
    observed_generation: Option<i64>,
}

impl Applied {
    fn of(writer: &PostgresWriter) -> Self {
        let conditions = writer
            .conditions()
            .into_iter()
            .flat_map(|c| c.iter())
            .filter(|c| c.type_.written_by() == WrittenBy::Apply)
            .map(|c| {
                (
                    c.type_.as_str().to_owned(),
                    c.status.as_str().to_owned(),
                    c.reason.clone(),
                    c.message.clone(),
                    c.observed_generation,
                )
            })
            .collect();
        Self {
            conditions,
            observed_generation: writer.status.as_ref().and_then(|s| s.observed_generation),
        }
    }
}

/// An object's resourceVersion as a number (comparable since Kubernetes 1.35).
fn resource_version(writer: &PostgresWriter) -> Option<u64> {
    writer.metadata.resource_version.as_deref()?.parse().ok()
}

/// How [`run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Every reconcile in flight finished.
    Drained,
    /// Some did not finish within [`Options::shutdown_grace`] and were
    /// abandoned; their locks expire after the lease.
    GraceExpired,
}

/// Runs the controller until `shutdown` completes, then gives the
/// reconciles in flight [`Options::shutdown_grace`] to finish and returns.
///
/// `health` becomes ready when the watch has listed every PostgresWriter,
/// and shutting down as soon as `shutdown` completes.
///
/// ```no_run
/// use konditions_examples::postgres_writer::{controller, Health, Metrics, PostgresConfig, Store};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = kube::Client::try_default().await?;
/// let store = Store::new(&PostgresConfig::from_env()?, 16)?;
/// let options = controller::Options::default();
/// let stopped = controller::run(client, store, options, Metrics::default(), Health::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await;
/// if stopped == controller::Stopped::GraceExpired {
///     std::process::exit(1);
/// }
/// # Ok(()) }
/// ```
pub async fn run(
    client: Client,
    store: impl Rows,
    options: Options,
    metrics: Metrics,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Stopped {
    let reporter = Reporter {
        controller: "postgres-writer".into(),
        instance: Some(options.holder.clone()),
    };
    let context = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        store,
        metrics,
        failures: Mutex::default(),
        released: Recent::default(),
        applied: Recent::default(),
        recovery: Recovery::default(),
        options: options.clone(),
    });
    // Resources that waited for the database, sent again as soon as it is
    // usable (see `recovery`).
    let (wake, woken) = futures::channel::mpsc::unbounded();
    let probe = {
        let context = context.clone();
        tokio::spawn(async move { context.recovery.probe(context.store.clone(), wake).await })
    };
    let _stop_probe = AbortOnDrop(probe);
    let writers: Api<PostgresWriter> = match &options.namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    info!(holder = %options.holder, "postgres-writer controller starting");
    let controller = Controller::new(writers, watcher::Config::default())
        .with_config(kube::runtime::controller::Config::default().concurrency(options.concurrency))
        .trigger_backoff(WatchBackoff::default())
        .reconcile_on(woken);
    let cache = controller.store();
    let synced = health.clone();
    // Polled in the controller's task, not a task of its own: the store
    // keeps only its last waiter's waker, and the controller waits on it
    // too; in one task, the wake-up reaches both.
    let readiness = async move {
        // Err: the controller stopped before its first list completed.
        if cache.wait_until_ready().await.is_ok() {
            synced.mark_synced();
            info!("watch synced: ready");
        }
    };
    let (stopping, stop_requested) = tokio::sync::oneshot::channel::<()>();
    let requested = async move {
        shutdown.await;
        health.mark_shutting_down();
        let _ = stopping.send(());
    };
    let reconciles = controller
        .graceful_shutdown_on(requested)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                // Reconcile errors are logged by error_policy; these are
                // the controller's own (watch failures, missing objects).
                tracing::debug!(error = %Chain(&error), "controller");
            }
        });
    let reconciles = async {
        tokio::join!(reconciles, readiness);
    };
    let grace = async {
        if stop_requested.await.is_err() {
            // The controller ended without a shutdown request.
            std::future::pending::<()>().await;
        }
        info!(grace = ?options.shutdown_grace, "shutdown requested: finishing the reconciles in flight");
        tokio::time::sleep(options.shutdown_grace).await;
        // The reconciles still running are abandoned: hand their locks to
        // the other replicas now rather than at the end of the lease.
        let still_held = lock::hand_over(HAND_OVER_WAIT).await;
        if still_held > 0 {
            warn!(still_held, lease = ?options.lease, "locks not handed over in time expire with their lease");
        }
    };
    // Dropping the controller's stream aborts the reconciles still running.
    let stopped = tokio::select! {
        () = reconciles => Stopped::Drained,
        () = grace => Stopped::GraceExpired,
    };
    match stopped {
        Stopped::Drained => info!("postgres-writer controller stopped"),
        Stopped::GraceExpired => warn!(
            grace = ?options.shutdown_grace,
            lease = ?options.lease,
            "reconciles still running after the shutdown grace were abandoned; their locks were handed over"
        ),
    }
    stopped
}

async fn reconcile<R: Rows>(
    writer: Arc<PostgresWriter>,
    ctx: Arc<Context<R>>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let object_ref = ObjectRef::from_obj(&*writer);
    ctx.recovery.reconciling(&object_ref);
    let result = reconcile_one(writer, &ctx).await;
    ctx.recovery.reconciled(&object_ref);
    let label = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics.reconciled(label, started.elapsed());
    if result.is_ok() {
        ctx.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&object_ref);
    }
    result
}

async fn reconcile_one<R: Rows>(
    writer: Arc<PostgresWriter>,
    ctx: &Context<R>,
) -> Result<Action, Error> {
    let namespace = writer
        .namespace()
        .ok_or_else(|| Error::NoNamespace(writer.name_any()))?;
    let api: Api<PostgresWriter> = Api::namespaced(ctx.client.clone(), &namespace);
    let deleting = writer
        .metadata
        .deletion_timestamp
        .is_some()
        .then(|| writer.uid())
        .flatten();
    if deleting
        .as_ref()
        .is_some_and(|uid| ctx.released.get(uid).is_some())
    {
        // This process removed the finalizer already; the copy predates it
        // (the watch events of our own status writes come first).
        return Ok(Action::await_change());
    }
    let result = finalizer::finalizer(&api, FINALIZER, writer, |event| async {
        match event {
            Finalizer::Apply(writer) => apply(&api, &writer, ctx).await,
            Finalizer::Cleanup(writer) => cleanup(&api, &writer, ctx).await,
        }
    })
    .await;
    match result {
        Ok(action) => {
            if let Some(uid) = deleting {
                ctx.released.insert(uid, ());
            }
            Ok(action)
        }
        Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => Err(e),
        // Another replica finished the cleanup first and the object is gone;
        // or added the finalizer first (or the object changed since our
        // copy): a lost race, not a failure. The change that won comes back
        // as a watch event and runs this again.
        Err(finalizer::Error::RemoveFinalizer(e) | finalizer::Error::AddFinalizer(e))
            if is_gone_or_changed(&e) =>
        {
            tracing::debug!(error = %e, "lost a race for the finalizer");
            Ok(Action::await_change())
        }
        Err(other) => Err(Error::Finalizer(Box::new(other))),
    }
}

fn is_gone_or_changed(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if matches!(status.code, 404 | 409 | 422))
}

/// Backoff per resource for failures that are not the row task's (whose
/// backoff the lock keeps): [`Options::retry_backoff`], by default 1 s,
/// 2 s, 4 s ... up to 5 minutes.
fn error_policy<R>(writer: Arc<PostgresWriter>, error: &Error, ctx: Arc<Context<R>>) -> Action {
    let delay = match error {
        Error::Deferred { retry_after, .. } => *retry_after,
        _ => {
            let mut failures = ctx
                .failures
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let count = failures.entry(ObjectRef::from_obj(&*writer)).or_insert(0);
            *count = count.saturating_add(1);
            // The policy the lock keeps for the row task.
            ctx.options.retry_backoff.delay(*count)
        }
    };
    warn!(
        writer = %writer.name_any(),
        namespace = writer.namespace().unwrap_or_default(),
        error = %Chain(error),
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// The row a resource asks for.
fn row(writer: &PostgresWriter) -> Row {
    Row {
        id: format!(
            "{}/{}",
            writer.namespace().unwrap_or_default(),
            writer.name_any()
        ),
        name: writer.spec.name.clone(),
        age: writer.spec.age,
        country: writer.spec.country.clone(),
    }
}

/// Whether `RowWritten` already says the row holds this generation.
fn row_is_current(writer: &PostgresWriter) -> bool {
    writer
        .conditions()
        .and_then(|c| c.find(&PostgresWriterCondition::RowWritten))
        .is_some_and(|c| c.status == Status::True && c.observed_generation == writer.generation())
}

/// What the table check found.
enum Table {
    /// Usable.
    Ready(TableName, TableShape),
    /// The spec names no valid table (the CRD's pattern prevents it; an
    /// object stored before the schema was tightened can).
    Invalid(InvalidTableName),
    /// Not usable now.
    Unusable(StoreError),
}

/// What the row step did.
enum RowStep {
    /// Nothing was written: the row holds this generation, or the table
    /// cannot take it.
    Skipped,
    /// The lock ran the upsert; the object as stored after the release.
    Ran {
        object: Box<PostgresWriter>,
        retry_after: Option<Duration>,
    },
    /// Another replica wrote it, or holds the lock; our copy was stale; or
    /// the last attempt failed and waits for its backoff.
    Later(Duration),
    /// The object is gone.
    Gone,
}

async fn apply<R: Rows>(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    ctx: &Context<R>,
) -> Result<Action, Error> {
    let table = match TableName::new(&writer.spec.table) {
        Err(invalid) => Table::Invalid(invalid),
        Ok(name) => match ctx.store.check_table(&name).await {
            Ok(shape) => Table::Ready(name, shape),
            Err(error) => {
                let waiting = match &error {
                    StoreError::Unavailable(_) => Some(Waiting::Database),
                    StoreError::TableMissing(table) => Some(Waiting::Table(table.clone())),
                    _ => None,
                };
                if let Some(waiting) = waiting {
                    ctx.recovery.wait(ObjectRef::from_obj(writer), waiting);
                }
                Table::Unusable(error)
            }
        },
    };
    let row = match &table {
        Table::Ready(name, _) if !row_is_current(writer) => {
            write_row(api, writer, name, ctx).await?
        }
        _ => RowStep::Skipped,
    };
    let current = match &row {
        RowStep::Ran { object, .. } => object,
        RowStep::Gone => return Ok(Action::await_change()),
        // Our copy is stale, or another replica is writing: a summary
        // computed from it could only be older than what is stored.
        RowStep::Later(after) => return Ok(Action::requeue(*after)),
        RowStep::Skipped => writer,
    };
    update_status(api, current, table_verdict(&table), ctx).await?;
    match (table, row) {
        (Table::Unusable(error), _) => Err(Error::Table(error)),
        // Nothing will change until the spec does.
        (Table::Invalid(_), _) => Ok(Action::await_change()),
        (
            _,
            RowStep::Ran {
                retry_after: Some(after),
                ..
            }
            | RowStep::Later(after),
        ) => Ok(Action::requeue(after)),
        _ => Ok(Action::await_change()),
    }
}

/// Runs the upsert under the lock on `RowWritten`.
async fn write_row<R: Rows>(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    table: &TableName,
    ctx: &Context<R>,
) -> Result<RowStep, Error> {
    let row = row(writer);
    let generation = writer.generation().unwrap_or_default();
    let store = ctx.store.clone();
    let hold = std::env::var_os(HOLD_BEFORE_WRITE_ENV);
    let outcome = row_lock(api, writer, ctx)
        .run(|lock| {
            let (row, table) = (row.clone(), table.clone());
            async move {
                if let Some(previous) = lock.takeover() {
                    // The upsert is idempotent and fenced: redoing a
                    // half-done write of a dead holder is safe.
                    info!(previous = ?previous.holder, id = %row.id, "taking over an expired lock");
                }
                lock.check()?;
                if let Some(dir) = hold {
                    hold_before_write(&dir, &row.id).await;
                }
                store.upsert(&table, &row, lock.token()).await?;
                Ok::<_, RowError>(Verdict::new(Status::True, "RowWritten").message(format!(
                    "row {} in table {table} holds generation {generation}",
                    row.id
                )))
            }
        })
        .await?;
    ctx.metrics.lock_outcome(outcome_label(&outcome));
    let later = outcome.requeue_after().unwrap_or(Duration::from_secs(1));
    Ok(match outcome {
        Outcome::Ran {
            object,
            condition,
            error,
            retry_after,
            ..
        } => {
            record_transition(ctx, writer, &condition, error.as_ref()).await;
            if let Some(error) = &error {
                if waits_for_database(&condition.reason) {
                    ctx.recovery
                        .wait(ObjectRef::from_obj(writer), Waiting::Database);
                }
                warn!(id = %row.id, %error, retry_in = ?retry_after, "row write failed");
            }
            RowStep::Ran {
                object,
                retry_after,
            }
        }
        Outcome::Done(_) => RowStep::Skipped,
        Outcome::Gone { .. } => RowStep::Gone,
        Outcome::LostLease { .. } => {
            warn!(id = %row.id, "lease lost while writing; the new holder's result stands");
            RowStep::Later(later)
        }
        Outcome::BackingOff(_) => {
            // The table is usable now: a backoff for the database's
            // absence is over.
            if last_failure_waits_for_database(writer) {
                ctx.recovery
                    .wait(ObjectRef::from_obj(writer), Waiting::Database);
            }
            RowStep::Later(later)
        }
        _busy_or_stale => RowStep::Later(later),
    })
}

/// Whether `RowWritten` records a failure for want of the database.
fn last_failure_waits_for_database(writer: &PostgresWriter) -> bool {
    writer
        .conditions()
        .and_then(|c| c.find(&PostgresWriterCondition::RowWritten))
        .is_some_and(|c| c.status == Status::False && waits_for_database(&c.reason))
}

/// The lock on a resource's `RowWritten`, held by this replica.
fn row_lock<R>(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    ctx: &Context<R>,
) -> Lock<PostgresWriter> {
    let lock = Lock::new(api.clone(), writer, PostgresWriterLock::RowWritten)
        .holder(ctx.options.holder.clone())
        .lease(ctx.options.lease);
    if ctx.recovery.is_woken(&ObjectRef::from_obj(writer)) {
        // Woken because the database is back: the backoff it waited out
        // was for its absence.
        lock.backoff(Backoff::NONE)
    } else {
        lock.backoff(ctx.options.retry_backoff)
    }
}

fn outcome_label<E>(outcome: &Outcome<PostgresWriter, E>) -> &'static str {
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

/// An Event and a metric for the row task's result: a Warning the first
/// time an attempt fails the way it does (not for every retry).
async fn record_transition<R, E: std::fmt::Display + Reason>(
    ctx: &Context<R>,
    writer: &PostgresWriter,
    condition: &Condition<PostgresWriterCondition>,
    error: Option<&TaskError<E>>,
) {
    ctx.metrics
        .transition(condition.type_.as_str(), condition.status.as_str());
    let previous = writer
        .conditions()
        .and_then(|c| c.find(&PostgresWriterCondition::RowWritten));
    let same_failure = previous.is_some_and(|p| p.reason == condition.reason);
    if let (Some(error), false) = (error, same_failure) {
        // The reason the lock released the condition with.
        publish(
            ctx,
            writer,
            EventType::Warning,
            &condition.reason,
            error.to_string(),
        )
        .await;
    }
}

/// `TableReady` from the table check.
fn table_verdict(table: &Table) -> Verdict<'static> {
    match table {
        Table::Invalid(invalid) => {
            Verdict::new(Status::False, "InvalidTableName").message(invalid.to_string())
        }
        Table::Ready(name, shape) => Verdict::new(Status::True, "TableFound").message(format!(
            "table {name} exists with columns id, name, age, country{}",
            if shape.fencing_token {
                ", fencing_token"
            } else {
                " (no fencing_token column: fencing through postgres_writer_fences alone)"
            }
        )),
        // Down: whether the table exists is unknown, not false.
        Table::Unusable(error @ StoreError::Unavailable(_)) => {
            Verdict::new(Status::Unknown, store_reason(error)).message(error.to_string())
        }
        Table::Unusable(error) => {
            Verdict::new(Status::False, store_reason(error)).message(error.to_string())
        }
    }
}

/// Sets `TableReady`, then the summary `Ready`, kstatus' `Reconciling` and
/// `Stalled` and `status.observedGeneration` on `current` (the freshest
/// copy we have), and applies them when they changed; records `Ready`'s
/// transitions as Events.
async fn update_status<R>(
    api: &Api<PostgresWriter>,
    current: &PostgresWriter,
    table: Verdict<'static>,
    ctx: &Context<R>,
) -> Result<(), Error> {
    let object_ref = current.object_ref(&());
    let mut current = current.clone();
    let clock = konditions_core::SystemClock;
    let table_change =
        current.set_condition_with(&clock, &PostgresWriterCondition::TableReady, table)?;
    let summary = current.update_summary_with(&clock)?;
    if !table_change.is_changed() && !summary.is_changed() {
        return Ok(());
    }
    // A copy older than our last apply that says the same again: our
    // watch cache has not caught up with that apply yet.
    let applied = Applied::of(&current);
    let uid = current.uid().unwrap_or_default();
    if let (Some((last_rv, last)), Some(rv)) = (ctx.applied.get(&uid), resource_version(&current))
        && rv < last_rv
        && last == applied
    {
        return Ok(());
    }
    // Everything this operator applies; RowWritten is the lock's
    // (declared `lock`), so it is not sent.
    let Some(stored) = apply_status_if_current(api, &current, FIELD_MANAGER).await? else {
        // Another replica (or our own earlier write) changed the object
        // since this copy: what it wrote comes back as a watch event, and
        // the transition's Event is that writer's to record.
        tracing::debug!(object = ?object_ref.name, "status changed since this copy; not applied");
        return Ok(());
    };
    if let Some(rv) = resource_version(&stored) {
        ctx.applied.insert(uid, (rv, applied));
    }
    let conditions = current.conditions_mut();
    for (type_, change) in [
        (PostgresWriterCondition::TableReady, table_change),
        (PostgresWriterCondition::Ready, summary.summary),
        (PostgresWriterCondition::Reconciling, summary.reconciling),
        (PostgresWriterCondition::Stalled, summary.stalled),
    ] {
        if let Some(condition) = conditions.find(&type_).filter(|_| change.is_transition()) {
            ctx.metrics
                .transition(type_.as_str(), condition.status.as_str());
        }
    }
    let ready = conditions.find(&PostgresWriterCondition::Ready);
    if let Some(event) = ready.and_then(|ready| summary.summary.event(ready))
        && let Err(error) = ctx.recorder.publish(&event.into(), &object_ref).await
    {
        tracing::debug!(%error, "could not record an event");
    }
    Ok(())
}

async fn cleanup<R: Rows>(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    ctx: &Context<R>,
) -> Result<Action, Error> {
    let Ok(table) = TableName::new(&writer.spec.table) else {
        // No row can exist in a table that cannot be named.
        return Ok(Action::await_change());
    };
    let id = row(writer).id;
    let store = ctx.store.clone();
    let outcome = row_lock(api, writer, ctx)
        .run(|lock| {
            let (id, table) = (id.clone(), table.clone());
            async move {
                lock.check()?;
                let deleted = store.delete(&table, &id, lock.token()).await?;
                Ok::<_, RowError>(
                    Verdict::new(Status::False, "RowDeleted").message(if deleted {
                        format!("row {id} deleted from table {table}")
                    } else {
                        format!("no row {id} in table {table} to delete")
                    }),
                )
            }
        })
        .await?;
    ctx.metrics.lock_outcome(outcome_label(&outcome));
    let retry_after = outcome.requeue_after().unwrap_or(Duration::from_secs(1));
    match outcome {
        // Deleted now, or already for this deletion, or the object is gone:
        // the finalizer can go.
        Outcome::Ran { error: None, .. } | Outcome::Done(_) | Outcome::Gone { .. } => {
            Ok(Action::await_change())
        }
        Outcome::Ran {
            error: Some(error),
            condition,
            ..
        } => {
            record_transition(ctx, writer, &condition, Some(&error)).await;
            if waits_for_database(&condition.reason) {
                ctx.recovery
                    .wait(ObjectRef::from_obj(writer), Waiting::Database);
            }
            // An error keeps the finalizer in place.
            Err(Error::Deferred {
                why: error.to_string(),
                retry_after,
            })
        }
        Outcome::Busy(busy) => Err(Error::Deferred {
            why: format!(
                "the row is locked by {}",
                busy.lock.holder.as_deref().unwrap_or("another worker")
            ),
            retry_after,
        }),
        Outcome::BackingOff(wait) => {
            if last_failure_waits_for_database(writer) {
                ctx.recovery
                    .wait(ObjectRef::from_obj(writer), Waiting::Database);
            }
            Err(Error::Deferred {
                why: format!("attempt {} failed, waiting for its backoff", wait.attempt),
                retry_after,
            })
        }
        _ => Err(Error::Deferred {
            why: "the resource changed while its row was being deleted".into(),
            retry_after,
        }),
    }
}

/// Records a Kubernetes Event; a failure to record is logged, not fatal.
async fn publish<R>(
    ctx: &Context<R>,
    writer: &PostgresWriter,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = KubeEvent {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &writer.object_ref(&())).await {
        tracing::debug!(%error, "could not record an event");
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

/// Test-only: when set to a directory, every row write stops right before
/// its statement, creates `<dir>/<id>.held` and waits until
/// `<dir>/<id>.release` exists. Tests use it to pause a replica at that
/// exact point (with SIGSTOP) without relying on timing.
pub const HOLD_BEFORE_WRITE_ENV: &str = "POSTGRES_WRITER_TEST_HOLD_BEFORE_WRITE";

async fn hold_before_write(dir: &std::ffi::OsStr, id: &str) {
    let base = std::path::Path::new(dir).join(id.replace('/', "_"));
    let held = base.with_extension("held");
    let release = base.with_extension("release");
    if let Err(error) = std::fs::write(&held, b"") {
        warn!(%error, path = %held.display(), "test hold: cannot create the marker");
        return;
    }
    while !release.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The backoff of the watch after it fails (an API server restart): 250 ms
/// doubling up to 2 s, so the watch resumes within about 2 s of the API
/// server's return. kube-runtime's default grows to 30 s and reset only
/// after 2 minutes, which left objects created after a restart unseen for
/// up to a minute. One watch per replica: 2 s is no load.
#[derive(Clone, Debug)]
struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    const INITIAL: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(2);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self {
            next: Self::INITIAL,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next;
        self.next = (delay * 2).min(Self::MAX);
        Some(delay)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::INITIAL;
    }
}
