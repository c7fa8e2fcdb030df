//! The PostgresWriter controller: kube-runtime's `Controller` reconciling
//! `PostgresWriter` resources into rows.
//!
//! Per resource:
//! 1. the finalizer is added before anything is written (kube-runtime's
//!    `finalizer` helper), so no row can outlive its resource;
//! 2. `TableReady` reports whether the table exists with the right columns;
//! 3. when `RowWritten` is not `True` for the current generation, the upsert
//!    runs under the konditions lock on `RowWritten`: two replicas (or a
//!    replica with a stale cache) never write the same generation twice, and
//!    a replica that dies mid-write is taken over after the lease;
//! 4. `Ready` summarises the two;
//! 5. on deletion, the row is deleted under the same lock, then the
//!    finalizer is removed. While the database is down, the finalizer stays.
//!
//! Writes to the status are split by owner so they never clobber each
//! other: `RowWritten` is written only by the lock (a compare-and-swap JSON
//! Patch), `TableReady` and `Ready` only by server-side apply with the field
//! manager [`FIELD_MANAGER`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use konditions_core::lock::{Lock, LockError, Outcome, Reason, Release, TaskError};
use konditions_core::{
    ApplyError, Condition, ConditionError, ConditionalResource, Status, apply_conditions,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use super::{PostgresWriter, PostgresWriterCondition, Row, Store, StoreError, TableName};

/// The finalizer that keeps a resource until its row is deleted.
pub const FINALIZER: &str = "demo.yash.com/row-cleanup";

/// The field manager of the conditions written with server-side apply
/// (`TableReady`, `Ready`).
pub const FIELD_MANAGER: &str = "postgres-writer";

/// The longest wait between retries of a failing resource.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Who holds the locks this process takes (unique per replica, e.g. the
    /// pod name).
    pub holder: String,
    /// How long a lock is held before another replica may take over.
    pub lease: Duration,
    /// How many resources are reconciled at once (0: no limit).
    pub concurrency: u16,
    /// Watch only this namespace (`None`: every namespace).
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            holder: default_holder(),
            lease: Duration::from_secs(30),
            concurrency: 16,
            namespace: None,
        }
    }
}

/// `POD_NAME` when set (the Downward API in a cluster), else the host name
/// and process id: unique per replica either way.
pub fn default_holder() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "postgres-writer".into());
            format!("{host}-{}", std::process::id())
        })
}

/// What a reconcile can fail with. The controller retries with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The lock failed (not a refused compare-and-swap: those are outcomes).
    #[error("lock: {0}")]
    Lock(#[from] LockError),
    /// Writing the conditions failed.
    #[error("status: {0}")]
    Apply(#[from] ApplyError),
    /// A condition could not be set.
    #[error("condition: {0}")]
    Condition(#[from] ConditionError),
    /// The database step failed; the condition says why.
    #[error("{0}")]
    Store(StoreError),
    /// Another replica holds the row's lock, or our copy was stale; the
    /// deletion is retried (the error keeps the finalizer in place).
    #[error("row deletion deferred: {0}")]
    Contended(String),
    /// The finalizer machinery failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    /// The spec cannot be acted on (the CRD schema normally prevents it).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The resource is not namespaced (the CRD is; this is a bug elsewhere).
    #[error("PostgresWriter {0} has no namespace")]
    NoNamespace(String),
}

impl Reason for StoreError {
    fn reason(&self) -> &str {
        match self {
            StoreError::Unavailable(_) => "DatabaseUnavailable",
            StoreError::TableMissing(_) => "TableMissing",
            StoreError::TableIncompatible { .. } => "TableIncompatible",
            StoreError::InvalidValue { .. } => "InvalidValue",
            StoreError::Query(_) => "QueryFailed",
        }
    }
}

/// What every reconcile shares.
struct Context {
    client: Client,
    store: Store,
    recorder: Recorder,
    options: Options,
    /// Consecutive failures per resource, for the backoff.
    failures: Mutex<HashMap<ObjectRef<PostgresWriter>, u32>>,
}

/// Runs the controller until `shutdown` completes, then finishes the
/// reconciles in flight and returns.
///
/// ```no_run
/// use konditions_examples::postgres_writer::{controller, PostgresConfig, Store};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = kube::Client::try_default().await?;
/// let store = Store::new(&PostgresConfig::from_env()?, 16)?;
/// controller::run(client, store, controller::Options::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await;
/// # Ok(()) }
/// ```
pub async fn run(
    client: Client,
    store: Store,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let reporter = Reporter {
        controller: "postgres-writer".into(),
        instance: Some(options.holder.clone()),
    };
    let context = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        store,
        failures: Mutex::default(),
        options: options.clone(),
    });
    let writers: Api<PostgresWriter> = match &options.namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    info!(holder = %options.holder, "postgres-writer controller starting");
    Controller::new(writers, watcher::Config::default())
        .with_config(kube::runtime::controller::Config::default().concurrency(options.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                // Reconcile errors are logged by error_policy; these are
                // the controller's own (watch failures, missing objects).
                tracing::debug!(%error, "controller");
            }
        })
        .await;
    info!("postgres-writer controller stopped");
}

async fn reconcile(writer: Arc<PostgresWriter>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = writer
        .namespace()
        .ok_or_else(|| Error::NoNamespace(writer.name_any()))?;
    let api: Api<PostgresWriter> = Api::namespaced(ctx.client.clone(), &namespace);
    let object_ref = ObjectRef::from_obj(&*writer);
    let action = finalizer::finalizer(&api, FINALIZER, writer, |event| async {
        match event {
            Finalizer::Apply(writer) => apply(&api, &writer, &ctx).await,
            Finalizer::Cleanup(writer) => cleanup(&api, &writer, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(Box::new(other)),
    })?;
    ctx.failures
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .remove(&object_ref);
    Ok(action)
}

/// Exponential backoff per resource: 1 s, 2 s, 4 s ... up to 5 minutes.
fn error_policy(writer: Arc<PostgresWriter>, error: &Error, ctx: Arc<Context>) -> Action {
    let mut failures = ctx
        .failures
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let count = failures.entry(ObjectRef::from_obj(&*writer)).or_insert(0);
    *count = count.saturating_add(1);
    let delay = Duration::from_secs(1u64 << (*count - 1).min(9)).min(MAX_BACKOFF);
    warn!(
        writer = %writer.name_any(),
        namespace = writer.namespace().unwrap_or_default(),
        %error,
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

async fn apply(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    ctx: &Context,
) -> Result<Action, Error> {
    let table = TableName::new(&writer.spec.table);
    let table_check = match &table {
        Ok(table) => ctx.store.check_table(table).await,
        Err(_) => Ok(()),
    };
    let mut current = writer.clone();
    let mut failure = None;
    let mut requeue = None;

    if !row_is_current(writer) {
        match &table {
            Ok(table) => {
                let (stored, step_failure, step_requeue) =
                    write_row(api, writer, table, ctx).await?;
                if let Some(stored) = stored {
                    current = stored;
                }
                failure = step_failure;
                requeue = step_requeue;
            }
            // The CRD's pattern rejects such names; only an object stored
            // before the schema was tightened gets here. TableReady says so.
            Err(invalid) => failure = Some(Error::InvalidSpec(invalid.to_string())),
        }
    }

    let table_ready = table_condition(&table, &table_check);
    update_summary(api, writer, &mut current, table_ready, ctx).await?;

    if let Some(failure) = failure {
        return Err(failure);
    }
    if let Err(error) = table_check {
        return Err(Error::Store(error));
    }
    Ok(requeue.unwrap_or_else(Action::await_change))
}

/// Runs the upsert under the lock on `RowWritten`. Returns the object as
/// stored after the release (if the task ran), the failure to report, and
/// when to come back when someone else holds the lock or our view was stale.
async fn write_row(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    table: &TableName,
    ctx: &Context,
) -> Result<(Option<PostgresWriter>, Option<Error>, Option<Action>), Error> {
    let row = row(writer);
    let generation = writer.generation().unwrap_or_default();
    let store = ctx.store.clone();
    let outcome = row_lock(api, writer, ctx)
        .run(|lock| {
            let (row, table) = (row.clone(), table.clone());
            async move {
                if let Some(previous) = lock.takeover() {
                    // The upsert is idempotent: redoing a half-done write of
                    // a dead holder is safe.
                    info!(previous = ?previous.holder, id = %row.id, "taking over an expired lock");
                }
                store.upsert(&table, &row).await?;
                Ok::<_, StoreError>(Release::new(
                    Status::True,
                    "RowWritten",
                    format!(
                        "row {} in table {table} holds generation {generation}",
                        row.id
                    ),
                ))
            }
        })
        .await?;
    Ok(match outcome {
        Outcome::Ran {
            object,
            error: None,
            ..
        } => {
            publish(
                ctx,
                writer,
                EventType::Normal,
                "RowWritten",
                format!("wrote row {} to table {table}", row.id),
            )
            .await;
            (Some(*object), None, None)
        }
        Outcome::Ran {
            object,
            error: Some(error),
            ..
        } => (Some(*object), Some(failed(ctx, writer, error).await), None),
        Outcome::Busy(held) => {
            let wait = held.remaining().unwrap_or_default() + Duration::from_secs(1);
            (None, None, Some(Action::requeue(wait)))
        }
        // A fresh copy comes with the watch event of whoever changed it.
        Outcome::Stale => (None, None, Some(Action::requeue(Duration::from_secs(2)))),
        Outcome::LostLease { error, .. } => {
            warn!(id = %row.id, "lease lost while writing; the new holder's result stands");
            (
                None,
                error.map(task_error),
                Some(Action::requeue(Duration::from_secs(2))),
            )
        }
    })
}

/// The lock on a resource's `RowWritten`, held by this replica.
fn row_lock(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    ctx: &Context,
) -> Lock<PostgresWriter> {
    Lock::new(api.clone(), writer, PostgresWriterCondition::RowWritten)
        .holder(ctx.options.holder.clone())
        .lease(ctx.options.lease)
}

/// A task that ran and failed: record a Warning event and return the error
/// that makes the controller retry.
async fn failed(ctx: &Context, writer: &PostgresWriter, error: TaskError<StoreError>) -> Error {
    let error = task_error(error);
    publish(
        ctx,
        writer,
        EventType::Warning,
        reason_of(&error),
        error.to_string(),
    )
    .await;
    error
}

fn task_error(error: TaskError<StoreError>) -> Error {
    match error {
        TaskError::Failed(error) => Error::Store(error),
        TaskError::InvalidRelease(error) => Error::Condition(error),
        // TaskError is non_exhaustive.
        other => Error::Store(StoreError::Unavailable(other.to_string())),
    }
}

fn reason_of(error: &Error) -> &str {
    match error {
        Error::Store(store) => store.reason(),
        _ => "ReconcileFailed",
    }
}

/// `TableReady` from the table check.
fn table_condition(
    table: &Result<TableName, super::InvalidTableName>,
    check: &Result<(), StoreError>,
) -> (Status, String, String) {
    match (table, check) {
        (Err(invalid), _) => (
            Status::False,
            "InvalidTableName".into(),
            invalid.to_string(),
        ),
        (Ok(table), Ok(())) => (
            Status::True,
            "TableFound".into(),
            format!("table {table} exists with columns id, name, age, country"),
        ),
        // Down: whether the table exists is unknown, not false.
        (Ok(_), Err(error @ StoreError::Unavailable(_))) => {
            (Status::Unknown, error.reason().into(), error.to_string())
        }
        (Ok(_), Err(error)) => (Status::False, error.reason().into(), error.to_string()),
    }
}

/// Sets `TableReady` and the summary `Ready` on `current` (the freshest copy
/// we have) and applies them when they changed.
async fn update_summary(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    current: &mut PostgresWriter,
    (status, reason, message): (Status, String, String),
    ctx: &Context,
) -> Result<(), Error> {
    let generation = writer.generation();
    let ready_key = |c: &Condition<PostgresWriterCondition>| (c.status, c.reason.clone());
    let ready_before = current
        .conditions()
        .and_then(|c| c.find(&PostgresWriterCondition::Ready))
        .map(ready_key);
    let conditions = current.conditions_mut();
    let table_change = conditions.set_with(
        &konditions_core::SystemClock,
        generation,
        PostgresWriterCondition::TableReady,
        status,
        &reason,
        &message,
    )?;
    let summary_change =
        conditions.update_summary_with(&konditions_core::SystemClock, generation)?;
    if !table_change.is_changed() && !summary_change.is_changed() {
        return Ok(());
    }
    let mine: Vec<&Condition<PostgresWriterCondition>> = [
        PostgresWriterCondition::TableReady,
        PostgresWriterCondition::Ready,
    ]
    .iter()
    .filter_map(|t| conditions.find(t))
    .collect();
    apply_conditions(api, &writer.name_any(), FIELD_MANAGER, mine).await?;
    let ready = conditions.find(&PostgresWriterCondition::Ready);
    if let Some(ready) = ready.filter(|r| ready_before != Some(ready_key(r))) {
        let kind = if ready.status == Status::True {
            EventType::Normal
        } else {
            EventType::Warning
        };
        publish(
            ctx,
            writer,
            kind,
            &format!("Ready{:?}", ready.status),
            ready.message.clone(),
        )
        .await;
    }
    Ok(())
}

async fn cleanup(
    api: &Api<PostgresWriter>,
    writer: &PostgresWriter,
    ctx: &Context,
) -> Result<Action, Error> {
    let Ok(table) = TableName::new(&writer.spec.table) else {
        // No row can exist in a table that cannot be named.
        return Ok(Action::await_change());
    };
    let id = row(writer).id;
    let store = ctx.store.clone();
    let outcome = row_lock(api, writer, ctx)
        .run(|_| {
            let (id, table) = (id.clone(), table.clone());
            async move {
                let deleted = store.delete(&table, &id).await?;
                Ok::<_, StoreError>(Release::new(
                    Status::False,
                    "RowDeleted",
                    if deleted {
                        format!("row {id} deleted from table {table}")
                    } else {
                        format!("no row {id} in table {table} to delete")
                    },
                ))
            }
        })
        .await?;
    match outcome {
        Outcome::Ran { error: None, .. } => {
            publish(
                ctx,
                writer,
                EventType::Normal,
                "RowDeleted",
                format!("deleted row {id} from table {table}"),
            )
            .await;
            Ok(Action::await_change())
        }
        Outcome::Ran {
            error: Some(error), ..
        }
        | Outcome::LostLease {
            error: Some(error), ..
        } => Err(failed(ctx, writer, error).await),
        // Someone else is on it, or our copy is stale: keep the finalizer
        // and look again. Returning an error keeps the finalizer.
        Outcome::Busy(held) => Err(Error::Contended(format!(
            "the row is locked by {} until {}",
            held.holder.as_deref().unwrap_or("another worker"),
            held.expires_at
        ))),
        Outcome::Stale | Outcome::LostLease { error: None, .. } => Err(Error::Contended(
            "the resource changed while its row was being deleted".into(),
        )),
    }
}

/// Records a Kubernetes Event; a failure to record is logged, not fatal.
async fn publish(
    ctx: &Context,
    writer: &PostgresWriter,
    type_: EventType,
    reason: impl AsRef<str>,
    note: String,
) {
    let event = KubeEvent {
        type_,
        reason: reason.as_ref().to_owned(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &writer.object_ref(&())).await {
        tracing::debug!(%error, "could not record an event");
    }
}
