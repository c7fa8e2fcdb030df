//! envtest for Rust: integration tests against a REAL kube-apiserver and
//! etcd, from any crate's `cargo test`, with nothing started beforehand.
//!
//! ```no_run
//! # async fn demo() {
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! // Starts this test process's control plane on first use (or joins it).
//! let client = konditions_testing::client().await;
//! let ns = konditions_testing::namespace(&client).await; // fresh, per test
//! let config_maps = ns.api::<ConfigMap>();
//! assert!(config_maps.list(&Default::default()).await.unwrap().items.is_empty());
//! # }
//! ```
//!
//! Two layers, one implementation:
//!
//! - [`Environment`]: an explicit value (a control plane it owns, the
//!   process's shared one, or any cluster named by a kubeconfig) whose
//!   start, client, CRD installation, namespace and kstatus verdict return
//!   `Result<_, Error>`. For code that handles failures: a test helper of
//!   your own, a tool, a test that expects an error.
//! - The helpers below, which panic: [`client`], [`shared`],
//!   [`install_crd`], [`install_crd_files`], [`namespace()`], [`kstatus()`],
//!   [`kubeconfig_path`], [`kubectl`]. Each is the same operation on
//!   [`Environment::from_env`] with the error turned into a panic whose
//!   message says what to do. A test fails when its server is missing
//!   (it is never skipped), so in a test a panic is the right outcome and
//!   `.unwrap()` on every line is noise.
//!
//! The rest:
//!
//! - [`ControlPlane`]: a control plane of your own (its own etcd, stopped on
//!   drop), with options in [`Builder`].
//! - [`Binaries`]: kube-apiserver, etcd and kubectl, from an explicit path,
//!   `KUBEBUILDER_ASSETS`, the konditions cache, or built once from the Go
//!   module pinned in this crate (`controlplane/go.mod`).
//! - [`ComplianceCheck`]: what kstatus computes for any object of yours
//!   and which kstatus conventions its status breaks (Flux's status-check
//!   rules).
//! - [`argocd_health()`]: Argo CD's own health evaluation of an object with
//!   an `argocd-cm` (the health script `konditions_core::crd` writes).
//! - [`cli`]: the same control plane for a shell (`up`, `down`, `env`,
//!   `status`), as the `main` of a two-line example target of your crate.
//!
//! **Cleanup.** The servers stop when the test process ends, however it
//! ends (normal exit, a failed or panicking test, `abort`, Ctrl-C, SIGKILL):
//! a small watchdog process holds a pipe to the test process and stops them
//! when the pipe closes. Nothing is left running and the temporary state
//! directory is removed.
//!
//! **Several test binaries.** Each test process has its own control plane
//! (own ports, own state directory), so binaries run side by side without
//! seeing each other; `cargo test` runs them one after the other. Set
//! `KONDITIONS_KUBECONFIG` to make them all join one started beforehand.

mod argocd;
mod binaries;
pub mod cli;
mod compliance;
mod controlplane;
mod crds;
mod environment;
mod error;
mod go;
mod kstatus;
mod namespace;
mod wait;
mod watchdog;

pub use argocd::{ArgoCdHealth, ScriptHealth, argocd_health, try_argocd_health};
pub use binaries::{
    BINARY_NAMES, Binaries, Origin, pinned_etcd_version, pinned_kubernetes_version,
};
pub use compliance::{Compliance, ComplianceCheck, Rule, Severity, Violation};
pub use controlplane::{Builder, ControlPlane, State};
pub use crds::{install_crd, install_crd_files};
pub use environment::Environment;
pub use error::Error;
#[doc(hidden)]
pub use go::build_go_program;
pub use kstatus::{KstatusResult, kstatus, try_kstatus};
pub use namespace::{TestNamespace, namespace};
pub use wait::{wait_for_condition, wait_for_deletion};

use std::path::{Path, PathBuf};

use kube::Client;

/// The environment variable naming a control plane to use instead of
/// starting one (`cargo xtask test` sets it, `cargo xtask controlplane env`
/// prints it).
pub const KUBECONFIG_ENV: &str = "KONDITIONS_KUBECONFIG";

/// The field manager this crate applies with.
pub const FIELD_MANAGER: &str = "konditions-testing";

/// This test process's control plane ([`ControlPlane::shared`]), started on
/// the first call; later calls (from any test, any thread, any tokio
/// runtime) return the same one. It is stopped when the process ends.
///
/// # Panics
/// When it cannot be started; the message says why and what to do (every
/// later call panics with the same message rather than trying again).
pub fn shared() -> &'static ControlPlane {
    ControlPlane::shared().unwrap_or_else(|e| panic!("{e}"))
}

/// The kubeconfig of the control plane the helpers use:
/// `KONDITIONS_KUBECONFIG` if set, else the [`shared`] one's (see
/// [`Environment::from_env`]).
///
/// # Panics
/// When the shared control plane cannot be started.
pub fn kubeconfig_path() -> PathBuf {
    helpers_environment().kubeconfig().to_owned()
}

/// A client with admin rights for the control plane of [`kubeconfig_path`]
/// ([`Environment::client`] on [`Environment::from_env`]).
///
/// A new client per call: each `#[tokio::test]` has its own runtime, and a
/// client's connections belong to the runtime that created them.
///
/// # Panics
/// When no control plane can be started or its kubeconfig read. A test
/// that needs a server fails without one; it is never skipped.
pub async fn client() -> Client {
    helpers_environment()
        .client()
        .await
        .unwrap_or_else(|e| panic!("a client for the control plane: {e}"))
}

/// The kubectl of the control plane's release: `KUBECTL` if set, else the
/// shared control plane's (or, with `KONDITIONS_KUBECONFIG`, the one the
/// [`Binaries`] lookup finds); see [`Environment::kubectl`].
///
/// # Panics
/// When no kubectl can be found or built.
pub fn kubectl() -> PathBuf {
    helpers_environment()
        .kubectl()
        .unwrap_or_else(|e| panic!("finding kubectl: {e}"))
}

/// The environment of the panicking helpers.
fn helpers_environment() -> Environment {
    Environment::from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// A client from a kubeconfig file.
pub(crate) async fn client_for(path: &Path) -> Result<Client, Error> {
    let failed = |reason: String| Error::Kubeconfig {
        path: path.to_owned(),
        reason,
    };
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).map_err(|e| failed(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| failed(e.to_string()))?;
    Client::try_from(config).map_err(|e| failed(e.to_string()))
}

/// A progress line on stderr, written to the handle directly so that
/// `cargo test`'s output capture does not hide it (a first build takes
/// minutes).
pub(crate) fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "konditions-testing: {message}");
}
