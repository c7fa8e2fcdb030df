//! The release of a lock whose task ran: alone, a compare-and-swap on the
//! lock's entry, or carried by the caller's next write to the object (the
//! status it computed, the removal of its finalizer), so that a reconcile
//! pays one request for both. A carried release is one JSON Patch that
//! also tests the object's resourceVersion: it applies only when nothing
//! changed since the acquire, and otherwise the caller falls back to the
//! release alone.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
#[cfg(feature = "runtime")]
use kube::api::{Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::Value;
#[cfg(feature = "runtime")]
use serde_json::json;
use tracing::Instrument;

use super::message::{is_our_lock, same_result};
use super::registry;
use super::renewal::{Holding, Renewed};
use super::types::{LockError, Outcome, TaskError};
#[cfg(feature = "runtime")]
use super::wire::LIST;
use super::wire::{Cas, Writer};
use super::{Held, parsed};
use crate::{Clock, Condition, ConditionType, ConditionalResource, Conditions, Verdict};

/// What a lock's object must be to be released from anywhere, a
/// background task included.
pub(crate) trait Lockable:
    Resource + ConditionalResource + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

impl<K> Lockable for K where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

/// What [`Lock::run_unreleased`](super::Lock::run_unreleased) did.
// A return value, taken apart at once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Ran<K: Lockable, E> {
    /// Nothing is left to release: the outcome as [`Lock::run`](super::Lock::run)
    /// gives it.
    Finished(Outcome<K, E>),
    /// The task returned and the lock is still held.
    Unreleased {
        /// The release to make.
        pending: Box<Pending<K>>,
        /// Why the task did not succeed.
        error: Option<TaskError<E>>,
        /// When `error` is `Some`: the backoff before the next attempt.
        retry_after: Option<Duration>,
    },
}

/// What a release found.
enum Released<K> {
    /// Released; the object as stored.
    Stored(Box<K>),
    /// The condition is no longer our lock (taken over, edited): this is
    /// what it is now.
    Lost(Option<Value>),
    /// The object is gone: nothing left to release.
    Gone,
}

impl<K: ConditionalResource> Released<K> {
    /// The [`Outcome`] of a run whose task ran and whose lock this released.
    fn outcome<E>(
        self,
        condition: Condition<K::Type, K::Status>,
        takeover: Option<super::LockInfo>,
        token: super::FencingToken,
        error: Option<TaskError<E>>,
        retry_after: Option<Duration>,
    ) -> Outcome<K, E> {
        match self {
            Self::Stored(object) => Outcome::Ran {
                object,
                condition,
                takeover,
                token,
                error,
                retry_after,
            },
            Self::Lost(current) => Outcome::LostLease {
                current: current.as_ref().and_then(parsed::<K>),
                error,
            },
            Self::Gone => Outcome::Gone { ran: true, error },
        }
    }
}

/// The pieces of a [`Pending`] release.
pub(super) struct PendingParts<K: ConditionalResource> {
    pub(super) writer: Writer<K>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) generation: Option<i64>,
    pub(super) type_: K::Type,
    pub(super) release_attempts: usize,
    pub(super) key: registry::Key,
    pub(super) holder: String,
    pub(super) running: registry::Running,
    pub(super) held: Held<K>,
    pub(super) renewed: Renewed,
    pub(super) verdict: Verdict<'static, K::Status>,
    pub(super) holding: Holding,
}

/// A held lock whose task returned: release it with [`release`](Self::release),
/// or with the caller's next write ([`release_with_status`](Self::release_with_status),
/// [`release_with_finalizer_removal`](Self::release_with_finalizer_removal)).
/// Dropped unreleased, it is released in the background.
pub(crate) struct Pending<K: Lockable> {
    inner: Option<Inner<K>>,
}

struct Inner<K: Lockable> {
    writer: Writer<K>,
    release_attempts: usize,
    key: registry::Key,
    holder: String,
    /// Marks the lock as running in this process until it is released:
    /// another run of this holder sees it busy, not its own to take back.
    _running: registry::Running,
    /// The object as the acquire stored it.
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))] // read by the runner
    acquired: K,
    /// The resourceVersion a carried write tests: the acquire's, `None`
    /// once a renewal wrote since (its object is not kept).
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))] // read by the runner
    resource_version: Option<String>,
    /// Where our lock is now, and its stored JSON.
    index: usize,
    fence: Value,
    lock_id: String,
    condition: Condition<K::Type, K::Status>,
    /// `condition` as the entry to store.
    replacement: Value,
    takeover: Option<super::LockInfo>,
    token: super::FencingToken,
    span: tracing::Span,
    /// Counted as held until released (see [`super::hand_over`]).
    _holding: Holding,
}

impl<K: Lockable> Pending<K> {
    pub(super) fn new(parts: PendingParts<K>) -> Result<Self, LockError> {
        let PendingParts {
            writer,
            clock,
            generation,
            type_,
            release_attempts,
            key,
            holder,
            running,
            held,
            renewed,
            verdict,
            holding,
        } = parts;
        // The released condition as `set` makes it from the lock.
        let mut base: Conditions<K::Type, K::Status> =
            serde_json::from_value(Value::Array(vec![renewed.fence.clone()]))?;
        base.set_with(&*clock, generation, &type_, verdict)?;
        let condition = base.find(&type_).cloned().ok_or(LockError::NotAMapList)?;
        let replacement = serde_json::to_value(&condition)?;
        let resource_version = (renewed.fence == held.fence && renewed.index == held.index)
            .then(|| held.object.meta().resource_version.clone())
            .flatten();
        let span = tracing::debug_span!(
            "release",
            object = %writer.object,
            condition = type_.as_str(),
        );
        Ok(Self {
            inner: Some(Inner {
                writer,
                release_attempts,
                key,
                holder,
                _running: running,
                acquired: held.object,
                resource_version,
                index: renewed.index,
                fence: renewed.fence,
                lock_id: held.id,
                condition,
                replacement,
                takeover: held.takeover,
                token: held.token,
                span,
                _holding: holding,
            }),
        })
    }

    #[cfg(feature = "runtime")]
    fn inner(&self) -> &Inner<K> {
        self.inner
            .as_ref()
            .expect("a pending release is released once")
    }

    /// The condition as the release stores it.
    #[cfg(feature = "runtime")]
    pub(crate) fn condition(&self) -> &Condition<K::Type, K::Status> {
        &self.inner().condition
    }

    /// The object as it is once released: the acquire's copy with the
    /// released condition, computed here, not read.
    #[cfg(feature = "runtime")]
    pub(crate) fn object(&self) -> Result<K, LockError> {
        let inner = self.inner();
        let mut object = inner.acquired.clone();
        object
            .conditions_mut()
            .insert_condition(inner.condition.clone())?;
        Ok(object)
    }

    /// Releases the lock alone (a compare-and-swap on our entry, retried
    /// where it moved): the run's [`Outcome`], with the task's `error` and
    /// its `retry_after`.
    pub(crate) async fn release<E>(
        mut self: Box<Self>,
        error: Option<TaskError<E>>,
        retry_after: Option<Duration>,
    ) -> Result<Outcome<K, E>, LockError> {
        let inner = self
            .inner
            .take()
            .expect("a pending release is released once");
        let (condition, takeover, token) =
            (inner.condition.clone(), inner.takeover.clone(), inner.token);
        let span = inner.span.clone();
        let released = inner.release().instrument(span).await?;
        Ok(released.outcome(condition, takeover, token, error, retry_after))
    }

    /// Releases the lock and writes `ops` (JSON Patch operations on the
    /// status that leave our entry alone) in one request as
    /// `field_manager`, on the condition that the object is still as the
    /// acquire stored it. `Err(self)` when that cannot be (a renewal wrote
    /// since) or the server refused it: release alone, then write.
    #[cfg(feature = "runtime")]
    pub(crate) async fn release_with_status(
        self: Box<Self>,
        ops: Vec<Value>,
        field_manager: &str,
    ) -> Result<K, Box<Self>> {
        let Some(inner) = self.inner.as_ref() else {
            return Err(self);
        };
        let Some(rv) = inner.resource_version.as_deref() else {
            return Err(self);
        };
        let path = format!("{LIST}/{}", inner.index);
        let mut patch = vec![
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}),
            json!({"op": "test", "path": path, "value": inner.fence}),
            json!({"op": "replace", "path": path, "value": inner.replacement}),
        ];
        patch.extend(ops);
        let written = inner
            .writer
            .patch_as(&patch, Some(field_manager))
            .instrument(inner.span.clone())
            .await;
        self.carried(written, "status")
    }

    /// Takes in a write that carried the release: released when it was
    /// stored, still pending (for the release alone) when it was not.
    #[cfg(feature = "runtime")]
    fn carried(
        mut self: Box<Self>,
        written: Result<K, kube::Error>,
        with: &'static str,
    ) -> Result<K, Box<Self>> {
        let inner = self
            .inner
            .as_ref()
            .expect("a pending release is released once");
        match written {
            Ok(object) => {
                tracing::debug!(parent: &inner.span, with, "released with the caller's write");
                inner.released();
                self.inner = None;
                Ok(object)
            }
            Err(error) => {
                tracing::debug!(parent: &inner.span, with, %error, "carried release refused: releasing alone");
                Err(self)
            }
        }
    }

    /// Removes `finalizer` instead of releasing, on the condition that the
    /// object is still as the acquire stored it and holds no other
    /// finalizer: the object is then deleted, lock and all. `Err(self)`
    /// otherwise: release alone, then remove the finalizer.
    #[cfg(feature = "runtime")]
    pub(crate) async fn release_with_finalizer_removal(
        self: Box<Self>,
        finalizer: &str,
    ) -> Result<K, Box<Self>> {
        let Some(inner) = self.inner.as_ref() else {
            return Err(self);
        };
        let (Some(rv), [only]) = (
            inner.resource_version.as_deref(),
            inner
                .acquired
                .meta()
                .finalizers
                .as_deref()
                .unwrap_or_default(),
        ) else {
            return Err(self);
        };
        if only != finalizer {
            return Err(self);
        }
        let patch = json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "test", "path": "/metadata/finalizers", "value": [finalizer]},
            {"op": "remove", "path": "/metadata/finalizers"},
        ]);
        let patch: json_patch::Patch =
            serde_json::from_value(patch).expect("a finalizer patch is a valid JSON Patch");
        let written = inner
            .writer
            .api
            .patch(
                &inner.writer.name,
                &PatchParams::default(),
                &Patch::Json::<()>(patch),
            )
            .instrument(inner.span.clone())
            .await;
        self.carried(written, "finalizer removal")
    }
}

impl<K: Lockable> Drop for Pending<K> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        // Dropped unreleased (the caller returned early): release in the
        // background rather than leave the lock until its lease ends.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let span = inner.span.clone();
                runtime.spawn(
                    async move {
                        if let Err(error) = inner.release().await {
                            tracing::warn!(%error, "background release failed");
                        }
                    }
                    .instrument(span),
                );
            }
            Err(_) => {
                tracing::warn!(parent: &inner.span, "dropped unreleased outside a runtime: the lock expires with its lease");
            }
        }
    }
}

impl<K: Lockable> Inner<K> {
    /// Remembers the release, so a stale copy still showing this lock is
    /// not taken for one to take back.
    #[cfg(feature = "runtime")]
    fn released(&self) {
        registry::released(&self.key, &self.holder, &self.lock_id);
    }

    async fn release(self) -> Result<Released<K>, LockError> {
        let Self {
            writer,
            release_attempts,
            key,
            holder,
            mut index,
            mut fence,
            lock_id,
            condition,
            replacement,
            ..
        } = self;
        let mut last_error = None;
        for attempt in 1..=release_attempts {
            let result = writer
                .cas(index, &fence, &replacement, |e| is_our_lock(e, &lock_id))
                .await;
            match result {
                Ok(Cas::Stored { object, entry, .. })
                    if entry == replacement
                        || parsed::<K>(&entry).is_some_and(|c| same_result(&c, &condition)) =>
                {
                    tracing::debug!(attempt, "released");
                    registry::released(&key, &holder, &lock_id);
                    return Ok(Released::Stored(Box::new(object)));
                }
                // Our lock, moved or renewed behind our back: release that.
                Ok(
                    Cas::Moved { index: i, entry }
                    | Cas::Stored {
                        index: i, entry, ..
                    },
                ) => {
                    (index, fence) = (i, entry);
                }
                Ok(Cas::Changed(current)) => {
                    tracing::warn!(?current, "lease lost: the condition is no longer our lock");
                    return Ok(Released::Lost(Some(current).filter(|c| !c.is_null())));
                }
                Ok(Cas::Gone) => {
                    tracing::info!("the object was deleted while the task ran");
                    return Ok(Released::Gone);
                }
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "release failed");
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
                }
            }
        }
        let source = last_error.expect("every attempt that did not return failed");
        tracing::error!(error = %source, "release failed: the lock stays until its lease expires");
        Err(LockError::Release {
            attempts: release_attempts,
            source,
        })
    }
}
