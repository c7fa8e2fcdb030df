//! CRDs installed from your types (`K::crd()`) or from the YAML you commit,
//! then waited for until the API server serves them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};

use crate::FIELD_MANAGER;

/// How long a CRD may take to become Established.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies `crd` (server-side, forcing ownership, so installing it again is
/// idempotent) after `konditions_core::crd::prepare`, exactly as the YAML
/// written by `konditions_core::crd` has it, and waits until it is
/// Established.
///
/// ```no_run
/// # async fn demo() {
/// # #[derive(kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, schemars::JsonSchema)]
/// # #[kube(group = "example.com", version = "v1", kind = "Bucket", namespaced)]
/// # struct BucketSpec { region: String }
/// use kube::CustomResourceExt;
///
/// let client = konditions_testing::client().await;
/// konditions_testing::install_crd(&client, &Bucket::crd()).await;
/// # }
/// ```
///
/// # Panics
/// When the server rejects the CRD or it does not become Established within
/// a minute.
#[tracing::instrument(skip_all, fields(crd = crd.metadata.name.as_deref().unwrap_or_default()))]
pub async fn install_crd(client: &Client, crd: &CustomResourceDefinition) {
    let name = crd.metadata.name.clone().expect("a CRD has a name");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crd = crd.clone();
    konditions_core::crd::prepare(&mut crd);
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

/// Installs every CRD in `path`: a YAML file (several documents allowed) or
/// a directory of `.yaml`/`.yml` files (sorted by name), as
/// [`install_crd`] does; returns the names installed.
///
/// ```no_run
/// # async fn demo() {
/// let client = konditions_testing::client().await;
/// let names = konditions_testing::install_crd_files(&client, "deploy/crds").await;
/// assert!(!names.is_empty());
/// # }
/// ```
///
/// # Panics
/// When a file cannot be read, holds something other than CRDs, or a CRD
/// is refused.
pub async fn install_crd_files(client: &Client, path: impl AsRef<Path>) -> Vec<String> {
    let path = path.as_ref();
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut names = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let crds: Vec<CustomResourceDefinition> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: not a list of CRDs: {e}", file.display()));
        for crd in crds {
            assert!(
                crd.metadata.name.is_some(),
                "{}: a CRD without metadata.name",
                file.display()
            );
            install_crd(client, &crd).await;
            names.extend(crd.metadata.name);
        }
    }
    names
}
