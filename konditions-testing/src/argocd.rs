//! What Argo CD says about an object's health: its own evaluation (the
//! settings code that reads `argocd-cm`'s `resource.customizations.health.*`
//! keys, and gitops-engine's `GetResourceHealth`, which runs the Lua health
//! script), so tests can assert the health script konditions generates
//! (`konditions_core::argocd`) the way Argo CD runs it.
//!
//! A small Go program (`argocd/` in this crate: a pinned module of Argo CD
//! v3.2.12 with its go.sum) is built once per machine and cached like the
//! kstatus tool (a cold build takes about ten minutes: Argo CD is large);
//! each call runs it on one object.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::Error;
use crate::go::GoModule;

const GO_MOD: &str = include_str!("../argocd/go.mod");
const GO_SUM: &str = include_str!("../argocd/go.sum");
const MAIN_GO: &str = include_str!("../argocd/main.go");

fn module() -> GoModule {
    GoModule {
        name: "argocd-health",
        what: "the Argo CD health tool (github.com/argoproj/argo-cd/v3 v3.2.12)",
        cold_build: "about ten minutes",
        recipe: "argocd-health-1",
        files: &[("go.mod", GO_MOD), ("go.sum", GO_SUM), ("main.go", MAIN_GO)],
        packages: &["."],
        outputs: &[("argocd-health", "argocd-health")],
        ldflags: "-s -w".to_owned(),
    }
}

/// Argo CD's health of an object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ArgoCdHealth {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or
    /// `Unknown`; empty when Argo CD has no health for the kind (then an
    /// Application ignores the resource's health).
    pub status: String,
    /// Argo CD's message.
    pub message: String,
    /// What the kind's health script alone says, `None` without one. Argo
    /// CD shows it unless the object is being deleted (then Argo CD says
    /// Progressing, "Pending deletion", without running the script).
    pub script: Option<ScriptHealth>,
}

/// A health script's own verdict.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ScriptHealth {
    /// The script's `status`.
    pub status: String,
    /// The script's `message`.
    pub message: String,
}

fn tool() -> Result<PathBuf, Error> {
    static TOOL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TOOL.get_or_init(|| crate::go::built_tool(&module(), "argocd-health"))
        .clone()
        .map_err(Error::ArgoCd)
}

/// Argo CD's health of `object` (a whole object: `apiVersion`, `kind`,
/// `metadata`, `status`) with `config_map` (the YAML of an `argocd-cm`
/// ConfigMap, e.g. the snippet `konditions_core::crd` writes) as its
/// resource customizations.
///
/// ```no_run
/// use serde_json::json;
///
/// let config_map = std::fs::read_to_string("deploy/crds/argocd/buckets.example.com.argocd-cm.yaml").unwrap();
/// let health = konditions_testing::argocd_health(&config_map, &json!({
///     "apiVersion": "example.com/v1", "kind": "Bucket",
///     "metadata": {"name": "b", "generation": 2},
///     "status": {"observedGeneration": 1},
/// }));
/// assert_eq!(health.status, "Progressing");
/// ```
///
/// # Panics
/// When the tool cannot be built (no Go: the message says what to install)
/// or Argo CD refuses the ConfigMap, the script or the object (its error is
/// in the message).
pub fn argocd_health(config_map: &str, object: &serde_json::Value) -> ArgoCdHealth {
    try_argocd_health(config_map, object).unwrap_or_else(|e| panic!("{e}"))
}

/// [`argocd_health`], returning what fails as an [`Error::ArgoCd`].
///
/// # Errors
/// The tool cannot be built, or Argo CD refuses the input.
pub fn try_argocd_health(
    config_map: &str,
    object: &serde_json::Value,
) -> Result<ArgoCdHealth, Error> {
    let tool = tool()?;
    crate::go::run_json(
        &tool,
        &serde_json::json!({"configMap": config_map, "object": object}),
    )
    .map_err(Error::ArgoCd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\ndata:\n  resource.customizations.health.example.com_Bucket: |\n    return { status = \"Degraded\", message = \"generation \" .. obj.metadata.generation }\n";

    fn bucket(kind: &str) -> serde_json::Value {
        json!({"apiVersion": "example.com/v1", "kind": kind,
               "metadata": {"name": "b", "namespace": "n", "generation": 3}})
    }

    #[test]
    fn the_script_of_the_kind_decides_and_other_kinds_have_no_health() {
        let degraded = ScriptHealth {
            status: "Degraded".into(),
            message: "generation 3".into(),
        };
        assert_eq!(
            argocd_health(CONFIG_MAP, &bucket("Bucket")),
            ArgoCdHealth {
                status: "Degraded".into(),
                message: "generation 3".into(),
                script: Some(degraded.clone()),
            }
        );
        // No customization for the kind: Argo CD has no health for it.
        let other = argocd_health(CONFIG_MAP, &bucket("Other"));
        assert_eq!((other.status.as_str(), other.script), ("", None));
        // Argo CD reports a deletion itself, before any script.
        let mut deleting = bucket("Bucket");
        deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        assert_eq!(
            argocd_health(CONFIG_MAP, &deleting),
            ArgoCdHealth {
                status: "Progressing".into(),
                message: "Pending deletion".into(),
                script: Some(degraded),
            }
        );
    }

    #[test]
    fn a_script_that_fails_is_an_error() {
        let broken = CONFIG_MAP.replace("return {", "return {{");
        let error = try_argocd_health(&broken, &bucket("Bucket")).unwrap_err();
        assert!(matches!(error, Error::ArgoCd(_)), "{error}");
    }
}
