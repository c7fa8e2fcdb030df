//! A replica paused (SIGSTOP) between acquiring the row's lock and its
//! database write, for longer than its lease: another replica takes over
//! and writes a newer generation; when the paused one resumes (SIGCONT),
//! its stale write is refused by the fencing token. No stale write reaches
//! the table, and the row and the conditions agree.
//!
//! The pause point is exact, not a matter of timing: the operator's
//! test-only hold (`POSTGRES_WRITER_TEST_HOLD_BEFORE_WRITE`) stops the
//! write right before its statement and waits for a file.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::wait_for_file;
use common::{Harness, WAIT, condition, ready};
use konditions_examples::postgres_writer::PostgresWriterCondition::*;
use konditions_examples::postgres_writer::controller::HOLD_BEFORE_WRITE_ENV;

/// The real operator binary, limited to the test namespace.
fn operator(h: &Harness, holder: &str, hold: Option<&Path>) -> Child {
    let pg = konditions_testing::postgres();
    let mut command = Command::new(env!("CARGO_BIN_EXE_postgres-writer"));
    command
        .envs(pg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("KUBECONFIG", konditions_testing::kubeconfig_path())
        .env("WATCH_NAMESPACE", &h.namespace)
        .env("POD_NAME", holder)
        .env("LOCK_LEASE_SECONDS", "3")
        // Any free port: the endpoints are not used here, and a fixed port
        // may be taken (by the other replica, or another process).
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    if let Some(dir) = hold {
        command.env(HOLD_BEFORE_WRITE_ENV, dir);
    }
    command.spawn().expect("start the operator binary")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name}");
}

/// Kills the operators whatever happens, so none outlives the test.
struct Operators(Vec<Child>);

impl Drop for Operators {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test]
async fn a_replica_paused_past_its_lease_cannot_write_a_stale_row() {
    let h = Harness::new(true).await;
    h.audit_statements().await;
    let hold = std::env::temp_dir().join(format!("pgw-hold-{}", std::process::id()));
    std::fs::create_dir_all(&hold).unwrap();
    let mut operators = Operators(vec![operator(&h, "replica-paused", Some(&hold))]);

    h.create("paused", h.spec("pat", 1)).await;
    let id = h.row_id("paused").replace('/', "_");
    wait_for_file(&hold.join(format!("{id}.held"))).await;
    // Locked for generation 1, right before its write: pause it there.
    signal(&operators.0[0], "STOP");

    h.patch_spec("paused", serde_json::json!({"age": 2})).await;
    operators.0.push(operator(&h, "replica-live", None));
    let writer = h
        .wait_for(
            "paused",
            "Ready for generation 2 by the other replica",
            |w| w.metadata.generation == Some(2) && ready(w),
        )
        .await;
    let (_, _, message, _) = condition(&writer, RowWritten).unwrap();
    assert!(message.contains("generation 2"), "{message}");
    assert_eq!(h.statements("INSERT").await, 1, "the live replica's write");

    // Resume the paused replica: it performs its write for generation 1.
    std::fs::write(hold.join(format!("{id}.release")), b"").unwrap();
    signal(&operators.0[0], "CONT");
    let deadline = Instant::now() + WAIT;
    while h.statements("INSERT").await < 2 {
        assert!(Instant::now() < deadline, "the resumed replica never wrote");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Its statement reached the table and changed nothing.
    assert_eq!(
        h.audit("INSERT").await,
        1,
        "one row written, by the live replica"
    );
    assert_eq!(h.audit("UPDATE").await, 0, "no stale write");
    assert_eq!(
        h.rows().await,
        vec![(h.row_id("paused"), "pat".into(), 2, "canada".into())]
    );
    let stored = h.api.get("paused").await.unwrap();
    let (status, _, message, generation) = condition(&stored, RowWritten).unwrap();
    assert_eq!(
        (status, generation),
        (konditions_core::Status::True, Some(2))
    );
    assert!(
        message.contains("generation 2"),
        "row and conditions agree: {message}"
    );
    drop(operators);
    let _ = std::fs::remove_dir_all(&hold);
}
