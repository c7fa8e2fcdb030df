//! CRDs installed from your types (`K::crd()`) or from the YAML you commit,
//! then waited for until the API server serves them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};

use crate::{Error, FIELD_MANAGER};

/// How long a CRD may take to become Established.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies `crd` (server-side, forcing ownership, so installing it again is
/// idempotent) after `konditions_core::crd::prepare`, exactly as the YAML
/// written by `konditions_core::crd` has it, and waits until it is
/// Established. [`Environment::install_crd`](crate::Environment::install_crd)
/// returns the error instead.
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
pub async fn install_crd(client: &Client, crd: &CustomResourceDefinition) {
    apply(client, crd).await.unwrap_or_else(|e| panic!("{e}"));
}

/// Installs every CRD in `path`: a YAML file (several documents allowed) or
/// a directory of `.yaml`/`.yml` files (sorted by name), as
/// [`install_crd`] does; returns the names installed.
/// [`Environment::install_crd_files`](crate::Environment::install_crd_files)
/// returns the error instead.
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
    apply_files(client, path.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What [`install_crd`] does, with the error returned.
#[tracing::instrument(skip_all, fields(crd = crd.metadata.name.as_deref().unwrap_or_default()))]
pub(crate) async fn apply(client: &Client, crd: &CustomResourceDefinition) -> Result<(), Error> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crd = crd.clone();
    konditions_core::crd::prepare(&mut crd);
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .map_err(|error| Error::Api {
        what: format!("applying CRD {name:?}"),
        error,
    })?;
    tokio::time::timeout(
        ESTABLISHED_TIMEOUT,
        await_condition(api, &name, conditions::is_crd_established()),
    )
    .await
    .map_err(|_| Error::CrdNotEstablished {
        name: name.clone(),
        reason: format!("not Established after {ESTABLISHED_TIMEOUT:?}"),
    })?
    .map_err(|e| Error::CrdNotEstablished {
        name: name.clone(),
        reason: format!("watching it failed: {e}"),
    })?;
    Ok(())
}

/// What [`install_crd_files`] does, with the error returned.
pub(crate) async fn apply_files(client: &Client, path: &Path) -> Result<Vec<String>, Error> {
    let failed = |path: &Path, reason: String| Error::CrdFile {
        path: path.to_owned(),
        reason,
    };
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| failed(path, e.to_string()))? {
            let file = entry.map_err(|e| failed(path, e.to_string()))?.path();
            if file.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(file);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut names = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| failed(&file, e.to_string()))?;
        let crds: Vec<CustomResourceDefinition> = serde_saphyr::from_multiple(&text)
            .map_err(|e| failed(&file, format!("not a list of CRDs: {e}")))?;
        for crd in crds {
            let Some(name) = crd.metadata.name.clone() else {
                return Err(failed(&file, "a CRD without metadata.name".into()));
            };
            apply(client, &crd).await?;
            names.push(name);
        }
    }
    Ok(names)
}
