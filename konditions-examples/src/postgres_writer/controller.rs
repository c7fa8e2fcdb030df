//! The PostgresWriter controller: kube-runtime's `Controller` reconciling
//! `PostgresWriter` resources into rows, on konditions' reconcile runner.
//!
//! Per resource, the steps in order (`steps`):
//! 1. the runner adds the finalizer before anything is written, so no row
//!    can outlive its resource;
//! 2. a check: the table; `TableReady` says what was found, and a table
//!    that cannot be used stops the steps after it (and is looked at
//!    again on the runner's backoff, or as soon as the database is back);
//! 3. the upsert, under the lock on `RowWritten`, with the lock's fencing
//!    token: two replicas (or a replica with a stale cache, or one paused
//!    past its lease) never write the same generation twice nor an older
//!    one over a newer one;
//! 4. on deletion only: the row deleted under the same lock (once per
//!    deletion); the runner removes the finalizer once that is done. While
//!    the database is down, the finalizer stays.
//!
//! The runner then writes `TableReady`, the summary `Ready`, kstatus'
//! `Reconciling` and `Stalled` and `status.observedGeneration` with
//! server-side apply as [`FIELD_MANAGER`] when they changed, records the
//! Events and requeues on the earliest backoff a step asked for.
//! `RowWritten` (declared `lock`) is written only by the lock.
//!
//! Its own status writes come back as watch events and run the reconciler
//! again; that costs one reconcile that writes nothing, because the lock
//! refuses to rerun a task that is done for this generation or that failed
//! and waits for its backoff, and the runner writes the status only when
//! it changed.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use konditions_core::lock::{self, Backoff, LeaseLost, LockContext, Reason};
use konditions_core::reconcile::{self, Phase, Reconciler, Run, Step};
use konditions_core::shard::Member;
use konditions_core::{ConditionalResource, Status, Verdict};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};
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
/// (`TableReady`, `Ready`), also the Events' reporting controller.
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
    /// Share the work with the other replicas of this member's group
    /// ([`konditions_core::shard`]): each replica writes the rows of the
    /// resources it owns, without per-resource lock writes. `None`: every
    /// replica may reconcile every resource, and the per-resource lock
    /// decides who writes.
    pub shard: Option<Member>,
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
            shard: None,
        }
    }
}

/// What a reconcile can fail with (a step's failure is not one of these:
/// it is recorded in its condition). The controller retries with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runner failed: a request to the API server.
    #[error(transparent)]
    Reconcile(#[from] reconcile::Error),
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
    reconciler: Reconciler<PostgresWriter>,
    store: R,
    metrics: Metrics,
    /// The resources waiting for the database, retried once it is back.
    recovery: Recovery,
}

impl<R> Context<R> {
    fn new(client: Client, store: R, options: &Options, metrics: Metrics) -> Self {
        let mut reconciler = Reconciler::new(client, FIELD_MANAGER)
            .finalizer(FINALIZER)
            .holder(options.holder.clone())
            .lease(options.lease)
            .backoff(options.retry_backoff)
            .metrics(metrics.runner().clone());
        if let Some(member) = &options.shard {
            reconciler = reconciler.shard(member.clone());
        }
        Self {
            reconciler,
            store,
            metrics,
            recovery: Recovery::default(),
        }
    }
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
    let context = Arc::new(Context::new(client.clone(), store, &options, metrics));
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
    // The cache keeps what the reconcile reads, not every manager's field
    // ownership (most of a cached PostgresWriter's memory).
    let (reader, cache) = reflector::store();
    let watch = watcher(writers, watcher::Config::default())
        .backoff(WatchBackoff::default())
        .modify(context.reconciler.trim())
        .reflect(cache)
        .applied_objects();
    let mut controller = Controller::for_stream(watch, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(options.concurrency))
        .reconcile_on(woken);
    if let Some(member) = &options.shard {
        // The resources a departed replica owned are reconciled at once.
        controller = controller.reconcile_all_on(member.changes());
    }
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
                let error: &(dyn std::error::Error + 'static) = &error;
                tracing::debug!(error, "controller");
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
    if let Some(member) = &options.shard {
        // Nothing of this replica runs any more: the others take its
        // resources over now rather than after its lease.
        member.leave().await;
    }
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
    let result = steps(writer, &ctx, &object_ref).await;
    ctx.recovery.reconciled(&object_ref);
    let label = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics.reconciled(label, started.elapsed());
    result
}

/// The steps of one resource, in order: the table, the row; on deletion,
/// the row's deletion.
async fn steps<R: Rows>(
    writer: Arc<PostgresWriter>,
    ctx: &Context<R>,
    object_ref: &ObjectRef<PostgresWriter>,
) -> Result<Action, Error> {
    if writer.namespace().is_none() {
        return Err(Error::NoNamespace(writer.name_any()));
    }
    let mut run = ctx.reconciler.start(writer).await?;
    if ctx.recovery.is_woken(object_ref) {
        // Woken because the database is back: the backoff it waited out
        // was for its absence.
        run.backoff(Backoff::NONE);
    }
    // The spec is the same in every copy of this generation.
    let spec = run.object().spec.clone();
    let row = row(run.object());
    if run.phase() == Phase::Apply {
        let table = check_table(&spec.table, ctx, object_ref).await;
        run.check(&PostgresWriterCondition::TableReady, table_verdict(&table))?;
        match table {
            // A later look may find it usable (the database back, the
            // table created); the recovery probe may wake it sooner.
            Table::Unusable(_) => run.retry(),
            // Nothing will change until the spec does.
            Table::Invalid(_) => {}
            Table::Ready(table, _) => {
                let store = ctx.store.clone();
                let step = run
                    .lock(PostgresWriterLock::RowWritten, |lock| {
                        write_row(lock, store, table, row.clone())
                    })
                    .await?;
                wait_for_database(&run, step, ctx, object_ref);
            }
        }
    }
    // On deletion only. No row can exist in a table that cannot be named.
    if let Ok(table) = TableName::new(&spec.table) {
        let store = ctx.store.clone();
        let step = run
            .cleanup(PostgresWriterLock::RowWritten, |lock| {
                delete_row(lock, store, table, row.id)
            })
            .await?;
        wait_for_database(&run, step, ctx, object_ref);
    }
    Ok(run.finish().await?)
}

/// Checks the table `name`; registers the resource with the recovery probe
/// when it waits for the database or the table.
async fn check_table<R: Rows>(
    name: &str,
    ctx: &Context<R>,
    object_ref: &ObjectRef<PostgresWriter>,
) -> Table {
    let name = match TableName::new(name) {
        Err(invalid) => return Table::Invalid(invalid),
        Ok(name) => name,
    };
    match ctx.store.check_table(&name).await {
        Ok(shape) => Table::Ready(name, shape),
        Err(error) => {
            let waiting = match &error {
                StoreError::Unavailable(_) => Some(Waiting::Database),
                StoreError::TableMissing(table) => Some(Waiting::Table(table.clone())),
                _ => None,
            };
            if let Some(waiting) = waiting {
                ctx.recovery.wait(object_ref.clone(), waiting);
            }
            Table::Unusable(error)
        }
    }
}

/// After a row step that is not done: when `RowWritten` records a failure
/// for want of the database (now, or the one whose backoff it waits out),
/// the recovery probe wakes the resource as soon as the database is back.
fn wait_for_database<R>(
    run: &Run<'_, PostgresWriter>,
    step: Step,
    ctx: &Context<R>,
    object_ref: &ObjectRef<PostgresWriter>,
) {
    if !matches!(step, Step::Failed | Step::Waiting) {
        return;
    }
    let row_written = run
        .object()
        .conditions()
        .and_then(|c| c.find(&PostgresWriterCondition::RowWritten));
    if row_written.is_some_and(|c| c.status == Status::False && waits_for_database(&c.reason)) {
        ctx.recovery.wait(object_ref.clone(), Waiting::Database);
    }
}

/// Backoff per resource for reconcile errors: the runner's, on
/// [`Options::retry_backoff`] (by default 1 s, 2 s, 4 s ... up to 5
/// minutes).
fn error_policy<R>(writer: Arc<PostgresWriter>, error: &Error, ctx: Arc<Context<R>>) -> Action {
    match error {
        Error::Reconcile(error) => ctx.reconciler.error_policy(&writer, error),
        Error::NoNamespace(_) => {
            warn!(%error, "reconcile failed");
            Action::await_change()
        }
    }
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

/// The upsert, under the lock on `RowWritten`.
async fn write_row<R: Rows>(
    lock: LockContext<PostgresWriter>,
    store: R,
    table: TableName,
    row: Row,
) -> Result<Verdict<'static>, RowError> {
    if let Some(previous) = lock.takeover() {
        // The upsert is idempotent and fenced: redoing a half-done write
        // of a dead holder is safe.
        info!(previous = ?previous.holder, id = %row.id, "taking over an expired lock");
    }
    lock.check()?;
    if let Some(dir) = std::env::var_os(HOLD_BEFORE_WRITE_ENV) {
        hold_before_write(&dir, &row.id).await;
    }
    store.upsert(&table, &row, lock.token()).await?;
    let generation = lock.idempotency_key().generation();
    Ok(Verdict::new(Status::True, "RowWritten").message(format!(
        "row {} in table {table} holds generation {generation}",
        row.id
    )))
}

/// The deletion, under the same lock, once per deletion.
async fn delete_row<R: Rows>(
    lock: LockContext<PostgresWriter>,
    store: R,
    table: TableName,
    id: String,
) -> Result<Verdict<'static>, RowError> {
    lock.check()?;
    let deleted = store.delete(&table, &id, lock.token()).await?;
    Ok(
        Verdict::new(Status::False, "RowDeleted").message(if deleted {
            format!("row {id} deleted from table {table}")
        } else {
            format!("no row {id} in table {table} to delete")
        }),
    )
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
