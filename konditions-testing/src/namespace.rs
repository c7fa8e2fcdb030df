//! A fresh namespace per test, so tests running in parallel on one control
//! plane never see each other's objects.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, Resource};

use crate::Error;

/// A namespace created for one test.
///
/// It is not deleted afterwards: without a controller-manager, namespace
/// deletion never completes, and the control plane is thrown away after
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
/// [`Environment::namespace`](crate::Environment::namespace) returns the
/// error instead.
///
/// ```no_run
/// # async fn demo() {
/// let client = konditions_testing::client().await;
/// let ns = konditions_testing::namespace(&client).await;
/// assert!(ns.name().starts_with("kt-"));
/// # }
/// ```
///
/// # Panics
/// When the server refuses to create it.
pub async fn namespace(client: &Client) -> TestNamespace {
    create(client).await.unwrap_or_else(|e| panic!("{e}"))
}

/// What [`namespace`] does, with the error returned.
#[tracing::instrument(skip_all)]
pub(crate) async fn create(client: &Client) -> Result<TestNamespace, Error> {
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
        .map_err(|error| Error::Api {
            what: "creating a test namespace".into(),
            error,
        })?;
    Ok(TestNamespace {
        // The server names what it creates from generateName.
        name: created.metadata.name.unwrap_or_default(),
        client: client.clone(),
    })
}
