//! Replicas that share the work, against the real API server: members of a
//! group divide the objects and agree on every owner, a member that leaves
//! or is cut off hands its objects over only once it stopped acting, and
//! two runners sharing a kind run each locked step once, within the
//! Go operator's write budget.

// The measured writes are printed for the record (run with --nocapture).
#![allow(clippy::print_stderr)]

mod lock_support;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use konditions_core::lock::{FencingToken, LockContext};
use konditions_core::reconcile::{Error, Reconciler};
use konditions_core::shard::{GROUP_LABEL, Group, Member, Ownership};
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions, Status, Verdict};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::{Api, Client, CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const LEASE: Duration = Duration::from_secs(3);
const WAIT: Duration = Duration::from_secs(60);

fn uids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("3e5b1c2a-{i:04x}-4f00-8a00-00000000{i:04x}"))
        .collect()
}

async fn join(client: Client, namespace: &str, member: &str) -> Member {
    Group::new(client, namespace, "tickets")
        .member(member)
        .lease(LEASE)
        .join()
        .await
        .expect("join the group")
}

/// Waits until `done` holds, polling.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The members that claim `uid` now.
fn claimants<'m>(members: &'m [&'m Member], uid: &str) -> Vec<&'m str> {
    members
        .iter()
        .filter(|m| matches!(m.ownership(uid), Ownership::Mine(_)))
        .map(|m| m.name())
        .collect()
}

#[tokio::test]
async fn members_divide_the_objects_and_one_that_leaves_hands_its_share_over() {
    let client = konditions_testing::client().await;
    let ns = konditions_testing::namespace(&client).await;
    let objects = uids(300);

    let a = join(client.clone(), ns.name(), "member-a").await;
    // Alone: it acts at once, and owns everything.
    until("member-a acting", || a.token().is_some()).await;
    assert!(
        objects
            .iter()
            .all(|u| matches!(a.ownership(u), Ownership::Mine(_)))
    );
    let first = a.token().unwrap();

    let b = join(client.clone(), ns.name(), "member-b").await;
    let c = join(client.clone(), ns.name(), "member-c").await;
    let all = [&a, &b, &c];
    // Never two owners, while the newcomers warm up and after.
    until("all three acting, with the same view", || {
        for uid in &objects {
            let claim = claimants(&all, uid);
            assert!(claim.len() <= 1, "{uid} claimed by {claim:?}");
        }
        all.iter()
            .all(|m| m.token().is_some() && m.members().len() == 3)
    })
    .await;
    for uid in &objects {
        assert_eq!(claimants(&all, uid).len(), 1, "{uid} has no owner");
    }
    let shares: Vec<usize> = all
        .iter()
        .map(|m| {
            objects
                .iter()
                .filter(|u| matches!(m.ownership(u), Ownership::Mine(_)))
                .count()
        })
        .collect();
    eprintln!("shares of 300 objects among three members: {shares:?}");
    assert!(shares.iter().all(|&n| n >= 50), "{shares:?}");
    // Tokens of members that joined later are newer.
    assert!(b.token().unwrap() > first && c.token().unwrap() > first);

    let before_b = b.token().unwrap();
    a.leave().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns.name());
    assert!(leases.get_opt("tickets-member-a").await.unwrap().is_none());
    let rest = [&b, &c];
    until("member-a's objects taken over", || {
        objects.iter().all(|u| {
            let claim = claimants(&rest, u);
            assert!(claim.len() <= 1, "{u} claimed by {claim:?}");
            claim.len() == 1
        })
    })
    .await;
    // A member that gains objects fences with a newer token.
    assert!(b.token().unwrap() > before_b);
    let listed = leases
        .list(&ListParams::default().labels(&format!("{GROUP_LABEL}=tickets")))
        .await
        .unwrap();
    let names: BTreeSet<String> = listed.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(
        names,
        BTreeSet::from(["tickets-member-b".to_owned(), "tickets-member-c".to_owned()])
    );
}

#[tokio::test]
async fn a_member_cut_off_stops_acting_before_the_other_takes_its_objects_over() {
    let admin = konditions_testing::client().await;
    let ns = konditions_testing::namespace(&admin).await;
    let objects = uids(200);
    let (cut_client, _, cut) = lock_support::cuttable_client().await;
    let a = join(cut_client, ns.name(), "member-a").await;
    let b = join(admin.clone(), ns.name(), "member-b").await;
    let both = [&a, &b];
    until("both acting", || {
        both.iter()
            .all(|m| m.token().is_some() && m.members().len() == 2)
    })
    .await;
    let a_objects: Vec<&String> = objects
        .iter()
        .filter(|u| matches!(a.ownership(u), Ownership::Mine(_)))
        .collect();
    assert!(!a_objects.is_empty());
    let a_token = a.token().unwrap();

    // Cut off: member-a can neither renew nor learn anything.
    cut.store(true, Ordering::SeqCst);
    let cut_at = tokio::time::Instant::now();
    let mut a_stopped = None;
    until("member-a's objects taken over by member-b", || {
        for uid in &objects {
            let claim = claimants(&both, uid);
            assert!(claim.len() <= 1, "{uid} claimed by {claim:?} at once");
        }
        if a_stopped.is_none() && a.token().is_none() {
            a_stopped = Some(cut_at.elapsed());
        }
        a_objects
            .iter()
            .all(|u| matches!(b.ownership(u), Ownership::Mine(_)))
    })
    .await;
    let taken_over = cut_at.elapsed();
    let a_stopped = a_stopped.expect("member-a stopped acting before the takeover");
    eprintln!(
        "cut off: member-a stopped acting after {a_stopped:?}, member-b took over after {taken_over:?} (lease {LEASE:?})"
    );
    assert!(a_stopped < taken_over);
    let b_token = b.token().unwrap();
    assert!(b_token > a_token, "{b_token} after {a_token}");

    // Back: member-b deleted its expired Lease, so member-a joins again,
    // waits a lease (member-b is there), then takes its share back with a
    // newer token. Never two owners meanwhile.
    cut.store(false, Ordering::SeqCst);
    until("member-a acting again", || {
        for uid in &objects {
            let claim = claimants(&both, uid);
            assert!(
                claim.len() <= 1,
                "{uid} claimed by {claim:?} on the way back"
            );
        }
        a.token().is_some() && b.members().len() == 2
    })
    .await;
    assert!(a.token().unwrap() > b_token);
    for uid in &objects {
        assert_eq!(claimants(&both, uid).len(), 1);
    }
}

#[tokio::test]
async fn a_member_restarted_under_its_name_takes_its_lease_and_its_share_back_untouched() {
    let client = konditions_testing::client().await;
    let ns = konditions_testing::namespace(&client).await;
    let objects = uids(200);
    // A longer lease than the other tests': the restart must come back
    // before member-b finds member-a's lease ended, on a loaded machine too.
    let join = |member: &'static str| {
        Group::new(client.clone(), ns.name(), "tickets")
            .member(member)
            .lease(Duration::from_secs(8))
            .join()
    };
    let a = join("member-a").await.expect("join");
    let b = join("member-b").await.expect("join");
    until("both acting", || {
        [&a, &b]
            .iter()
            .all(|m| m.token().is_some() && m.members().len() == 2)
    })
    .await;
    let a_objects: Vec<String> = objects
        .iter()
        .filter(|u| matches!(a.ownership(u), Ownership::Mine(_)))
        .cloned()
        .collect();
    let old_token = a.token().unwrap();
    // A crash: the process is gone, its Lease stays.
    drop(a);
    let a = join("member-a").await.expect("join again");
    let both = [&a, &b];
    until("the restarted member acting", || {
        for uid in &objects {
            let claim = claimants(&both, uid);
            assert!(claim.len() <= 1, "{uid} claimed by {claim:?}");
        }
        // Its Lease was never deleted: the other never took its share.
        assert!(
            a_objects
                .iter()
                .all(|u| !matches!(b.ownership(u), Ownership::Mine(_))),
            "member-b took member-a's objects although its Lease stayed"
        );
        a.token().is_some()
    })
    .await;
    assert!(a.token().unwrap() > old_token);
    assert!(
        a_objects
            .iter()
            .all(|u| matches!(a.ownership(u), Ownership::Mine(_)))
    );
}

/// What the subscriber set by [`capture_logs`] wrote.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Captures the logs of this thread (a `#[tokio::test]` runs its tasks on
/// its own thread) until the guard is dropped.
fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn a_second_live_process_under_a_members_name_makes_the_first_stand_by_until_it_ends() {
    let (logs, _capture) = capture_logs();
    let client = konditions_testing::client().await;
    let ns = konditions_testing::namespace(&client).await;
    let objects = uids(50);
    // A longer lease than the other tests': on a loaded machine, the
    // second's renewals (every third of it) must not miss a whole lease.
    let lease = Duration::from_secs(6);
    let join = || {
        Group::new(client.clone(), ns.name(), "tickets")
            .member("member-a")
            .lease(lease)
            .join()
    };
    let first = join().await.expect("join");
    until("the first acting", || first.token().is_some()).await;
    // The same name while the first still runs: a name copied into two
    // replicas, not a restart. The second takes the Lease, as a restart
    // would; the first finds out at its next renewal.
    let second = join().await.expect("join");
    until("the second acting", || second.token().is_some()).await;
    until("the first standing by", || first.token().is_none()).await;
    let said = logs.text();
    assert!(
        said.contains("ERROR")
            && said.contains("another process joined the group under this member's name")
            && said.contains("give each replica its own member name"),
        "the first says why it stands by, and the fix: {said}"
    );
    // Without standing by, the first takes the Lease back within a third
    // of a lease, and the two keep taking it from each other.
    let end = tokio::time::Instant::now() + 2 * lease;
    while tokio::time::Instant::now() < end {
        assert!(
            first.token().is_none(),
            "the first process took the name back from the live second one"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = second.token().expect("the second acts throughout");
    // The second process dies (its Lease stays): the first takes over once
    // the Lease went a whole lease without a renewal.
    drop(second);
    until("the first acting again", || first.token().is_some()).await;
    assert!(first.token().unwrap() > token);
    assert!(
        objects
            .iter()
            .all(|u| matches!(first.ownership(u), Ownership::Mine(_)))
    );
    // A third process under the name, which leaves (its Lease deleted):
    // the first acts again.
    let third = join().await.expect("join");
    until("the third acting", || third.token().is_some()).await;
    until("the first standing by again", || first.token().is_none()).await;
    third.leave().await;
    until("the first acting after the third left", || {
        first.token().is_some()
    })
    .await;
}

#[tokio::test]
async fn invalid_names_and_short_leases_are_refused_before_any_request() {
    let client = konditions_testing::client().await;
    for (group, member) in [("Tickets", "a"), ("tickets", "Replica_1"), ("", "a")] {
        let error = Group::new(client.clone(), "default", group)
            .member(member)
            .join()
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("cannot name a member Lease"),
            "{error}"
        );
    }
    let error = Group::new(client, "default", "tickets")
        .member("a")
        .lease(Duration::from_secs(1))
        .join()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("too short"), "{error}");
}

/// A ticket: checked, then booked (a side effect under the lock), unbooked
/// on deletion.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "shard.konditions.dev",
    version = "v1",
    kind = "Ticket",
    namespaced,
    status = "TicketStatus"
)]
#[konditions(types(SeatValid, Booked(lock)), summary = Ready)]
pub struct TicketSpec {
    seat: i64,
}

/// What the ticket controller reports.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketStatus {
    #[serde(default)]
    conditions: Conditions<TicketCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
}

/// Every side effect: (what, idempotency key, member, token).
#[derive(Default)]
struct Ledger(Mutex<Vec<(&'static str, String, String, FencingToken)>>);

impl Ledger {
    /// Records a task's run, and separately any takeover it was told of
    /// (none under a member: no acquire records a start).
    fn record(&self, what: &'static str, lock: &LockContext<Ticket>) {
        let mut entries = self.0.lock().unwrap();
        let entry = |what| {
            (
                what,
                lock.idempotency_key().to_string(),
                lock.holder().to_owned(),
                lock.token(),
            )
        };
        entries.push(entry(what));
        if lock.takeover().is_some() {
            entries.push(entry("takeover"));
        }
    }

    fn entries(&self, what: &str) -> Vec<(String, String, FencingToken)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.0 == what)
            .map(|e| (e.1.clone(), e.2.clone(), e.3))
            .collect()
    }
}

struct Context {
    reconciler: Reconciler<Ticket>,
    ledger: Arc<Ledger>,
}

async fn reconcile(ticket: Arc<Ticket>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut run = ctx.reconciler.start(ticket).await?;
    let seat = run.object().spec.seat;
    run.check(
        &TicketCondition::SeatValid,
        if seat > 0 {
            Verdict::new(Status::True, "SeatExists")
        } else {
            Verdict::new(Status::False, "NoSuchSeat")
        },
    )?;
    // A ticket without a seat is never booked: its cleanup still runs.
    if seat > 0 {
        let ledger = ctx.ledger.clone();
        run.lock(TicketLock::Booked, |lock| async move {
            lock.check()?;
            ledger.record("book", &lock);
            Ok::<_, std::io::Error>(Verdict::new(Status::True, "SeatBooked"))
        })
        .await?;
    }
    let ledger = ctx.ledger.clone();
    run.cleanup(TicketLock::Booked, |lock| async move {
        lock.check()?;
        ledger.record("unbook", &lock);
        Ok::<_, std::io::Error>(Verdict::new(Status::False, "SeatReleased"))
    })
    .await?;
    run.finish().await
}

fn error_policy(ticket: Arc<Ticket>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.reconciler.error_policy(&ticket, error)
}

/// One replica: its member, its controller, its requests.
struct Replica {
    member: Member,
    requests: Arc<lock_support::Requests>,
    controller: tokio::task::JoinHandle<()>,
}

impl Replica {
    async fn start(namespace: &str, name: &str, ledger: &Arc<Ledger>) -> Self {
        let admin = konditions_testing::client().await;
        let member = join(admin, namespace, name).await;
        let (client, requests) = lock_support::counting_client().await;
        let reconciler = Reconciler::new(client.clone(), "ticket-controller")
            .finalizer("shard.konditions.dev/unbook")
            .holder(name)
            .shard(member.clone());
        let context = Arc::new(Context {
            reconciler,
            ledger: ledger.clone(),
        });
        let controller = Controller::new(
            Api::<Ticket>::namespaced(client, namespace),
            kube::runtime::watcher::Config::default(),
        )
        .reconcile_all_on(member.changes())
        .run(reconcile, error_policy, context)
        .for_each(|_| async {});
        Self {
            member,
            requests,
            controller: tokio::spawn(controller),
        }
    }

    fn writes(&self) -> usize {
        self.requests.patch.load(Ordering::SeqCst)
    }

    async fn stop(self) {
        self.controller.abort();
        let _ = self.controller.await;
        self.member.leave().await;
    }
}

fn ready(ticket: &Ticket) -> bool {
    ticket
        .conditions()
        .and_then(|c| c.find(&TicketCondition::Ready))
        .is_some_and(|c| {
            c.status == Status::True && c.observed_generation == ticket.metadata.generation
        })
}

async fn wait_all(api: &Api<Ticket>, what: &str, done: impl Fn(&[Ticket]) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let tickets = api.list(&ListParams::default()).await.unwrap().items;
        if done(&tickets) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_replicas_share_the_tickets_book_each_once_and_write_as_little_as_the_go_peer() {
    const N: usize = 24;
    let admin = konditions_testing::client().await;
    konditions_testing::install_crd(&admin, &Ticket::crd()).await;
    let ns = konditions_testing::namespace(&admin).await;
    let api: Api<Ticket> = Api::namespaced(admin.clone(), ns.name());
    let ledger = Arc::new(Ledger::default());
    let one = Replica::start(ns.name(), "replica-one", &ledger).await;
    let two = Replica::start(ns.name(), "replica-two", &ledger).await;
    until("both replicas acting", || {
        [&one, &two]
            .iter()
            .all(|r| r.member.token().is_some() && r.member.members().len() == 2)
    })
    .await;
    let writes = |one: &Replica, two: &Replica| one.writes() + two.writes();
    let start = writes(&one, &two);

    for i in 0..N {
        let ticket = Ticket::new(&format!("ticket-{i}"), TicketSpec { seat: 1 });
        api.create(&PostParams::default(), &ticket).await.unwrap();
    }
    wait_all(&api, "every ticket Ready", |t| {
        t.len() == N && t.iter().all(ready)
    })
    .await;
    let created = writes(&one, &two);
    let booked = ledger.entries("book");
    let keys: BTreeSet<&String> = booked.iter().map(|(k, _, _)| k).collect();
    assert_eq!(booked.len(), N, "one booking per ticket: {booked:?}");
    assert_eq!(keys.len(), N);
    let by: BTreeSet<&String> = booked.iter().map(|(_, m, _)| m).collect();
    assert_eq!(by.len(), 2, "both replicas worked: {by:?}");

    for i in 0..N {
        api.patch(
            &format!("ticket-{i}"),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"seat": 2}})),
        )
        .await
        .unwrap();
    }
    wait_all(&api, "every ticket Ready for generation 2", |t| {
        t.iter()
            .all(|t| t.metadata.generation == Some(2) && ready(t))
    })
    .await;
    let updated = writes(&one, &two);
    assert_eq!(
        ledger.entries("book").len(),
        2 * N,
        "one booking per generation"
    );

    for i in 0..N {
        api.delete(&format!("ticket-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    wait_all(&api, "every ticket gone", <[Ticket]>::is_empty).await;
    let deleted = writes(&one, &two);
    let unbooked = ledger.entries("unbook");
    assert_eq!(unbooked.len(), N, "one release per ticket: {unbooked:?}");
    assert!(
        ledger.entries("takeover").is_empty(),
        "takeover() is None under a member"
    );

    let per = |from: usize, to: usize| (to - from) as f64 / N as f64;
    eprintln!(
        "object writes per ticket with two sharing replicas: create {:.2}, update {:.2}, delete {:.2}",
        per(start, created),
        per(created, updated),
        per(updated, deleted)
    );
    // The Go operator's 2 / 1 / 1: a finalizer and a status write, a status
    // write, the finalizer's removal. Nothing for the lock.
    assert!(per(start, created) <= 2.0);
    assert!(per(created, updated) <= 1.0);
    assert!(per(updated, deleted) <= 1.0);

    // One replica leaves: the other books everything from now on.
    one.stop().await;
    until("replica-two alone", || {
        two.member.members().len() == 1 && two.member.token().is_some()
    })
    .await;
    let before = ledger.entries("book").len();
    for i in 0..4 {
        let ticket = Ticket::new(&format!("late-{i}"), TicketSpec { seat: 1 });
        api.create(&PostParams::default(), &ticket).await.unwrap();
    }
    wait_all(&api, "the late tickets Ready", |t| {
        t.len() == 4 && t.iter().all(ready)
    })
    .await;
    let late = ledger.entries("book");
    assert_eq!(late.len(), before + 4);
    assert!(late[before..].iter().all(|(_, m, _)| m == "replica-two"));

    // A ticket whose locked step never ran: its cleanup runs all the same.
    let unseated = Ticket::new("unseated", TicketSpec { seat: 0 });
    api.create(&PostParams::default(), &unseated).await.unwrap();
    wait_all(&api, "the unseated ticket judged", |t| {
        t.iter().any(|t| {
            t.name_any() == "unseated"
                && t.conditions()
                    .and_then(|c| c.find(&TicketCondition::SeatValid))
                    .is_some_and(|c| c.status == Status::False)
        })
    })
    .await;
    // Its locked step's condition, written by the member's status write:
    // not determined, as from the first status write on.
    let booked = api.get("unseated").await.unwrap();
    let booked = booked
        .conditions()
        .and_then(|c| c.find(&TicketCondition::Booked))
        .map(|c| (c.status, c.reason.clone()));
    assert_eq!(
        booked,
        Some((Status::Unknown, konditions_core::INITIAL_REASON.to_owned()))
    );
    let unbooked = ledger.entries("unbook").len();
    api.delete("unseated", &DeleteParams::default())
        .await
        .unwrap();
    wait_all(&api, "the unseated ticket gone", |t| {
        t.iter().all(|t| t.name_any() != "unseated")
    })
    .await;
    assert_eq!(ledger.entries("book").len(), before + 4, "never booked");
    assert_eq!(
        ledger.entries("unbook").len(),
        unbooked + 1,
        "released all the same"
    );
    assert!(ledger.entries("takeover").is_empty());
    two.stop().await;
}
