//! The real kstatus: what `status.Compute` of `sigs.k8s.io/cli-utils`
//! (the health check of Flux, kpt and the cli-utils appliers) says about an
//! object, so tests can assert that tools reading health understand a
//! resource.
//!
//! A small Go program (`kstatus/` in this crate: a pinned module with its
//! go.sum) is built once per machine and cached exactly like the control
//! plane's binaries; each call runs it on one object (a few milliseconds).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::Error;
use crate::go::{Go, GoModule};

const GO_MOD: &str = include_str!("../kstatus/go.mod");
const GO_SUM: &str = include_str!("../kstatus/go.sum");
const MAIN_GO: &str = include_str!("../kstatus/main.go");

fn module() -> GoModule {
    GoModule {
        name: "kstatus",
        what: "the kstatus tool (sigs.k8s.io/cli-utils v0.37.2)",
        cold_build: "about a minute",
        recipe: "kstatus-1",
        files: &[("go.mod", GO_MOD), ("go.sum", GO_SUM), ("main.go", MAIN_GO)],
        packages: &["."],
        outputs: &[("kstatus", "kstatus")],
        ldflags: "-s -w".to_owned(),
    }
}

/// kstatus' verdict on an object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KstatusResult {
    /// `InProgress`, `Failed`, `Current`, `Terminating`, `NotFound` or
    /// `Unknown`.
    pub status: String,
    /// kstatus' explanation, e.g. `Resource is Ready`.
    pub message: String,
}

/// The kstatus tool, built or found in the cache once per process.
fn tool() -> Result<PathBuf, Error> {
    static TOOL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TOOL.get_or_init(|| {
        let cache = crate::go::cache_root();
        let go = Go::find(&Go::default_candidates(), "kstatus tool", "", &cache)
            .map_err(|e| e.to_string())?;
        module()
            .ensure(&go, &cache)
            .map(|dir| dir.join("kstatus"))
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(Error::Kstatus)
}

/// Runs kstatus' `status.Compute` on `object` (a whole object: `apiVersion`,
/// `kind`, `metadata`, `status`).
///
/// ```no_run
/// use serde_json::json;
///
/// let verdict = konditions_testing::kstatus(&json!({
///     "apiVersion": "example.com/v1", "kind": "Bucket",
///     "metadata": {"name": "b", "generation": 2},
///     "status": {"observedGeneration": 1},
/// }));
/// assert_eq!(verdict.status, "InProgress");
/// assert_eq!(verdict.message, "Bucket generation is 2, but latest observed generation is 1");
/// ```
///
/// # Panics
/// When the tool cannot be built (no Go: the message says what to install)
/// or kstatus refuses the object (its error is in the message).
/// [`try_kstatus`] and
/// [`Environment::kstatus`](crate::Environment::kstatus) return the error
/// instead.
pub fn kstatus(object: &serde_json::Value) -> KstatusResult {
    try_kstatus(object).unwrap_or_else(|e| panic!("{e}"))
}

/// What [`kstatus()`] does, with the error returned.
///
/// # Errors
/// [`Error::Kstatus`] when the tool cannot be built (no Go: the message
/// says what to install) or kstatus refuses the object.
#[tracing::instrument(skip_all)]
pub fn try_kstatus(object: &serde_json::Value) -> Result<KstatusResult, Error> {
    let tool = tool()?;
    let mut child = Command::new(&tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("running {}", tool.display()), e))?;
    let input = serde_json::to_vec(object).map_err(|e| Error::Kstatus(e.to_string()))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&input)
        .map_err(|e| Error::io("writing to kstatus", e))?;
    let output = child
        .wait_with_output()
        .map_err(|e| Error::io("waiting for kstatus", e))?;
    if !output.status.success() {
        return Err(Error::Kstatus(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| Error::Kstatus(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bucket(generation: i64, status: serde_json::Value) -> serde_json::Value {
        json!({
            "apiVersion": "example.com/v1", "kind": "Bucket",
            "metadata": {"name": "b", "namespace": "n", "generation": generation},
            "status": status,
        })
    }

    fn verdict(object: &serde_json::Value) -> (String, String) {
        let result = kstatus(object);
        (result.status, result.message)
    }

    // The expectations follow cli-utils v0.37.2 pkg/kstatus/status: Compute
    // checks deletion, then generation, then Reconciling/Stalled, then the
    // built-in kinds' rules, then a Ready condition, else Current.
    #[test]
    fn the_rules_of_kstatus_hold() {
        // checkGenericProperties: deletionTimestamp first.
        let mut deleting = bucket(1, json!({"observedGeneration": 1}));
        deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        assert_eq!(
            verdict(&deleting),
            (
                "Terminating".into(),
                "Resource scheduled for deletion".into()
            )
        );
        // checkGeneration: a generation not yet observed.
        assert_eq!(
            verdict(&bucket(2, json!({"observedGeneration": 1}))),
            (
                "InProgress".into(),
                "Bucket generation is 2, but latest observed generation is 1".into()
            )
        );
        // Stalled=True -> Failed, with the condition's message.
        let stalled = bucket(
            2,
            json!({"observedGeneration": 2, "conditions": [
            {"type": "Stalled", "status": "True", "reason": "Boom", "message": "the disk is full"}]}),
        );
        assert_eq!(
            verdict(&stalled),
            ("Failed".into(), "the disk is full".into())
        );
        // Reconciling=True -> InProgress, with its message.
        let reconciling = bucket(
            2,
            json!({"observedGeneration": 2, "conditions": [
            {"type": "Reconciling", "status": "True", "reason": "Working", "message": "creating"}]}),
        );
        assert_eq!(
            verdict(&reconciling),
            ("InProgress".into(), "creating".into())
        );
        // checkReadyCondition: Ready=False -> InProgress; Ready=True -> Current.
        let not_ready = bucket(
            2,
            json!({"observedGeneration": 2, "conditions": [
            {"type": "Ready", "status": "False", "reason": "Waiting", "message": "no bucket yet"}]}),
        );
        assert_eq!(
            verdict(&not_ready),
            ("InProgress".into(), "no bucket yet".into())
        );
        let ready = bucket(
            2,
            json!({"observedGeneration": 2, "conditions": [
            {"type": "Ready", "status": "True", "reason": "AsExpected", "message": ""}]}),
        );
        assert_eq!(
            verdict(&ready),
            ("Current".into(), "Resource is Ready".into())
        );
        // Nothing known: Current.
        assert_eq!(
            verdict(&bucket(2, json!({}))),
            ("Current".into(), "Resource is current".into())
        );
        // A built-in kind with a rule of its own: a ConfigMap is always ready.
        let config_map =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(
            verdict(&config_map),
            ("Current".into(), "Resource is always ready".into())
        );
    }

    #[test]
    fn what_kstatus_refuses_is_an_error() {
        let error = try_kstatus(&json!([1, 2])).unwrap_err();
        assert!(
            error.to_string().contains("not a Kubernetes object"),
            "{error}"
        );
    }
}
