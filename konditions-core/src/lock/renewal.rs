//! The renewal of a held lock while its task runs, in a task of its own,
//! and the hand-over of held locks when the process stops ([`hand_over`])
//! or a `run` is cancelled: the lease ends at once, so another replica
//! takes over without waiting for it.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use jiff::Timestamp;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::message::{is_our_lock, lock_message};
use super::types::{Lease, LostBecause, add, ceil_to_second};
use super::wire::{Cas, Writer};
use crate::{Clock, ConditionalResource};

/// Whether this process is stopping: set once by [`hand_over`], never unset.
static STOPPING: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::channel(false).0);

/// How many locks this process holds that are neither released nor
/// handed over.
static HELD: LazyLock<watch::Sender<usize>> = LazyLock::new(|| watch::channel(0).0);

/// Hands over every lock this process holds, for a graceful shutdown: the
/// tasks running under them are told their lease is lost
/// ([`LockContext::lost`](super::LockContext::lost)), and each lock is
/// rewritten to expire now, so another replica takes it over at its next
/// reconcile instead of at the end of the lease (and is told it is a
/// takeover, with the same [idempotency key](super::LockContext::idempotency_key),
/// as after a crash). From the first call on, `run` refuses to acquire
/// ([`LockError::ShuttingDown`](super::LockError::ShuttingDown)).
///
/// Waits at most `wait` for the hand-overs to be written (and for tasks
/// that end meanwhile to be released) and returns how many locks are still
/// held: 0 unless a write did not finish in time, in which case that lock
/// expires with its lease, as before. Call it once no new reconcile starts,
/// before the process exits (for a kube-runtime `Controller`, when its
/// graceful-shutdown grace has run out):
///
/// ```no_run
/// # async fn demo() {
/// use std::time::Duration;
/// let _ = tokio::signal::ctrl_c().await;
/// // ... stop the controller, give the reconciles in flight their grace ...
/// let still_held = konditions_core::lock::hand_over(Duration::from_secs(5)).await;
/// assert_eq!(still_held, 0);
/// # }
/// ```
///
/// A task that ignores the signal keeps running, and its side effect is then
/// guarded as after any lost lease: by the fencing token and the
/// idempotency key. A task that fails after the hand-over leaves the lock
/// handed over (no failure record, no backoff for the next holder); one
/// that succeeds before another replica took over releases with its result.
/// A `run` future that is dropped while its task runs (cancelled) hands its
/// lock over the same way, as long as the runtime keeps running.
pub async fn hand_over(wait: Duration) -> usize {
    STOPPING.send_replace(true);
    let mut held = HELD.subscribe();
    let _ = tokio::time::timeout(wait, held.wait_for(|n| *n == 0)).await;
    *HELD.borrow()
}

/// Whether [`hand_over`] was called in this process.
pub(super) fn stopping() -> bool {
    *STOPPING.borrow()
}

/// One held lock in [`HELD`], until it is released (the last clone drops)
/// or handed over ([`Holding::settle`]), whichever comes first.
#[derive(Clone, Debug)]
pub(super) struct Holding(Arc<Counted>);

#[derive(Debug)]
struct Counted(AtomicBool);

impl Holding {
    pub(super) fn new() -> Self {
        HELD.send_modify(|n| *n += 1);
        Self(Arc::new(Counted(AtomicBool::new(false))))
    }

    /// No longer counted: the lock was handed over.
    fn settle(&self) {
        self.0.settle();
    }
}

impl Counted {
    fn settle(&self) {
        if !self.0.swap(true, Ordering::AcqRel) {
            HELD.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.settle();
    }
}

/// Where the renewal left the lock, for the release.
pub(super) struct Renewed {
    /// Where our lock is.
    pub(super) index: usize,
    /// Its stored JSON.
    pub(super) fence: Value,
    /// Whether it was handed over (its lease ended on purpose).
    pub(super) handed_over: bool,
}

/// The renewal of a held lease while its task runs.
pub(super) struct Renewal<K> {
    pub(super) writer: Writer<K>,
    pub(super) holder: String,
    pub(super) id: String,
    pub(super) since: Timestamp,
    pub(super) lease: Duration,
    pub(super) every: Duration,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) index: usize,
    pub(super) fence: Value,
    pub(super) held_until: tokio::time::Instant,
    /// This lock in [`HELD`].
    pub(super) holding: Holding,
}

/// How long a failed renewal waits before the next try.
const RENEW_RETRY: Duration = Duration::from_millis(500);

impl<K> Renewal<K>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug,
{
    /// Renews until `stop` fires or the lease is lost; hands the lock over
    /// when the process stops ([`hand_over`]) or `stop` is dropped (the run
    /// was cancelled). Returns where our lock is, for the release.
    pub(super) async fn run(
        mut self,
        lease: watch::Sender<Lease>,
        mut stop: oneshot::Receiver<()>,
    ) -> Renewed {
        let mut stopping = STOPPING.subscribe();
        let renews = self.every < self.lease;
        let mut wait = self.every;
        loop {
            let stopping = async {
                // The `Ref` is dropped here, before any other await.
                let _ = stopping.wait_for(|s| *s).await;
            };
            tokio::select! {
                stopped = &mut stop => {
                    if stopped.is_err() {
                        // The run was dropped: nobody will release.
                        self.hand_over("the run was cancelled").await;
                    }
                    return self.renewed(false);
                }
                () = stopping => {
                    lease.send_modify(|l| l.lost = Some(LostBecause::HandedOver));
                    let handed_over = self.hand_over("the process is stopping").await;
                    let _ = stop.await;
                    return self.renewed(handed_over);
                }
                () = tokio::time::sleep(wait), if renews => {}
            }
            // A renewal that cannot finish within the lease has failed.
            let renewed = tokio::time::timeout_at(self.held_until, self.renew()).await;
            let because = match renewed {
                Ok(Ok(Some(expires_at))) => {
                    lease.send_modify(|l| {
                        l.expires_at = expires_at;
                        l.valid_until = self.held_until;
                    });
                    wait = self.every;
                    continue;
                }
                Ok(Ok(None)) if tokio::time::Instant::now() + RENEW_RETRY < self.held_until => {
                    wait = RENEW_RETRY;
                    continue;
                }
                Ok(Ok(None)) | Err(_) => LostBecause::Unrenewed,
                Ok(Err(because)) => because,
            };
            tracing::warn!(%because, "lease lost while the task runs");
            lease.send_modify(|l| l.lost = Some(because));
            // Not ours any more: nothing to hand over.
            self.holding.settle();
            let _ = stop.await;
            return self.renewed(false);
        }
    }

    fn renewed(self, handed_over: bool) -> Renewed {
        Renewed {
            index: self.index,
            fence: self.fence,
            handed_over,
        }
    }

    /// Rewrites our lock to expire now; `true` when it is stored. On
    /// failure the lock expires with its lease.
    async fn hand_over(&mut self, why: &'static str) -> bool {
        let now = crate::condition::truncate_to_second(self.clock.now());
        let handed_over = match self.rewrite(now, now).await {
            Ok(Cas::Stored { .. }) => {
                tracing::info!(why, "lock handed over");
                true
            }
            // Taken over, edited or deleted: not ours to hand over.
            Ok(_) => false,
            Err(error) => {
                tracing::warn!(%error, why, "could not hand the lock over: it expires with its lease");
                false
            }
        };
        self.holding.settle();
        handed_over
    }

    /// One renewal: `Ok(Some(until))` when stored, `Ok(None)` when the
    /// request failed and may be retried, `Err` when the lease is lost.
    async fn renew(&mut self) -> Result<Option<Timestamp>, LostBecause> {
        let started = tokio::time::Instant::now();
        let now = self.clock.now();
        let until = ceil_to_second(add(now, self.lease));
        match self.rewrite(until, ceil_to_second(now)).await {
            Ok(Cas::Stored { .. }) => {
                tracing::debug!(%until, "renewed");
                self.held_until = started + self.lease;
                Ok(Some(until))
            }
            Ok(Cas::Changed(_)) => Err(LostBecause::Changed),
            Ok(Cas::Gone) => Err(LostBecause::Gone),
            // Moved twice: try again at the next turn.
            Ok(Cas::Moved { .. }) => Ok(None),
            Err(error) => {
                tracing::debug!(%error, "renewal failed; retrying within the lease");
                Ok(None)
            }
        }
    }

    /// Rewrites our lock's message to `until`, last written at `renewed`,
    /// with a CAS on our entry, followed once if it moved; remembers where
    /// it was stored.
    async fn rewrite(
        &mut self,
        until: Timestamp,
        renewed: Timestamp,
    ) -> Result<Cas<K>, kube::Error> {
        let mut replacement = self.fence.clone();
        replacement["message"] = Value::String(lock_message(
            &self.holder,
            &self.id,
            self.since,
            until,
            Some(renewed),
        ));
        let (mut index, mut fence) = (self.index, self.fence.clone());
        let mut found = Cas::Moved {
            index,
            entry: fence.clone(),
        };
        for _ in 0..2 {
            let ours = |e: &Value| is_our_lock(e, &self.id);
            found = self.writer.cas(index, &fence, &replacement, ours).await?;
            match &found {
                Cas::Stored { index, entry, .. } => {
                    (self.index, self.fence) = (*index, entry.clone());
                    break;
                }
                Cas::Moved { index: i, entry } => (index, fence) = (*i, entry.clone()),
                Cas::Changed(_) | Cas::Gone => break,
            }
        }
        Ok(found)
    }
}
