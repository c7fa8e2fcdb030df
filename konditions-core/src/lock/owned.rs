//! A locked step run by the member of a group that owns the object
//! ([`shard`](crate::shard)): no acquire, no renewal, no release. The
//! member's own lease stands for the lock's, its fencing token for the
//! acquire's; the condition the release would have stored is returned for
//! the caller to write with the status. The rules of the condition itself
//! (done once per generation, the backoff of a failure, the attempt
//! count, a busy per-object lock left by a replica that does not share)
//! are the lock's own.

use std::fmt::Debug;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::registry::Key;
use super::types::{Lease, Outcome, Reason, TaskError};
use super::{FencingToken, Lock, LockContext, LockError, Plan, Settled};
use crate::{Condition, ConditionType, ConditionalResource, Conditions, WrittenBy};

/// What the owner of an object runs under instead of a lock.
pub(crate) struct Grant {
    /// The member.
    pub(crate) holder: String,
    /// The member's fencing token.
    pub(crate) token: FencingToken,
    /// The member's lease, lost when its membership lapses.
    pub(crate) lease: watch::Receiver<Lease>,
}

/// What [`Lock::run_owned`] did.
pub(crate) enum Owned<K: ConditionalResource, E> {
    /// The task did not run: done, busy, backing off, as the lock says.
    Finished(Outcome<K, E>),
    /// The task ran: the condition to write, its error and backoff.
    Ran {
        condition: Condition<K::Type, K::Status>,
        error: Option<TaskError<E>>,
        retry_after: Option<Duration>,
    },
}

impl<K> Lock<K>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Runs `task` as the owner of the object, under `grant`: the
    /// condition as the lock would release it, not written.
    ///
    /// # Panics
    /// Resumes the task's panic (nothing was written).
    pub(crate) async fn run_owned<F, Fut, E>(
        mut self,
        grant: Grant,
        task: F,
    ) -> Result<Owned<K, E>, LockError>
    where
        F: FnOnce(LockContext<K>) -> Fut,
        Fut: Future<Output = Result<crate::Verdict<'static, K::Status>, E>>,
        E: Reason,
    {
        let name = self.name.clone().ok_or(LockError::MissingName)?;
        if !K::Type::declared().is_empty() && self.type_.written_by() != WrittenBy::Lock {
            return Err(LockError::NotLockDeclared(self.type_.as_str().to_owned()));
        }
        self.holder = Some(grant.holder.clone());
        let object = format!("{}/{name}", self.api.resource_url());
        let condition = self.type_.as_str().to_owned();
        let key = Key::new(object.clone(), self.uid.clone(), &condition);
        let now = self.clock.now();
        match self.plan(&key, now) {
            // An expired lock, or one of ours: the owner runs.
            Plan::Acquire { .. } | Plan::Stale => {}
            Plan::Done(c) => return Ok(Owned::Finished(Outcome::Done(c))),
            Plan::Busy(busy) => return Ok(Owned::Finished(Outcome::Busy(busy))),
            Plan::BackingOff(wait) => return Ok(Owned::Finished(Outcome::BackingOff(wait))),
        }
        let context = LockContext {
            previous: self.previous.clone(),
            takeover: None,
            holder: grant.holder,
            acquired_at: now,
            token: grant.token,
            key: self.idempotency_key(&object, &condition),
            lease: grant.lease,
        };
        let result = AssertUnwindSafe(async move { task(context).await })
            .catch_unwind()
            .await;
        let Settled {
            verdict,
            error,
            retry_after,
            panic,
        } = self.settle(result);
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
        let mut base: Conditions<K::Type, K::Status> = self.previous.iter().cloned().collect();
        base.set_with(&*self.clock, self.generation, &self.type_, verdict)?;
        let condition = base
            .find(&self.type_)
            .cloned()
            .ok_or(LockError::NotAMapList)?;
        Ok(Owned::Ran {
            condition,
            error,
            retry_after,
        })
    }
}
