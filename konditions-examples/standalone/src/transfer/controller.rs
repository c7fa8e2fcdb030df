//! The reconciler, as the quick start writes it: the locks first (`Posted`,
//! then `Notified`), the summary on the object the last lock returned, one
//! status apply; on deletion, the reversal under the `Posted` lock, with
//! kube's finalizer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use konditions_core::lock::{IdempotencyKey, Lock, LockError, Outcome};
use konditions_core::{
    ApplyError, ConditionError, ConditionalResource, Status, Verdict, apply_status,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{self, Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};

use super::ledger::Ledger;
use super::{Transfer, TransferLock};

/// The field manager of this controller's status writes.
pub const MANAGER: &str = "transfer-controller";
/// The finalizer that keeps a transfer until its posting is reversed.
pub const FINALIZER: &str = "example.com/transfer-reversal";

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the side effects go.
    pub ledger: Ledger,
    /// This replica's name in the locks (unique per replica).
    pub holder: String,
    /// The lock's lease: how soon another replica takes over a dead one's lock.
    pub lease: Duration,
    /// A test hook: after this many side effects, the process kills itself
    /// with SIGKILL right after the last one, before the lock is released.
    pub crash_after_effects: Option<usize>,
}

/// What a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A condition was refused.
    #[error(transparent)]
    Condition(#[from] ConditionError),
    /// Writing the status failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The lock failed (not the task: its failure is in the condition).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The reversal is not done yet (busy, backing off, failed): the
    /// finalizer stays.
    #[error("the reversal is not done yet: {why}")]
    CleanupPending {
        /// Why.
        why: String,
        /// When to look again.
        retry_after: Duration,
    },
}

struct Context {
    client: Client,
    config: Config,
    effects: AtomicUsize,
}

impl Context {
    /// Counts a side effect; the crash hook fires on the configured one.
    fn after_effect(&self, key: &IdempotencyKey) {
        let count = self.effects.fetch_add(1, Ordering::SeqCst) + 1;
        if self.config.crash_after_effects == Some(count) {
            // The test reads this line, then waits for the process to die.
            println!("crash point: {key}");
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
            std::process::abort(); // in case `kill` is missing
        }
    }

    fn lock(
        &self,
        api: &Api<Transfer>,
        transfer: &Transfer,
        locked: TransferLock,
    ) -> Lock<Transfer> {
        Lock::new(api.clone(), transfer, locked)
            .holder(self.config.holder.clone())
            .lease(self.config.lease)
    }

    /// Runs `effect` under the lock on `locked`: appends it to the ledger
    /// with the lock's idempotency key.
    async fn effect(
        self: &Arc<Self>,
        api: &Api<Transfer>,
        transfer: &Transfer,
        locked: TransferLock,
        effect: &'static str,
        verdict: Verdict<'static>,
    ) -> Result<Outcome<Transfer, std::io::Error>, LockError> {
        let ctx = self.clone();
        self.lock(api, transfer, locked)
            .run(|lock| async move {
                lock.check()?; // the lease is still ours
                let key = lock.idempotency_key();
                ctx.config.ledger.append(key, effect, &ctx.config.holder)?;
                ctx.after_effect(key);
                Ok::<_, std::io::Error>(verdict)
            })
            .await
    }
}

/// After a lock: the object to go on with (and a failure's backoff), or
/// when to look again.
enum Next {
    Go(Box<Transfer>, Option<Duration>),
    Wait(Option<Duration>),
}

fn next(outcome: Outcome<Transfer, std::io::Error>, copy: &Transfer) -> Next {
    let requeue = outcome.requeue_after();
    match outcome {
        Outcome::Ran { object, .. } => Next::Go(object, requeue),
        Outcome::Done(_) => Next::Go(Box::new(copy.clone()), None),
        // Busy, backing off, stale, lease lost, gone: a status computed
        // from this copy would be older than the stored one.
        _ => Next::Wait(requeue),
    }
}

fn requeue(after: Option<Duration>) -> Action {
    after.map_or_else(Action::await_change, Action::requeue)
}

async fn apply(
    api: &Api<Transfer>,
    transfer: &Transfer,
    ctx: &Arc<Context>,
) -> Result<Action, Error> {
    let posted = Verdict::new(Status::True, "Posted").message(format!(
        "{} posted to {}",
        transfer.spec.amount, transfer.spec.account
    ));
    // 1. The locks first, in order, each on the object the previous returned.
    let (object, failed) = match next(
        ctx.effect(api, transfer, TransferLock::Posted, "post", posted)
            .await?,
        transfer,
    ) {
        Next::Go(object, failed) => (object, failed),
        Next::Wait(after) => return Ok(requeue(after)),
    };
    let (object, failed) = if failed.is_some() {
        (object, failed) // notify only what was posted
    } else {
        let notified = Verdict::new(Status::True, "Notified")
            .message(format!("{} told", transfer.spec.account));
        match next(
            ctx.effect(api, &object, TransferLock::Notified, "notify", notified)
                .await?,
            &object,
        ) {
            Next::Go(object, failed) => (object, failed),
            Next::Wait(after) => return Ok(requeue(after)),
        }
    };
    // 2. The summary on the object the locks returned, one status write.
    let mut object = *object;
    let mut changed = object.initialize_conditions() > 0;
    changed |= object.update_summary()?.is_changed();
    if changed {
        apply_status(api, &object, MANAGER).await?;
    }
    Ok(requeue(failed))
}

async fn cleanup(
    api: &Api<Transfer>,
    transfer: &Transfer,
    ctx: &Arc<Context>,
) -> Result<Action, Error> {
    let reversed = Verdict::new(Status::False, "Reversed").message("the transfer was deleted");
    let outcome = ctx
        .effect(api, transfer, TransferLock::Posted, "reverse", reversed)
        .await?;
    let retry_after = outcome.requeue_after().unwrap_or(Duration::from_secs(1));
    match outcome {
        // Reversed now, or already for this deletion, or the object is
        // gone: the finalizer may go.
        Outcome::Ran { error: None, .. } | Outcome::Done(_) | Outcome::Gone { .. } => {
            Ok(Action::await_change())
        }
        // kube removes the finalizer on `Ok`: anything else is an error.
        other => Err(Error::CleanupPending {
            why: match &other {
                Outcome::Ran {
                    error: Some(error), ..
                } => error.to_string(),
                Outcome::Busy(_) => "another replica holds the lock".into(),
                Outcome::BackingOff(_) => "a failed attempt waits for its backoff".into(),
                _ => "the transfer changed meanwhile".into(),
            },
            retry_after,
        }),
    }
}

async fn reconcile(
    transfer: Arc<Transfer>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    let api: Api<Transfer> = Api::namespaced(
        ctx.client.clone(),
        &transfer.namespace().unwrap_or_default(),
    );
    finalizer(&api, FINALIZER, transfer, |event| async {
        match event {
            Finalizer::Apply(transfer) => apply(&api, &transfer, &ctx).await,
            Finalizer::Cleanup(transfer) => cleanup(&api, &transfer, &ctx).await,
        }
    })
    .await
}

fn error_policy(_: Arc<Transfer>, error: &finalizer::Error<Error>, _: Arc<Context>) -> Action {
    match error {
        // Not a failure: the reversal waits for a lock or a backoff.
        finalizer::Error::CleanupFailed(Error::CleanupPending { retry_after, .. }) => {
            Action::requeue(*retry_after)
        }
        _ => Action::requeue(Duration::from_secs(1)),
    }
}

/// Runs the controller on Transfers of `namespace` (all namespaces if
/// `None`) until `shutdown` completes.
pub async fn run(
    client: Client,
    namespace: Option<&str>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let transfers: Api<Transfer> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let ctx = Arc::new(Context {
        client,
        config,
        effects: AtomicUsize::new(0),
    });
    Controller::new(transfers, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}
