//! Replicas that share the work: each replica of an operator joins a
//! group as a member (a `coordination.k8s.io` Lease it renews), the
//! objects are divided between the present members by rendezvous hashing
//! of their UIDs, and a member runs the locked steps of the objects it
//! owns without a per-object lock write: the lock's condition is written
//! once, with the status, after the task ran. Every replica works, where
//! leader election leaves all but one idle.
//!
//! # What it guarantees, and how
//!
//! * **One owner at a time.** A member acts only while its own lease
//!   holds: until its lease duration minus a margin after it *sent* its
//!   last successful renewal (and the listing of the group after it). The
//!   others consider it present until a whole lease has passed since they
//!   first saw its current Lease version, on their own clocks, and then
//!   until they deleted its Lease: its objects move only after it stopped
//!   acting, whatever the wall clocks say. A member that joins with a new
//!   Lease while other members are there waits one lease before it acts:
//!   by then every other member has listed the group since, and stopped
//!   acting on the objects it gains. A member that keeps its Lease (it
//!   lapsed, paused, but nobody deleted it) or takes it back (restarted
//!   under the same name) acts at once: nobody took its objects.
//! * **One process per member name.** Each Lease carries the
//!   [incarnation](INCARNATION_ANNOTATION) of the process that wrote it.
//!   A member whose renewal finds its Lease written by another live
//!   process under its name (a name copied into two replicas) stops
//!   acting, logs an error, and stands by until that Lease is deleted or
//!   goes a whole lease without a renewal, instead of taking it back: the
//!   two would otherwise take it from each other at every renewal.
//! * **Fencing.** A member's [token](Member::token) is the resourceVersion
//!   of a renewal it wrote after it saw the group as it is now: greater
//!   than any token of a member whose objects it took over (all
//!   resourceVersions come from one etcd counter, so tokens are also
//!   comparable with the per-object lock's). A sink that keeps the
//!   greatest token per key refuses the late write of a paused old owner.
//! * **No lost records.** The runner's status write tests the
//!   resourceVersion of the copy it computed from; an object gained from
//!   another member is read live once before its first step.
//!
//! What it does not do: a task's side effect may run twice when its owner
//! dies (or its write is refused) after the side effect and before the
//! status write that records it, exactly as with the per-object lock when
//! a holder dies between its side effect and its release: give the
//! [idempotency key](crate::LockContext::idempotency_key) to the external
//! system. A cleanup runs whenever the finalizer is held (no acquire
//! write records that a task may have started), so it must tolerate
//! nothing to undo.
//!
//! ```no_run
//! use std::time::Duration;
//! use konditions_core::example::Widget;
//! use konditions_core::reconcile::Reconciler;
//! use konditions_core::shard::Group;
//! # async fn demo(client: kube::Client) -> Result<(), konditions_core::shard::ShardError> {
//! // The member's name: POD_NAME, else the host name and process id.
//! let member = Group::new(client.clone(), "widget-system", "widget-controller")
//!     .lease(Duration::from_secs(15))
//!     .join()
//!     .await?;
//! let reconciler = Reconciler::<Widget>::new(client, "widget-controller").shard(member.clone());
//! // Controller::new(..).reconcile_all_on(member.changes()).run(..)
//! // ... and when the controller has stopped:
//! member.leave().await;
//! # let _ = reconciler;
//! # Ok(())
//! # }
//! ```

mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Api, Client};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::lock::{self, FencingToken, LostBecause};
use view::{Listed, Observations, owner};

/// The label that marks a group's Leases; its value is the group's name.
pub const GROUP_LABEL: &str = "konditions.dev/shard-group";
/// The annotation of a member's Lease that tells which process wrote it
/// (one value per [`Group::join`]): how a member finds that another live
/// process joined under its name.
pub const INCARNATION_ANNOTATION: &str = "konditions.dev/incarnation";
/// The lease of a member unless [`Group::lease`] says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// What went wrong when joining.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// The group's or the member's name cannot name a Lease.
    #[error(
        "\"{0}\" cannot name a member Lease: group and member must be lower-case letters, digits, '-' and '.', the group at most 63 characters, \"<group>-<member>\" at most 253"
    )]
    InvalidName(String),
    /// The lease is shorter than 3 seconds (renewals every third of it
    /// must fit round trips to the API server).
    #[error("a member lease of {0:?} is too short: give at least 3 seconds")]
    LeaseTooShort(Duration),
    /// The first write of the member's Lease failed.
    #[error("could not write the member Lease {name}: {source}")]
    Join {
        /// The Lease.
        name: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
}

/// A group to join: its namespace and name, this member's name and lease.
#[derive(Clone)]
#[must_use = "a group does nothing until `join` is awaited"]
pub struct Group {
    client: Client,
    namespace: String,
    /// The group's name.
    title: String,
    member: String,
    lease: Duration,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("namespace", &self.namespace)
            .field("name", &self.title)
            .field("member", &self.member)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Group {
    /// The group `name` (the operator's name: every replica gives the
    /// same), whose member Leases live in `namespace` (the operator's own),
    /// joined as [`default_holder`](crate::lock::default_holder) with the
    /// [`DEFAULT_LEASE`].
    pub fn new(client: Client, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            title: name.into(),
            member: lock::default_holder().to_lowercase(),
            lease: DEFAULT_LEASE,
        }
    }

    /// This replica's name in the group, unique per replica (the pod's
    /// name; the default, [`default_holder`](crate::lock::default_holder),
    /// is `POD_NAME`, else the host name and process id). Of two live
    /// processes given the same name, the one that joined first stands by
    /// once it finds out (see the [module documentation](self)).
    pub fn member(mut self, member: impl Into<String>) -> Self {
        self.member = member.into();
        self
    }

    /// How long this member's Lease holds without a renewal (renewed every
    /// third of it): how long its objects wait when it dies, and how long
    /// a member that joins a working group waits before it acts.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The name of this member's Lease.
    fn lease_name(&self) -> String {
        format!("{}-{}", self.title, self.member)
    }

    /// Joins the group: writes this member's Lease and starts renewing it
    /// in the background. The member acts on no object until it has seen
    /// the group (at once when it is alone, after one lease when other
    /// members were there).
    ///
    /// # Errors
    /// A name that cannot name a Lease, a lease under 3 seconds, or the
    /// API server refused the first write (RBAC: the operator needs `get`,
    /// `list`, `create`, `update` and `delete` on `leases` in the
    /// namespace).
    pub async fn join(self) -> Result<Member, ShardError> {
        let name = self.lease_name();
        let dns = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !dns(&self.title) || self.title.len() > 63 {
            return Err(ShardError::InvalidName(self.title));
        }
        if !dns(&self.member) || name.len() > 253 {
            return Err(ShardError::InvalidName(self.member));
        }
        if self.lease < Duration::from_secs(3) {
            return Err(ShardError::LeaseTooShort(self.lease));
        }
        let (state, _) = watch::channel(State::default());
        let lease = Arc::new(Mutex::new(lapsed_lease()));
        let (changes, _) = watch::channel(0u64);
        let mut membership = Membership {
            api: Api::namespaced(self.client.clone(), &self.namespace),
            name,
            group: self.clone(),
            incarnation: incarnation(),
            own: None,
            standing_by: false,
            observations: Observations::default(),
            warm_until: None,
            lapsed: false,
            state: state.clone(),
            lease: lease.clone(),
            changes: changes.clone(),
        };
        // The first write here, so that a refusal (RBAC) is the caller's error.
        let sent = Instant::now();
        let joined = membership
            .renew(sent)
            .await
            .map_err(|source| ShardError::Join {
                name: membership.name.clone(),
                source,
            })?;
        let (stop, stopped) = oneshot::channel();
        let span = tracing::info_span!("shard", group = %self.title, member = %self.member);
        let task = tokio::spawn(membership.run(sent, joined, stopped).instrument(span));
        Ok(Member {
            inner: Arc::new(Inner {
                group: self,
                state,
                lease,
                changes,
                stop: Mutex::new(Some((stop, task))),
            }),
        })
    }
}

/// The group as this member last saw it.
#[derive(Clone, Debug, Default)]
struct State {
    /// Counts the changes of `present`.
    view: u64,
    /// The present members, sorted (members warming up included: their
    /// objects wait for them).
    present: Arc<[String]>,
    /// `present` before the last change.
    previous: Arc<[String]>,
    /// `Some` while this member acts: its token and until when.
    active: Option<(FencingToken, Instant)>,
}

/// Who runs an object's steps, as this member sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ownership {
    /// This member: it runs the steps, with this fencing token.
    Mine(FencingToken),
    /// Another member.
    Theirs(String),
    /// Nobody here: this member is not acting (warming up after it joined,
    /// or its lease lapsed and it is joining again).
    Inactive,
}

/// This member's claim on an object, for the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) token: FencingToken,
    /// The object was another member's before the last change: the view
    /// number at which it moved here.
    pub(crate) gained: Option<u64>,
}

/// A joined member: what the runner asks who owns an object. Clones share
/// the membership; [`leave`](Self::leave) ends it for all of them (so
/// does dropping the last clone, without deleting the Lease: as a crash).
#[derive(Clone)]
pub struct Member {
    inner: Arc<Inner>,
}

struct Inner {
    group: Group,
    state: watch::Sender<State>,
    lease: Arc<Mutex<watch::Sender<lock::Lease>>>,
    changes: watch::Sender<u64>,
    stop: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((_, task)) = self.stop.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state.borrow();
        f.debug_struct("Member")
            .field("group", &self.inner.group.title)
            .field("member", &self.inner.group.member)
            .field("present", &state.present)
            .field("active", &state.active.is_some())
            .finish()
    }
}

impl Member {
    /// This member's name.
    pub fn name(&self) -> &str {
        &self.inner.group.member
    }

    /// The members present as this member last saw the group, sorted.
    pub fn members(&self) -> Vec<String> {
        self.inner.state.borrow().present.to_vec()
    }

    /// This member's fencing token while it acts.
    pub fn token(&self) -> Option<FencingToken> {
        self.active().map(|(token, _)| token)
    }

    fn active(&self) -> Option<(FencingToken, Instant)> {
        self.inner
            .state
            .borrow()
            .active
            .filter(|(_, until)| Instant::now() < *until)
    }

    /// Who runs the steps of the object with this UID.
    pub fn ownership(&self, uid: &str) -> Ownership {
        let state = self.inner.state.borrow();
        let Some((token, until)) = state.active else {
            return Ownership::Inactive;
        };
        if Instant::now() >= until {
            return Ownership::Inactive;
        }
        match owner(&state.present, uid) {
            Some(m) if m == self.inner.group.member => Ownership::Mine(token),
            Some(m) => Ownership::Theirs(m.to_owned()),
            None => Ownership::Inactive,
        }
    }

    /// [`ownership`](Self::ownership) for the runner: `Some` when mine.
    pub(crate) fn claim(&self, uid: &str) -> Option<Claim> {
        let state = self.inner.state.borrow();
        let (token, until) = state.active?;
        if Instant::now() >= until || owner(&state.present, uid)? != self.inner.group.member {
            return None;
        }
        let gained =
            (owner(&state.previous, uid) != Some(&self.inner.group.member)).then_some(state.view);
        Some(Claim { token, gained })
    }

    /// What a task running on this member's objects is told of its
    /// "lease": this member's, lost when the membership lapses.
    pub(crate) fn lease(&self) -> watch::Receiver<lock::Lease> {
        self.inner
            .lease
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .subscribe()
    }

    /// A stream that yields whenever the objects this member owns may have
    /// changed (a member joined or left, this member started or stopped
    /// acting): give it to kube-runtime's `Controller::reconcile_all_on`,
    /// so the objects that moved here are reconciled at once.
    pub fn changes(&self) -> impl Stream<Item = ()> + Send + Sync + 'static {
        let receiver = self.inner.changes.subscribe();
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.changed().await.ok()?;
            Some(((), receiver))
        })
    }

    /// Leaves the group: stops renewing and deletes this member's Lease,
    /// so the others take its objects over at their next listing instead
    /// of after its lease. Call it once the controller stopped (no step
    /// of this member runs any more).
    pub async fn leave(&self) {
        let stop = self.inner.stop.lock().ok().and_then(|mut s| s.take());
        if let Some((stop, task)) = stop {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

/// What a write of this member's Lease did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Written {
    /// Renewed, this member acting or warming up.
    Renewed,
    /// Joined with a new Lease: other members may have been acting on
    /// objects that are now this one's.
    Created,
    /// Joined again with the Lease it had (after its lease lapsed without
    /// anyone deleting it, or taken back from an earlier process of this
    /// member): nobody took its objects.
    Kept,
}

/// The renewal loop's state.
struct Membership {
    api: Api<Lease>,
    name: String,
    group: Group,
    /// This process's mark on the Lease ([`INCARNATION_ANNOTATION`]).
    incarnation: String,
    /// This member's Lease as last stored.
    own: Option<Lease>,
    /// Another live process took this member's Lease (the same name,
    /// twice): this member stands by while that Lease is present, by the
    /// rule that judges every member's ([`Observations`]).
    standing_by: bool,
    observations: Observations,
    /// Not acting before this, after a join that found other members.
    warm_until: Option<Instant>,
    /// The lease lapsed without a renewal: the next write joins again.
    lapsed: bool,
    state: watch::Sender<State>,
    /// The lease tasks see, one channel per time this member acts: a task
    /// that began before a lapse stays lost after this member acts again.
    lease: Arc<Mutex<watch::Sender<lock::Lease>>>,
    changes: watch::Sender<u64>,
}

impl Membership {
    /// Until when a write sent at `sent` lets this member act: the lease
    /// minus a margin for clock drift and the listing after it.
    fn valid_until(&self, sent: Instant) -> Instant {
        sent + self.group.lease - self.margin()
    }

    fn margin(&self) -> Duration {
        (self.group.lease / 5).max(Duration::from_secs(1))
    }

    fn every(&self) -> Duration {
        self.group.lease / 3
    }

    fn spec(&self, acquired: bool) -> Lease {
        let now = MicroTime(Timestamp::now());
        let mut lease = self.own.clone().unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(BTreeMap::from([(
                    GROUP_LABEL.to_owned(),
                    self.group.title.clone(),
                )])),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec::default()),
        });
        lease
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(INCARNATION_ANNOTATION.to_owned(), self.incarnation.clone());
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some(self.group.member.clone());
        spec.lease_duration_seconds = i32::try_from(self.group.lease.as_secs()).ok();
        spec.renew_time = Some(now.clone());
        if acquired {
            spec.acquire_time = Some(now);
        }
        lease
    }

    /// Renews this member's Lease, sent at `sent`, or joins: writes a new
    /// Lease (or takes back its own from an earlier process) when it has
    /// none or its lease lapsed (a pause included). A Lease changed or
    /// deleted by another member (which found it expired) means the lease
    /// lapsed: the next round joins again.
    async fn renew(&mut self, sent: Instant) -> Result<Written, kube::Error> {
        let expired = self
            .state
            .borrow()
            .active
            .is_some_and(|(_, until)| sent >= until);
        let joining = self.own.is_none() || self.lapsed || expired;
        let lease = self.spec(joining);
        let params = PostParams::default();
        // A Lease that was never deleted: no other member took this one's
        // objects (they do only once its Lease is gone).
        let mut written = if joining {
            Written::Kept
        } else {
            Written::Renewed
        };
        let result = match &self.own {
            Some(_) => self.api.replace(&self.name, &params, &lease).await,
            None => match self.api.create(&params, &lease).await {
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    // Ours from an earlier process of this member (a
                    // restart with the same name): taken back.
                    let current = self.api.get(&self.name).await?;
                    let mut lease = lease;
                    lease.metadata.resource_version = current.metadata.resource_version;
                    self.api.replace(&self.name, &params, &lease).await
                }
                other => {
                    written = Written::Created;
                    other
                }
            },
        };
        match result {
            Ok(stored) => {
                self.own = Some(stored);
                self.lapsed = false;
                Ok(written)
            }
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {
                if e.code == 409 {
                    self.find_namesake().await;
                }
                if !self.standing_by {
                    tracing::warn!(lease = %self.name, "member Lease changed by another member: the lease lapsed, joining again");
                }
                self.own = None;
                self.lapsed = true;
                self.stop_acting();
                Err(kube::Error::Api(e))
            }
            Err(e) => Err(e),
        }
    }

    /// After a renewal refused with a conflict: whether another live
    /// process wrote this member's Lease (it took it back, as a restart
    /// does, while this one still runs). Then this one stands by, and says
    /// why: two processes under one name would otherwise take the Lease
    /// from each other at every renewal, both acting in between.
    async fn find_namesake(&mut self) {
        let Ok(Some(current)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let theirs = current
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INCARNATION_ANNOTATION));
        let holder = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref());
        if holder != Some(self.group.member.as_str())
            || theirs.is_none_or(|theirs| *theirs == self.incarnation)
        {
            return;
        }
        tracing::error!(
            lease = %self.name,
            "another process joined the group under this member's name: this one stops acting \
             and stands by until that one's Lease is deleted or not renewed for a whole lease; \
             give each replica its own member name (the pod's name, Group::member)"
        );
        self.standing_by = true;
    }

    /// While another process holds this member's Lease: whether it still
    /// does, judged as any member is (its Lease listed and renewed within
    /// a lease of this member first seeing its version). When it does not
    /// any more, this member joins again at its next write.
    async fn namesake_holds(&mut self) -> Result<bool, kube::Error> {
        if !self.standing_by {
            return Ok(false);
        }
        let listed = self.list().await?;
        let (present, _) = self.observations.observe(&listed, Instant::now());
        if present.contains(&self.group.member) {
            return Ok(true);
        }
        tracing::info!(lease = %self.name, "the other process under this member's name is gone: joining again");
        self.standing_by = false;
        Ok(false)
    }

    fn stop_acting(&self) {
        self.state.send_if_modified(|s| s.active.take().is_some());
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        lease.send_modify(|l| l.lost = Some(LostBecause::Lapsed));
        // The tasks of this time keep the lost lease; the next time gets
        // a channel of its own.
        *lease = lapsed_lease();
        drop(lease);
        self.changes.send_modify(|c| *c += 1);
    }

    /// The group's Leases.
    async fn list(&self) -> Result<Vec<Listed>, kube::Error> {
        let selector = format!("{GROUP_LABEL}={}", self.group.title);
        let leases = self
            .api
            .list(&ListParams::default().labels(&selector))
            .await?;
        Ok(leases
            .items
            .into_iter()
            .filter_map(|l| {
                let spec = l.spec?;
                Some(Listed {
                    member: spec.holder_identity?,
                    resource_version: l.metadata.resource_version?,
                    lease: Duration::from_secs(u64::try_from(spec.lease_duration_seconds?).ok()?),
                })
            })
            .collect())
    }

    /// One round: renew (or join; `written` when `join` just wrote), list
    /// the group, work out who is present, and, when that changed or this
    /// member starts acting, write once more for a token newer than what
    /// it saw.
    async fn round(&mut self, sent: Instant, written: Option<Written>) -> Result<(), kube::Error> {
        if self.namesake_holds().await? {
            return Ok(());
        }
        let written = match written {
            Some(written) => written,
            None => self.renew(sent).await?,
        };
        let listed = self.list().await?;
        let now = Instant::now();
        let (mut present, expired) = self.observations.observe(&listed, now);
        if !present.contains(&self.group.member) {
            // Our own Lease counts from our own renewal.
            present.push(self.group.member.clone());
            present.sort();
        }
        if written == Written::Created {
            // Other members may be acting on objects that are now this
            // one's: they stop at their next listing, within a lease.
            let others = listed.iter().any(|l| l.member != self.group.member);
            self.warm_until = others.then(|| now + self.group.lease);
            tracing::info!(warm_up = others, "joined the group");
        } else if written == Written::Kept {
            tracing::info!("joined the group again with its own Lease");
        }
        // A member whose lease ended keeps its objects until its Lease is
        // deleted: a member that keeps (or takes back) its own Lease knows
        // that nobody took its objects.
        for member in expired {
            if !self.evict(&member).await {
                present.push(member);
            }
        }
        present.sort();
        let warming = self.warm_until.is_some_and(|w| now < w);
        let changed = *self.state.borrow().present != *present;
        let was_active = self.state.borrow().active.is_some();
        let token = if warming {
            None
        } else if changed || !was_active {
            // Written after the listing: greater than any token of a
            // member whose objects this one gains.
            self.renew(Instant::now()).await?;
            self.own_token()
        } else {
            self.state.borrow().active.map(|(t, _)| t)
        };
        let until = self.valid_until(sent);
        let active = token.map(|t| (t, until));
        let flipped = active.is_some() != was_active;
        self.state.send_modify(|s| {
            if changed {
                s.view += 1;
                let present: Arc<[String]> = present.into();
                // Nothing is gained at the first view: the cache was just
                // listed, as fresh as a live read.
                s.previous = if s.view == 1 {
                    present.clone()
                } else {
                    s.present.clone()
                };
                s.present = present;
            }
            s.active = active;
        });
        if active.is_some() {
            let expires_at = Timestamp::now()
                .checked_add(until.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| Timestamp::now());
            self.lease
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send_replace(lock::Lease {
                    expires_at,
                    valid_until: until,
                    lost: None,
                });
        }
        if changed || flipped {
            tracing::info!(members = ?self.state.borrow().present, active = active.is_some(), "group changed");
            self.changes.send_modify(|c| *c += 1);
        }
        Ok(())
    }

    fn own_token(&self) -> Option<FencingToken> {
        let rv = self.own.as_ref()?.metadata.resource_version.as_deref()?;
        FencingToken::from_resource_version(rv)
    }

    /// Deletes the Lease of a member whose lease ended, if it is still the
    /// version that ended: its late renewal then fails and it joins again.
    /// Whether its Lease is gone.
    async fn evict(&self, member: &str) -> bool {
        let name = format!("{}-{member}", self.group.title);
        let lease = match self.api.get_opt(&name).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return true,
            Err(e) => {
                tracing::warn!(%member, error = %e, "member's Lease not read: it keeps its objects");
                return false;
            }
        };
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: lease.metadata.resource_version.clone(),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(&name, &params).await {
            Ok(_) => {
                tracing::info!(%member, "member's lease ended: its Lease deleted");
                true
            }
            Err(kube::Error::Api(e)) if e.code == 404 => true,
            Err(e) => {
                tracing::warn!(%member, error = %e, "member's Lease not deleted: it keeps its objects");
                false
            }
        }
    }

    async fn run(mut self, mut sent: Instant, joined: Written, mut stopped: oneshot::Receiver<()>) {
        // The first round's write was `join`'s.
        let mut joined = Some(joined);
        loop {
            // A round that hangs past this member's lease must not keep
            // it acting: it stops when the lease runs out, round or not.
            let active_until = self.state.borrow().active.map(|(_, until)| until);
            let deadline = active_until
                .unwrap_or(sent)
                .max(Instant::now() + self.every());
            let round = tokio::time::timeout_at(deadline, self.round(sent, joined.take())).await;
            let retry = match round {
                Ok(Ok(())) => self.every(),
                Ok(Err(error)) => {
                    // A namesake's write: the error said why, once.
                    if !self.standing_by {
                        tracing::warn!(%error, "member renewal failed");
                    }
                    self.every() / 3
                }
                Err(_) => {
                    tracing::warn!("member renewal timed out: not acting");
                    self.stop_acting();
                    self.lapsed = true;
                    self.every() / 3
                }
            };
            let until = self.state.borrow().active.map(|(_, until)| until);
            let next = sent + retry;
            let next = match self.warm_until {
                Some(w) if w > Instant::now() => next.min(w),
                _ => next,
            };
            let next = next.max(Instant::now() + Duration::from_millis(50));
            // Stop acting exactly when the lease runs out unrenewed.
            let lapse = async {
                match until {
                    Some(until) if until < next => tokio::time::sleep_until(until).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stopped => break,
                () = lapse => {
                    tracing::warn!("member lease not renewed in time: not acting");
                    self.stop_acting();
                    self.lapsed = true;
                    tokio::select! {
                        _ = &mut stopped => break,
                        () = tokio::time::sleep_until(next) => {}
                    }
                }
                () = tokio::time::sleep_until(next) => {}
            }
            sent = Instant::now();
        }
        self.stop_acting();
        if let Some(own) = &self.own {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: own.metadata.resource_version.clone(),
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            match self.api.delete(&self.name, &params).await {
                Ok(_) => tracing::info!("left the group"),
                Err(error) => {
                    tracing::warn!(%error, "could not delete the member Lease: it expires")
                }
            }
        }
    }
}

/// A mark of this join, unique among processes: the process id, the time
/// and a count.
fn incarnation() -> String {
    static JOINS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        Timestamp::now().as_nanosecond(),
        JOINS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// The lease of a member that does not act.
fn lapsed_lease() -> watch::Sender<lock::Lease> {
    watch::channel(lock::Lease {
        expires_at: Timestamp::now(),
        valid_until: Instant::now(),
        lost: Some(LostBecause::Lapsed),
    })
    .0
}
