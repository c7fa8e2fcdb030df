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
//! - [`client`]: a `kube::Client` with admin rights. The control plane is
//!   the one named by `KONDITIONS_KUBECONFIG` if set (a pre-started one, or
//!   any disposable cluster), else the process's [`shared`] one, started on
//!   the first call and stopped when the test process ends.
//! - [`ControlPlane`]: a control plane of your own (its own etcd, stopped on
//!   drop), with options in [`Builder`].
//! - [`Binaries`]: kube-apiserver, etcd and kubectl, from an explicit path,
//!   `KUBEBUILDER_ASSETS`, the konditions cache, or built once from the Go
//!   module pinned in this crate (`controlplane/go.mod`).
//! - [`install_crd`] / [`install_crd_files`]: CRDs from your types or from
//!   YAML, applied and waited for until `Established`.
//! - [`namespace()`]: a fresh namespace per test, so tests run in parallel.
//! - [`kstatus()`]: the real kstatus verdict (`sigs.k8s.io/cli-utils`) on
//!   an object, as Flux and the cli-utils appliers compute it.
//! - [`postgres()`]: the PostgreSQL server `cargo xtask` runs for this
//!   workspace's example operator.
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

mod binaries;
mod controlplane;
mod crds;
mod error;
mod go;
mod kstatus;
mod namespace;
mod postgres;
mod watchdog;

pub use binaries::{
    BINARY_NAMES, Binaries, Origin, pinned_etcd_version, pinned_kubernetes_version,
};
pub use controlplane::{Builder, ControlPlane, State};
pub use crds::{install_crd, install_crd_files};
pub use error::Error;
pub use kstatus::{KstatusResult, kstatus};
pub use namespace::{TestNamespace, namespace};
pub use postgres::{LocalPostgres, Outage, postgres};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use kube::Client;

/// The environment variable naming a control plane to use instead of
/// starting one (`cargo xtask test` sets it, `cargo xtask controlplane env`
/// prints it).
pub const KUBECONFIG_ENV: &str = "KONDITIONS_KUBECONFIG";

/// The field manager this crate applies with.
pub const FIELD_MANAGER: &str = "konditions-testing";

/// This test process's control plane, started on the first call; later
/// calls (from any test, any thread, any tokio runtime) return the same one.
/// It is stopped when the process ends.
///
/// # Panics
/// When it cannot be started; the message says why and what to do (every
/// later call panics with the same message rather than trying again).
pub fn shared() -> &'static ControlPlane {
    static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| {
        let begun = Instant::now();
        say("starting a control plane for this test process");
        ControlPlane::start()
            .inspect(|control_plane| {
                say(&format!(
                    "control plane ready in {:.1?}: Kubernetes {} at {}",
                    begun.elapsed(),
                    control_plane.state().kubernetes_version,
                    control_plane.apiserver_url()
                ));
            })
            .map_err(|e| e.to_string())
    });
    match started {
        Ok(control_plane) => control_plane,
        Err(message) => panic!("{}", Error::Shared(message.clone())),
    }
}

/// The kubeconfig of the control plane the helpers use:
/// `KONDITIONS_KUBECONFIG` if set, else the [`shared`] one's.
///
/// # Panics
/// When the shared control plane cannot be started.
pub fn kubeconfig_path() -> PathBuf {
    match std::env::var_os(KUBECONFIG_ENV).filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => shared().kubeconfig().to_owned(),
    }
}

/// A client with admin rights for the control plane of [`kubeconfig_path`].
///
/// A new client per call: each `#[tokio::test]` has its own runtime, and a
/// client's connections belong to the runtime that created them.
///
/// # Panics
/// When no control plane can be started or its kubeconfig read. A test
/// that needs a server fails without one; it is never skipped.
pub async fn client() -> Client {
    let path = kubeconfig_path();
    client_for(&path)
        .await
        .unwrap_or_else(|e| panic!("a client for the control plane: {e}"))
}

/// The kubectl of the control plane's release: `KUBECTL` if set, else the
/// shared control plane's (or, with `KONDITIONS_KUBECONFIG`, the one the
/// [`Binaries`] lookup finds).
///
/// # Panics
/// When no kubectl can be found or built.
pub fn kubectl() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL").filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    if std::env::var_os(KUBECONFIG_ENV).is_some_and(|v| !v.is_empty()) {
        return Binaries::find()
            .unwrap_or_else(|e| panic!("finding kubectl: {e}"))
            .kubectl();
    }
    shared().kubectl().to_owned()
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
