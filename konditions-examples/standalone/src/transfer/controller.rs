//! The reconciler, as the quick start writes it, on konditions' runner: the
//! steps in order (post, then notify, each under its lock), and on deletion
//! the reversal under the `Posted` lock; the runner adds the finalizer,
//! writes the status once, records the Events and removes the finalizer
//! when the reversal is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use konditions_core::lock::{IdempotencyKey, LockContext};
use konditions_core::reconcile::{Error, Reconciler};
use konditions_core::{Status, Verdict};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Client};

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

struct Context {
    reconciler: Reconciler<Transfer>,
    config: Config,
    effects: AtomicUsize,
}

impl Context {
    /// Appends `effect` to the ledger under the lock: the task the runner
    /// runs for a locked step.
    async fn effect(
        &self,
        lock: LockContext<Transfer>,
        effect: &str,
        verdict: Verdict<'static>,
    ) -> Result<Verdict<'static>, std::io::Error> {
        lock.check()?; // the lease is still ours
        let key = lock.idempotency_key();
        self.config
            .ledger
            .append(key, effect, &self.config.holder)?;
        self.after_effect(key);
        Ok(verdict)
    }

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
}

/// The steps of a transfer, in order: post, then notify; on deletion,
/// reverse the posting.
async fn reconcile(transfer: Arc<Transfer>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut run = ctx.reconciler.start(transfer).await?;
    let spec = run.object().spec.clone();
    let posted = Verdict::new(Status::True, "Posted")
        .message(format!("{} posted to {}", spec.amount, spec.account));
    run.lock(TransferLock::Posted, |lock| {
        ctx.effect(lock, "post", posted)
    })
    .await?;
    let notified = Verdict::new(Status::True, "Notified").message(format!("{} told", spec.account));
    run.lock(TransferLock::Notified, |lock| {
        ctx.effect(lock, "notify", notified)
    })
    .await?;
    let reversed = Verdict::new(Status::False, "Reversed").message("the transfer was deleted");
    run.cleanup(TransferLock::Posted, |lock| {
        ctx.effect(lock, "reverse", reversed)
    })
    .await?;
    run.finish().await
}

fn error_policy(transfer: Arc<Transfer>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.reconciler.error_policy(&transfer, error)
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
    let reconciler = Reconciler::new(client, MANAGER)
        .finalizer(FINALIZER)
        .holder(config.holder.clone())
        .lease(config.lease);
    let ctx = Arc::new(Context {
        reconciler,
        config,
        effects: AtomicUsize::new(0),
    });
    Controller::new(transfers, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}
