//! Two replicas of the operator binary sharing the work
//! (`SHARD_NAMESPACE`): each writes the rows of the resources it owns,
//! without per-resource lock writes. A replica killed (SIGKILL) in the
//! middle of its writes has its resources taken over once its lease ended,
//! each row written once; a replica paused (SIGSTOP) right before a write,
//! past its lease, cannot write its stale row when it resumes: the other
//! replica's newer fencing token refuses it, and its stale condition is
//! not written either.
//!
//! The kill and pause points are exact, not a matter of timing: the
//! operator's test-only hold (`POSTGRES_WRITER_TEST_HOLD_BEFORE_WRITE`)
//! stops each write right before its statement and waits for a file.

// The measured takeover is printed for the record (run with --nocapture).
#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::process::{HoldDir, Launch, OperatorProcess, wait_for_file};
use common::{Harness, WAIT, condition, ready};
use k8s_openapi::api::coordination::v1::Lease;
use konditions_examples::postgres_writer::PostgresWriterCondition::*;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

const LEASE_SECONDS: u32 = 3;

fn replica<'a>(holder: &'a str, hold: Option<&'a std::path::Path>) -> Launch<'a> {
    Launch {
        holder,
        lease_seconds: LEASE_SECONDS,
        hold,
        shard: true,
        ..Launch::default()
    }
}

/// The group's member Leases in the test namespace.
async fn members(h: &Harness) -> Vec<String> {
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), &h.namespace);
    leases
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|l| l.spec?.holder_identity)
        .collect()
}

/// Waits until every member's Lease was created at least `age` ago (the
/// API server's clock is this machine's).
async fn wait_until_leases_older_than(h: &Harness, age: Duration) {
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), &h.namespace);
    let deadline = Instant::now() + WAIT;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let items = leases.list(&ListParams::default()).await.unwrap().items;
        let old_enough = items.iter().all(|l| {
            l.metadata
                .creation_timestamp
                .as_ref()
                .is_some_and(|t| now - t.0.as_second() as f64 >= age.as_secs_f64())
        });
        if !items.is_empty() && old_enough {
            return;
        }
        assert!(Instant::now() < deadline, "the members' Leases never aged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_sharing_replica_killed_mid_write_has_its_resources_taken_over_each_row_written_once() {
    const N: usize = 16;
    let h = Harness::with_table().await;
    h.audit_statements().await;
    let hold = HoldDir::new("shared-kill");
    let mut doomed = OperatorProcess::start(&h, replica("replica-doomed", Some(hold.path())));
    // Acting alone before the other one joins: both own resources after.
    let survivor = OperatorProcess::start(&h, replica("replica-survivor", None));
    let deadline = Instant::now() + WAIT;
    while members(&h).await.len() < 2 {
        assert!(Instant::now() < deadline, "the replicas never both joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both acting, each on its own share only: the survivor past its
    // warm-up (one lease), the doomed replica past several rounds since it
    // could first see the survivor. Resources created earlier may be begun
    // by the doomed replica in the survivor's share, which never moves and
    // so is not read live: the count below would not hold for them.
    wait_until_leases_older_than(&h, Duration::from_secs(u64::from(LEASE_SECONDS) * 2)).await;

    for i in 0..N {
        h.create(&format!("res-{i}"), h.spec(&format!("n{i}"), 20))
            .await;
    }
    // The doomed replica's own resources stop right before their writes;
    // the survivor's go Ready. (One the doomed replica began before it saw
    // the survivor join may be both: held there, written by its owner.)
    let deadline = Instant::now() + WAIT;
    let row_of = |name: &str| h.row_id(name).replace('/', "_");
    let (held, ready_at_kill) = loop {
        let ready_now: BTreeSet<String> = h
            .api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|w| ready(w))
            .map(|w| row_of(&w.name_any()))
            .collect();
        let held: BTreeSet<String> = hold.held().into_iter().collect();
        if !held.is_empty() && !ready_now.is_empty() && held.union(&ready_now).count() == N {
            break (held, ready_now);
        }
        assert!(
            Instant::now() < deadline,
            "held {}, ready {} of {N}",
            held.len(),
            ready_now.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    doomed.signal("KILL");
    doomed.wait_exit().await;
    let killed = Instant::now();

    for i in 0..N {
        h.wait_for(&format!("res-{i}"), "Ready after the takeover", ready)
            .await;
    }
    let taken_over = killed.elapsed();
    eprintln!(
        "{} of {N} resources held by the killed replica; all Ready {taken_over:?} after the kill (member lease {LEASE_SECONDS} s)",
        held.len()
    );
    assert_eq!(h.rows().await.len(), N);
    assert_eq!(h.audit("INSERT").await, N as i64, "each row written once");
    assert_eq!(h.audit("UPDATE").await, 0, "no row written again");
    assert_eq!(
        h.statements("INSERT").await,
        N as i64,
        "the killed replica never reached its statements"
    );
    assert_eq!(members(&h).await, vec!["replica-survivor".to_owned()]);
    // Each resource that moved was read live before its first step: the
    // killed replica's last writes may not have been in the cache.
    let (_, metrics) = survivor.get("/metrics").await.expect("/metrics");
    let live_reads: f64 = metrics
        .lines()
        .find(|l| l.starts_with("konditions_live_reads_total{"))
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
        .unwrap_or(0.0);
    let taken_over = held.difference(&ready_at_kill).count();
    assert!(
        live_reads >= taken_over as f64,
        "{live_reads} live reads for {taken_over} resources taken over"
    );
}

#[tokio::test]
async fn a_sharing_replica_paused_past_its_lease_cannot_write_a_stale_row_or_condition() {
    paused_past_its_lease(Some(2)).await;
}

#[tokio::test]
async fn a_sharing_replica_paused_past_its_lease_cannot_undo_the_same_generations_write() {
    // The generation does not tell the stale record from the new one here:
    // only the paused replica knowing it no longer owns the resource does.
    paused_past_its_lease(None).await;
}

/// Pauses the owner of a resource right before its write of generation 1,
/// changes the spec to `age` (a new generation) if given, lets another
/// replica write, then resumes the paused one.
async fn paused_past_its_lease(age: Option<i32>) {
    let generation = if age.is_some() { 2 } else { 1 };
    let h = Harness::with_table().await;
    h.audit_statements().await;
    let hold = HoldDir::new(&format!("shared-pause-{generation}"));
    // Alone, it owns the resource.
    let paused = OperatorProcess::start(&h, replica("replica-paused", Some(hold.path())));
    h.create("paused", h.spec("pat", 1)).await;
    let (held, release) = hold.files(&h, "paused");
    wait_for_file(&held).await;
    // Owner for generation 1, right before its write: pause it there.
    paused.signal("STOP");

    if let Some(age) = age {
        h.patch_spec("paused", serde_json::json!({ "age": age }))
            .await;
    }
    let live = OperatorProcess::start(&h, replica("replica-live", None));
    let writer = h
        .wait_for("paused", "Ready by the other replica", |w| {
            w.metadata.generation == Some(generation) && ready(w)
        })
        .await;
    let (_, _, message, _) = condition(&writer, RowWritten).unwrap();
    assert!(
        message.contains(&format!("generation {generation}")),
        "{message}"
    );
    assert_eq!(h.statements("INSERT").await, 1, "the live replica's write");
    // The paused member's Lease ended: the live one deleted it.
    assert_eq!(members(&h).await, vec!["replica-live".to_owned()]);

    // Resume: the paused replica performs its write for generation 1.
    std::fs::write(&release, b"").unwrap();
    paused.signal("CONT");
    let deadline = Instant::now() + WAIT;
    while h.statements("INSERT").await < 2 {
        assert!(Instant::now() < deadline, "the resumed replica never wrote");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It joins again, as a new member that waits its lease.
    let deadline = Instant::now() + WAIT;
    while members(&h).await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the resumed replica never joined again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Its statement reached the table and changed nothing.
    assert_eq!(h.audit("INSERT").await, 1, "one row, by the live replica");
    assert_eq!(h.audit("UPDATE").await, 0, "no stale write");
    let age = age.unwrap_or(1);
    assert_eq!(
        h.rows().await,
        vec![(h.row_id("paused"), "pat".into(), age, "canada".into())]
    );
    // Nor did its failed run overwrite the condition.
    let stored = h.api.get("paused").await.unwrap();
    let (status, _, message, observed) = condition(&stored, RowWritten).unwrap();
    assert_eq!(
        (status, observed),
        (konditions_core::Status::True, Some(generation)),
        "{message}"
    );
    assert!(ready(&stored));
    drop((paused, live));
}

#[tokio::test]
async fn a_sharing_replica_stopped_gracefully_leaves_and_the_other_takes_its_resources() {
    const N: usize = 6;
    let h = Harness::with_table().await;
    let mut leaving = OperatorProcess::start(&h, replica("replica-leaving", None));
    let _staying = OperatorProcess::start(&h, replica("replica-staying", None));
    for i in 0..N {
        h.create(&format!("res-{i}"), h.spec(&format!("n{i}"), 20))
            .await;
    }
    for i in 0..N {
        h.wait_for(&format!("res-{i}"), "Ready", ready).await;
    }
    leaving.signal("TERM");
    assert!(leaving.wait_exit().await.success(), "a drained shutdown");
    // Its member Lease went with it.
    assert_eq!(members(&h).await, vec!["replica-staying".to_owned()]);
    // Every resource is the staying replica's now: a spec change of each
    // is written.
    for i in 0..N {
        h.patch_spec(&format!("res-{i}"), serde_json::json!({"age": 21}))
            .await;
    }
    for i in 0..N {
        let changed = |w: &konditions_examples::postgres_writer::PostgresWriter| {
            w.metadata.generation == Some(2) && ready(w)
        };
        h.wait_for(&format!("res-{i}"), "Ready at generation 2", changed)
            .await;
    }
    assert!(h.rows().await.iter().all(|(_, _, age, _)| *age == 21));
}
