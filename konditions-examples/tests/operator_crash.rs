//! An operator process killed (SIGKILL) in the middle of a write, and a new
//! one started: the condition does not stay Locked, the new replica takes
//! over after the lease, the row is written exactly once.

mod common;

use std::process::{Child, Command, Stdio};

use common::{Harness, condition, ready};
use konditions_examples::postgres_writer::PostgresWriterCondition::*;

/// The real operator binary, limited to the test namespace.
fn operator(h: &Harness, holder: &str) -> Child {
    let pg = konditions_testing::postgres();
    Command::new(env!("CARGO_BIN_EXE_postgres-writer"))
        .envs(pg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("KUBECONFIG", konditions_testing::kubeconfig_path())
        .env("WATCH_NAMESPACE", &h.namespace)
        .env("POD_NAME", holder)
        .env("LOCK_LEASE_SECONDS", "4")
        // Any free port: the endpoints are not used here, and a fixed port
        // may be taken (by the other replica, or another process).
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the operator binary")
}

#[tokio::test]
async fn a_replica_killed_mid_write_is_taken_over() {
    let h = Harness::new(true).await;
    // Each INSERT takes 3 s: the window in which the first replica dies.
    h.slow_inserts(3).await;
    let mut first = operator(&h, "replica-killed");
    h.create("victim", h.spec("vic", 33)).await;
    let locked = h
        .wait_for("victim", "locked by the first replica", |w| {
            condition(w, RowWritten).is_some_and(|(_, reason, message, _)| {
                reason == "Locked" && message.contains("replica-killed")
            })
        })
        .await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    assert!(
        h.rows().await.is_empty(),
        "the killed write was rolled back"
    );

    let mut second = operator(&h, "replica-survivor");
    let writer = h
        .wait_for("victim", "Ready after the takeover", ready)
        .await;
    let (_, reason, message, _) = condition(&writer, RowWritten).unwrap();
    assert_eq!(reason, "RowWritten");
    assert!(!message.contains("replica-killed"), "{message}");
    assert_eq!(h.rows().await.len(), 1);
    assert_eq!(h.audit("INSERT").await, 1, "exactly one committed write");
    assert!(locked.metadata.resource_version != writer.metadata.resource_version);

    second.kill().ok();
    second.wait().ok();
}
