//! The explicit test environment: which Kubernetes API server the tests
//! talk to, and the operations on it that can fail (a client, CRD
//! installation, a namespace, kstatus), each returning a `Result`.
//!
//! The free functions of the crate root ([`client`](crate::client),
//! [`install_crd`](crate::install_crd), [`kstatus`](crate::kstatus), ...)
//! are a thin panicking layer over this: the same operations on the
//! environment named by `KONDITIONS_KUBECONFIG` or the process's shared
//! control plane.

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;

use crate::{Binaries, ControlPlane, Error, KUBECONFIG_ENV, KstatusResult, TestNamespace};

/// A Kubernetes API server to test against: a control plane this value
/// owns (stopped when it is dropped), the process's shared one, or any
/// cluster named by a kubeconfig.
///
/// ```no_run
/// # async fn demo() -> Result<(), konditions_testing::Error> {
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use konditions_testing::Environment;
///
/// let env = Environment::start()?; // its own etcd and kube-apiserver
/// let ns = env.namespace().await?; // fresh, per test
/// let config_maps = ns.api::<ConfigMap>();
/// assert!(config_maps.list(&Default::default()).await.unwrap().items.is_empty());
/// drop(env); // both servers stopped, state removed
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Environment {
    target: Target,
}

#[derive(Debug)]
enum Target {
    // Boxed: an environment is moved around, the control plane is big.
    Owned(Box<ControlPlane>),
    Shared(&'static ControlPlane),
    Kubeconfig(PathBuf),
}

impl Environment {
    /// Starts a control plane of its own (binaries looked up as
    /// [`Binaries`] says, a temporary state directory, free ports), stopped
    /// when the environment is dropped. For options, start a
    /// [`ControlPlane::builder`] and convert it with `Environment::from`.
    ///
    /// # Errors
    /// As [`ControlPlane::start`].
    pub fn start() -> Result<Self, Error> {
        ControlPlane::start().map(Self::from)
    }

    /// The environment the panicking helpers use: the cluster named by
    /// `KONDITIONS_KUBECONFIG` if it is set (a control plane started
    /// beforehand, or any disposable cluster), else this process's shared
    /// control plane ([`ControlPlane::shared`]), started on first use.
    ///
    /// # Errors
    /// [`Error::Shared`] when the shared control plane cannot be started.
    pub fn from_env() -> Result<Self, Error> {
        match std::env::var_os(KUBECONFIG_ENV).filter(|v| !v.is_empty()) {
            Some(path) => Ok(Self::with_kubeconfig(path)),
            None => ControlPlane::shared().map(|shared| Self {
                target: Target::Shared(shared),
            }),
        }
    }

    /// Any cluster for which `kubeconfig` gives cluster-admin rights. It is
    /// not read until it is used.
    pub fn with_kubeconfig(kubeconfig: impl Into<PathBuf>) -> Self {
        Self {
            target: Target::Kubeconfig(kubeconfig.into()),
        }
    }

    /// The control plane behind the environment, unless it is a cluster
    /// named by a kubeconfig.
    pub fn control_plane(&self) -> Option<&ControlPlane> {
        match &self.target {
            Target::Owned(control_plane) => Some(control_plane),
            Target::Shared(control_plane) => Some(control_plane),
            Target::Kubeconfig(_) => None,
        }
    }

    /// The kubeconfig, for child processes (your operator's binary,
    /// kubectl).
    pub fn kubeconfig(&self) -> &Path {
        match &self.target {
            Target::Kubeconfig(path) => path,
            Target::Owned(control_plane) => control_plane.kubeconfig(),
            Target::Shared(control_plane) => control_plane.kubeconfig(),
        }
    }

    /// The kubectl to use with it: `KUBECTL` if set, else the control
    /// plane's, else (a cluster named by a kubeconfig) the one the
    /// [`Binaries`] lookup finds.
    ///
    /// # Errors
    /// As [`Binaries::find`], for a cluster named by a kubeconfig.
    pub fn kubectl(&self) -> Result<PathBuf, Error> {
        if let Some(path) = std::env::var_os("KUBECTL").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        match self.control_plane() {
            Some(control_plane) => Ok(control_plane.kubectl().to_owned()),
            None => Binaries::find().map(|binaries| binaries.kubectl()),
        }
    }

    /// A client with admin rights. A new one per call: a client's
    /// connections belong to the tokio runtime that made it, and each
    /// `#[tokio::test]` has its own.
    ///
    /// # Errors
    /// [`Error::Kubeconfig`] when the kubeconfig cannot be read or used.
    pub async fn client(&self) -> Result<Client, Error> {
        crate::client_for(self.kubeconfig()).await
    }

    /// Applies `crd` server-side after `konditions_core::crd::prepare`
    /// (exactly as the YAML written by `konditions_core::crd` has it;
    /// forced, so installing it again is idempotent) and waits until it is
    /// Established.
    ///
    /// # Errors
    /// [`Error::Kubeconfig`], [`Error::Api`] when the server refuses the
    /// CRD, [`Error::CrdNotEstablished`] after a minute.
    #[tracing::instrument(skip_all, fields(crd = crd.metadata.name.as_deref().unwrap_or_default()))]
    pub async fn install_crd(&self, crd: &CustomResourceDefinition) -> Result<(), Error> {
        crate::crds::apply(&self.client().await?, crd).await
    }

    /// Installs every CRD in `path` (a YAML file, several documents
    /// allowed, or a directory of `.yaml`/`.yml` files taken in name order)
    /// as [`install_crd`](Self::install_crd) does; returns their names.
    ///
    /// # Errors
    /// [`Error::CrdFile`] when a file cannot be read or holds something
    /// other than CRDs, and those of [`install_crd`](Self::install_crd).
    #[tracing::instrument(skip_all, fields(path = %path.as_ref().display()))]
    pub async fn install_crd_files(&self, path: impl AsRef<Path>) -> Result<Vec<String>, Error> {
        crate::crds::apply_files(&self.client().await?, path.as_ref()).await
    }

    /// Creates a fresh namespace with a server-generated name (`kt-xxxxx`),
    /// so tests sharing the server never see each other's objects.
    ///
    /// # Errors
    /// [`Error::Kubeconfig`], or [`Error::Api`] when the server refuses it.
    pub async fn namespace(&self) -> Result<TestNamespace, Error> {
        crate::namespace::create(&self.client().await?).await
    }

    /// kstatus' verdict on `object` (a whole object: `apiVersion`, `kind`,
    /// `metadata`, `status`), as Flux and the cli-utils appliers compute it
    /// (see [`kstatus`](crate::kstatus)). The verdict depends on the object
    /// only; it is here so that a test holding an environment needs
    /// nothing else.
    ///
    /// # Errors
    /// [`Error::Kstatus`] when the tool cannot be built (no Go: the message
    /// says what to install) or kstatus refuses the object.
    pub fn kstatus(&self, object: &serde_json::Value) -> Result<KstatusResult, Error> {
        crate::try_kstatus(object)
    }
}

impl From<ControlPlane> for Environment {
    /// An environment that owns `control_plane` and stops it when dropped.
    fn from(control_plane: ControlPlane) -> Self {
        Self {
            target: Target::Owned(Box::new(control_plane)),
        }
    }
}
