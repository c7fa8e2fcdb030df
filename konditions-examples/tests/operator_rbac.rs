//! The operator with the least-privilege role of `deploy/rbac.yaml`, as its
//! ServiceAccount (impersonated), against the real API server where RBAC is
//! enforced: it does its job, and what the role does not grant is denied.
//! The same for the namespaced variant `deploy/rbac-namespaced.yaml`, which
//! also confines it to its namespace.

mod common;

use std::time::Duration;

use common::{Harness, ready};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use konditions_core::shard;
use konditions_examples::postgres_writer::Metrics;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde::Deserialize;

const RBAC: &str = include_str!("../deploy/rbac.yaml");
const RBAC_NAMESPACED: &str = include_str!("../deploy/rbac-namespaced.yaml");
const SERVICE_ACCOUNT: &str = "system:serviceaccount:postgres-writer-system:postgres-writer";

async fn apply<K>(api: Api<K>, object: K)
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap();
    api.patch(
        &name,
        &PatchParams::apply("rbac-test").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// Installs every object of rbac.yaml, as committed.
async fn install_rbac(client: &Client) {
    for document in
        serde_saphyr::from_multiple::<serde_json::Value>(RBAC).expect("rbac.yaml parses")
    {
        match document["kind"].as_str().unwrap() {
            "Namespace" => {
                apply(
                    Api::<Namespace>::all(client.clone()),
                    Namespace::deserialize(&document).unwrap(),
                )
                .await
            }
            "ServiceAccount" => {
                apply(
                    Api::<ServiceAccount>::namespaced(client.clone(), "postgres-writer-system"),
                    ServiceAccount::deserialize(&document).unwrap(),
                )
                .await
            }
            "ClusterRole" => {
                apply(
                    Api::<ClusterRole>::all(client.clone()),
                    ClusterRole::deserialize(&document).unwrap(),
                )
                .await
            }
            "ClusterRoleBinding" => {
                apply(
                    Api::<ClusterRoleBinding>::all(client.clone()),
                    ClusterRoleBinding::deserialize(&document).unwrap(),
                )
                .await
            }
            "Role" => {
                apply(
                    Api::<Role>::namespaced(client.clone(), "postgres-writer-system"),
                    Role::deserialize(&document).unwrap(),
                )
                .await
            }
            "RoleBinding" => {
                apply(
                    Api::<RoleBinding>::namespaced(client.clone(), "postgres-writer-system"),
                    RoleBinding::deserialize(&document).unwrap(),
                )
                .await
            }
            other => panic!("unexpected kind {other} in rbac.yaml"),
        }
    }
}

/// A client that acts as the operator's ServiceAccount.
async fn as_service_account() -> Client {
    impersonating(SERVICE_ACCOUNT).await
}

/// A client that acts as `user`.
async fn impersonating(user: &str) -> Client {
    let path = konditions_testing::kubeconfig_path();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    config.auth_info.impersonate = Some(user.to_owned());
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn the_operator_works_with_its_role_and_nothing_more() {
    let h = Harness::with_table().await;
    install_rbac(&h.client).await;
    let restricted = as_service_account().await;

    // Sharing the work, as operator.yaml runs it: its member Lease in the
    // operator's namespace (a group of this test's own).
    let member = shard::Group::new(
        restricted.clone(),
        "postgres-writer-system",
        h.namespace.clone(),
    )
    .member("rbac-replica")
    .lease(Duration::from_secs(5))
    .join()
    .await
    .expect("join with the role's rights on Leases");
    let _operator = h.start_operator_configured(
        restricted.clone(),
        "rbac-replica",
        Metrics::default(),
        |options| options.shard = Some(member.clone()),
    );
    h.create("least-privilege", h.spec("lee", 20)).await;
    h.wait_for("least-privilege", "Ready", ready).await;
    h.delete("least-privilege").await;
    h.wait_gone("least-privilege").await;
    assert!(h.rows().await.is_empty());

    // Outside the role: reading Secrets, deleting PostgresWriters, Leases
    // outside the operator's namespace.
    let leases: Api<Lease> = Api::namespaced(restricted.clone(), &h.namespace);
    match leases.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing Leases elsewhere must be forbidden, got {other:?}"),
    }
    let secrets: Api<Secret> = Api::namespaced(restricted.clone(), &h.namespace);
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing Secrets must be forbidden, got {other:?}"),
    }
    h.create("not-yours", h.spec("nat", 1)).await;
    let writers: Api<konditions_examples::postgres_writer::PostgresWriter> =
        Api::namespaced(restricted, &h.namespace);
    match writers.delete("not-yours", &DeleteParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("deleting a PostgresWriter must be forbidden, got {other:?}"),
    }
}

/// rbac-namespaced.yaml's Role and RoleBinding, moved to `namespace` and
/// granted to a ServiceAccount of that namespace named `account` (the
/// committed one may also hold rbac.yaml's cluster-wide binding, installed
/// by the test above on the same API server).
async fn install_namespaced_rbac(client: &Client, namespace: &str, account: &str) {
    apply(
        Api::<ServiceAccount>::namespaced(client.clone(), namespace),
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": namespace},
        }))
        .unwrap(),
    )
    .await;
    for mut document in serde_saphyr::from_multiple::<serde_json::Value>(RBAC_NAMESPACED)
        .expect("rbac-namespaced.yaml parses")
    {
        match document["kind"].as_str().unwrap() {
            "Role" => {
                document["metadata"]["namespace"] = namespace.into();
                apply(
                    Api::<Role>::namespaced(client.clone(), namespace),
                    Role::deserialize(&document).unwrap(),
                )
                .await
            }
            "RoleBinding" => {
                document["metadata"]["namespace"] = namespace.into();
                document["subjects"][0]["name"] = account.into();
                document["subjects"][0]["namespace"] = namespace.into();
                apply(
                    Api::<RoleBinding>::namespaced(client.clone(), namespace),
                    RoleBinding::deserialize(&document).unwrap(),
                )
                .await
            }
            "Namespace" | "ServiceAccount" => {}
            other => panic!("unexpected kind {other} in rbac-namespaced.yaml"),
        }
    }
}

#[tokio::test]
async fn the_namespaced_role_confines_the_operator_to_its_namespace() {
    let h = Harness::with_table().await;
    let account = "postgres-writer-namespaced";
    install_namespaced_rbac(&h.client, &h.namespace, account).await;
    let restricted =
        impersonating(&format!("system:serviceaccount:{}:{account}", h.namespace)).await;

    // WATCH_NAMESPACE: the harness' operator watches its namespace only;
    // sharing the work, its member Lease is there too (the Roles moved).
    let member = shard::Group::new(restricted.clone(), h.namespace.clone(), "postgres-writer")
        .member("rbac-namespaced")
        .lease(Duration::from_secs(5))
        .join()
        .await
        .expect("join with the namespaced role's rights on Leases");
    let _operator = h.start_operator_configured(
        restricted.clone(),
        "rbac-namespaced",
        Metrics::default(),
        |options| options.shard = Some(member.clone()),
    );
    h.create("local", h.spec("lou", 30)).await;
    h.wait_for("local", "Ready", ready).await;
    h.delete("local").await;
    h.wait_gone("local").await;
    assert!(h.rows().await.is_empty());

    // Another namespace: out of reach, for reading and for writing.
    let elsewhere = konditions_testing::namespace(&h.client).await;
    let admin: Api<konditions_examples::postgres_writer::PostgresWriter> =
        Api::namespaced(h.client.clone(), elsewhere.name());
    admin
        .create(
            &Default::default(),
            &konditions_examples::postgres_writer::PostgresWriter::new("foreign", h.spec("fay", 2)),
        )
        .await
        .expect("create as admin");
    let writers: Api<konditions_examples::postgres_writer::PostgresWriter> =
        Api::namespaced(restricted.clone(), elsewhere.name());
    match writers.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing another namespace must be forbidden, got {other:?}"),
    }
    match writers
        .patch(
            "foreign",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"finalizers": ["x.example/y"]}})),
        )
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("patching in another namespace must be forbidden, got {other:?}"),
    }
    let everywhere: Api<konditions_examples::postgres_writer::PostgresWriter> =
        Api::all(restricted);
    match everywhere.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing every namespace must be forbidden, got {other:?}"),
    }
}
