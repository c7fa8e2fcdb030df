//! Test support for integration tests that talk to the local control plane
//! started by `cargo xtask` (a real etcd + kube-apiserver, like envtest).
//!
//! - [`client`]: a `kube::Client` for that control plane. There is no fallback
//!   and no skipping: without a control plane the test fails and says how to
//!   start one.
//! - [`install_crd`]: server-side apply of a CRD, then wait until the server
//!   serves it (`Established`).
//! - [`namespace`]: a fresh namespace per test, so tests run in parallel
//!   without seeing each other's objects.
//! - [`postgres()`]: the local PostgreSQL server, for operators with a
//!   database, with stop/start for outage tests.
//!
//! ```no_run
//! # async fn demo() {
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! let client = konditions_testing::client().await;
//! let ns = konditions_testing::namespace(&client).await;
//! let config_maps = ns.api::<ConfigMap>();
//! assert!(config_maps.list(&Default::default()).await.unwrap().items.is_empty());
//! # }
//! ```
//!
//! The control plane is found through `KONDITIONS_KUBECONFIG` (set by
//! `cargo xtask test`; `cargo xtask controlplane env` prints it), else the
//! kubeconfig of the `dev` instance started by `cargo xtask controlplane up`.

mod postgres;

pub use postgres::{LocalPostgres, postgres};

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Resource};

/// The environment variable naming the control plane's kubeconfig.
pub const KUBECONFIG_ENV: &str = "KONDITIONS_KUBECONFIG";

/// The field manager this crate applies with.
pub const FIELD_MANAGER: &str = "konditions-testing";

/// How long a CRD may take to become Established.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// The kubeconfig of the local control plane.
///
/// # Panics
/// When no control plane is known: the message says how to start one.
pub fn kubeconfig_path() -> PathBuf {
    if let Some(path) = std::env::var_os(KUBECONFIG_ENV) {
        return PathBuf::from(path);
    }
    let dev =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/controlplane/dev/kubeconfig");
    if dev.is_file() {
        return dev;
    }
    panic!(
        "no local control plane: this test needs a real kube-apiserver. Run the whole suite with \
         `cargo xtask test`, or start one with `cargo xtask controlplane up` (then \
         `eval $(cargo xtask controlplane env)`), and run the test again"
    );
}

/// A client for the local control plane.
///
/// A new client per call: each `#[tokio::test]` has its own runtime, and a
/// client's connections belong to the runtime that created them.
///
/// # Panics
/// When no control plane is known or its kubeconfig cannot be read.
pub async fn client() -> Client {
    let path = kubeconfig_path();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap_or_else(|e| {
        panic!(
            "reading the control plane's kubeconfig {}: {e}",
            path.display()
        )
    });
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("loading the kubeconfig {}: {e}", path.display()));
    Client::try_from(config).unwrap_or_else(|e| panic!("building a client: {e}"))
}

/// The kubectl of the control plane's release: `KUBECTL` (set by
/// `cargo xtask test`, printed by `cargo xtask controlplane env`), else the
/// one of the `dev` instance.
///
/// # Panics
/// When neither is known.
pub fn kubectl() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return PathBuf::from(path);
    }
    let state =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/controlplane/dev/state.json");
    std::fs::read(&state)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|state| state["kubectl"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| {
            panic!("no kubectl: run `cargo xtask test`, or `cargo xtask controlplane up` then `eval $(cargo xtask controlplane env)`")
        })
}

/// Applies `crd` (server-side, forcing ownership, so re-installing is
/// idempotent) and waits until it is Established.
///
/// # Panics
/// When the server rejects the CRD or it does not become Established within
/// a minute.
pub async fn install_crd(client: &Client, crd: &CustomResourceDefinition) {
    let name = crd.meta().name.clone().expect("a CRD has a name");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crd = crd.clone();
    crd.metadata.managed_fields = None;
    crd.metadata.resource_version = None;
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    tokio::time::timeout(
        ESTABLISHED_TIMEOUT,
        await_condition(api, &name, conditions::is_crd_established()),
    )
    .await
    .unwrap_or_else(|_| panic!("CRD {name} not Established after {ESTABLISHED_TIMEOUT:?}"))
    .unwrap_or_else(|e| panic!("watching CRD {name}: {e}"));
}

/// A namespace created for one test.
///
/// It is not deleted afterwards: without a controller-manager, namespace
/// deletion never completes, and the test control plane is thrown away after
/// the run anyway.
#[derive(Clone)]
pub struct TestNamespace {
    name: String,
    client: Client,
}

impl TestNamespace {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client the namespace was created with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// An API for namespaced resources of type `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

/// Creates a fresh namespace with a server-generated name (`kt-xxxxx`).
///
/// # Panics
/// When the server refuses to create it.
pub async fn namespace(client: &Client) -> TestNamespace {
    let api: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            generate_name: Some("kt-".into()),
            labels: Some([("konditions.dev/test".to_owned(), "true".to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let created = api
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("creating a test namespace: {e}"));
    TestNamespace {
        name: created
            .metadata
            .name
            .expect("the server names the namespace"),
        client: client.clone(),
    }
}
