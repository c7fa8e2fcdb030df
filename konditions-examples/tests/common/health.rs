//! What kstatus and `kubectl wait` say about a PostgresWriter: the REAL
//! kstatus (`status.Compute` of sigs.k8s.io/cli-utils v0.37.2) and the
//! workspace's kubectl.
#![allow(clippy::print_stderr)] // the verdicts are printed for the record

use std::process::Command;
use std::time::{Duration, Instant};

use konditions_testing::{KstatusResult, kstatus};

use super::{Harness, WAIT};

/// kstatus' verdict on the object as the API server returns it now.
pub async fn health(h: &Harness, name: &str) -> KstatusResult {
    let object = h.api.get(name).await.expect("get");
    let verdict = kstatus(&serde_json::to_value(&object).unwrap());
    eprintln!(
        "kstatus {name} (generation {:?}): {verdict:?}",
        object.metadata.generation
    );
    verdict
}

/// `kubectl wait --for=condition=Ready` with a short timeout: whether it
/// said "condition met".
pub fn kubectl_wait(h: &Harness, name: &str, timeout: &str) -> bool {
    let output = Command::new(konditions_testing::kubectl())
        .env("KUBECONFIG", konditions_testing::kubeconfig_path())
        .args([
            "wait",
            "--for=condition=Ready",
            &format!("postgreswriters.demo.yash.com/{name}"),
            "-n",
            &h.namespace,
            &format!("--timeout={timeout}"),
        ])
        .output()
        .expect("run kubectl");
    eprintln!(
        "kubectl wait {name}: {}{}",
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    output.status.success()
}

/// Polls kstatus until `want` (a hang guard, not a time assertion).
pub async fn wait_health(h: &Harness, name: &str, want: &str) -> KstatusResult {
    let deadline = Instant::now() + WAIT;
    loop {
        let verdict = health(h, name).await;
        if verdict.status == want {
            return verdict;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: kstatus never said {want}; last: {verdict:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
