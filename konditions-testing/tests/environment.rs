//! The `Result` layer, `Environment`, against the real binaries: an
//! environment of its own serves, installs CRDs, hands out namespaces and
//! stops on drop; every failure on the way is an error value, not a panic.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use konditions_testing::{Environment, Error};
use kube::api::PostParams;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "env.konditions.dev",
    version = "v1",
    kind = "Gauge",
    namespaced
)]
struct GaugeSpec {
    level: u32,
}

#[tokio::test]
async fn an_environment_of_its_own_serves_and_stops_on_drop() {
    let env = Environment::start().unwrap();
    let state = env
        .control_plane()
        .expect("a control plane")
        .state()
        .clone();
    assert_eq!(env.kubeconfig(), state.kubeconfig);

    env.install_crd(&Gauge::crd()).await.unwrap();
    let ns = env.namespace().await.unwrap();
    assert!(ns.name().starts_with("kt-"), "{}", ns.name());
    let gauges = ns.api::<Gauge>();
    let created = gauges
        .create(
            &PostParams::default(),
            &Gauge::new("g", GaugeSpec { level: 3 }),
        )
        .await
        .unwrap();
    let verdict = env
        .kstatus(&serde_json::to_value(&created).unwrap())
        .unwrap();
    assert_eq!(
        (verdict.status.as_str(), verdict.message.as_str()),
        ("Current", "Resource is current")
    );
    let config_maps = ns.api::<ConfigMap>();
    assert!(
        config_maps
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    assert!(state.is_ready());
    drop(env);
    assert!(!state.is_ready(), "still serving after the drop");
    assert!(!state.dir.exists(), "{} left behind", state.dir.display());
}

#[tokio::test]
async fn failures_are_error_values() {
    let env = Environment::from_env().unwrap();

    // The API server refuses a CRD whose name is not `<plural>.<group>`:
    // what docs/testing.md shows.
    let mut refused = Gauge::crd();
    refused.metadata.name = Some("not-a-valid-name".into());
    match env.install_crd(&refused).await {
        Err(Error::Api {
            error: kube::Error::Api(status),
            ..
        }) => assert_eq!(status.code, 422, "{status:?}"),
        other => panic!("expected the server's refusal, got {other:?}"),
    }
    let unnamed = env.install_crd(&CustomResourceDefinition::default()).await;
    assert!(matches!(unnamed, Err(Error::Api { .. })), "{unnamed:?}");

    let dir = tempfile::tempdir().unwrap();
    let not_crds = dir.path().join("config-map.yaml");
    std::fs::write(&not_crds, "apiVersion: v1\nkind: ConfigMap\ndata: [1, 2]\n").unwrap();
    let error = env.install_crd_files(&not_crds).await.unwrap_err();
    assert!(
        matches!(&error, Error::CrdFile { path, .. } if *path == not_crds),
        "{error}"
    );
    let error = env
        .install_crd_files(dir.path().join("missing"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::CrdFile { .. }), "{error}");

    let nowhere = Environment::with_kubeconfig(dir.path().join("no-kubeconfig"));
    assert!(nowhere.control_plane().is_none());
    let client = nowhere.client().await;
    assert!(
        matches!(client, Err(Error::Kubeconfig { .. })),
        "{:?}",
        client.err()
    );
    let namespace = nowhere.namespace().await;
    assert!(
        matches!(namespace, Err(Error::Kubeconfig { .. })),
        "{:?}",
        namespace.err()
    );

    let error = env.kstatus(&json!([1, 2])).unwrap_err();
    assert!(matches!(error, Error::Kstatus(_)), "{error}");
}

#[test]
fn the_panicking_helpers_and_the_environment_name_the_same_server() {
    let env = Environment::from_env().unwrap();
    assert_eq!(konditions_testing::kubeconfig_path(), env.kubeconfig());
    assert_eq!(konditions_testing::kubectl(), env.kubectl().unwrap());
}
