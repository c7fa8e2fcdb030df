//! What kstatus, Argo CD and `kubectl wait` say about a PostgresWriter: the
//! REAL kstatus (`status.Compute` of sigs.k8s.io/cli-utils v0.37.2), Argo
//! CD's own health evaluation (v3.2.12) with the argocd-cm snippet `cargo
//! xtask crd` writes, and the workspace's kubectl.
#![allow(clippy::print_stderr)] // the verdicts are printed for the record

use std::process::Command;
use std::time::{Duration, Instant};

use konditions_testing::{ArgoCdHealth, KstatusResult, argocd_health, kstatus};

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

/// The argocd-cm snippet committed next to the CRD.
const ARGOCD_CM: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/crds/argocd/postgreswriters.demo.yash.com.argocd-cm.yaml"
));

/// Argo CD's health of the object as the API server returns it now, with
/// the committed argocd-cm snippet installed.
pub async fn argocd(h: &Harness, name: &str) -> ArgoCdHealth {
    let object = h.api.get(name).await.expect("get");
    let health = argocd_health(ARGOCD_CM, &serde_json::to_value(&object).unwrap());
    eprintln!(
        "Argo CD {name} (generation {:?}): {health:?}",
        object.metadata.generation
    );
    health
}

/// Polls Argo CD's health until `want` (a hang guard, not a time assertion).
pub async fn wait_argocd(h: &Harness, name: &str, want: &str) -> ArgoCdHealth {
    // The first answer may build the Go tool (minutes, once per machine):
    // the guard starts after it.
    let mut deadline = None;
    loop {
        let health = argocd(h, name).await;
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + WAIT);
        if health.status == want {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: Argo CD never said {want}; last: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `kubectl wait --for=condition=Ready` with a short timeout: whether it
/// said "condition met".
pub fn kubectl_wait(h: &Harness, name: &str, timeout: &str) -> bool {
    kubectl_wait_for(h, name, "condition=Ready", timeout)
}

/// `kubectl wait --for=<what>` with a short timeout: whether it said
/// "condition met".
pub fn kubectl_wait_for(h: &Harness, name: &str, what: &str, timeout: &str) -> bool {
    let output = Command::new(konditions_testing::kubectl())
        .env("KUBECONFIG", konditions_testing::kubeconfig_path())
        .args([
            "wait",
            &format!("--for={what}"),
            &format!("postgreswriters.demo.yash.com/{name}"),
            "-n",
            &h.namespace,
            &format!("--timeout={timeout}"),
        ])
        .output()
        .expect("run kubectl");
    eprintln!(
        "kubectl wait --for={what} {name}: {}{}",
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    output.status.success()
}

/// Polls kstatus until `want` (a hang guard, not a time assertion).
pub async fn wait_health(h: &Harness, name: &str, want: &str) -> KstatusResult {
    // As above: the first answer may build the kstatus tool.
    let mut deadline = None;
    loop {
        let verdict = health(h, name).await;
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + WAIT);
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
