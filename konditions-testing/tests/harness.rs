//! The harness itself against the real binaries: a private control plane
//! stops on drop, a detached one keeps running until stopped, the shared
//! one is the same for every test and runtime, CRDs install from types and
//! from YAML.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use konditions_testing::ControlPlane;
use kube::{Api, CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn pid_runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test]
async fn a_private_control_plane_serves_and_stops_on_drop() {
    let control_plane = ControlPlane::start().unwrap();
    let state = control_plane.state().clone();
    assert!(state.apiserver_url.starts_with("https://127.0.0.1:"));
    assert_eq!(
        state.kubernetes_version,
        konditions_testing::pinned_kubernetes_version()
    );
    assert_eq!(
        format!("v{}", state.etcd_version),
        konditions_testing::pinned_etcd_version()
    );

    let client = control_plane.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces.get("default").await.unwrap();

    // Its kubectl talks to it.
    let out = Command::new(control_plane.kubectl())
        .args(["get", "namespace", "default", "-o", "name"])
        .env("KUBECONFIG", control_plane.kubeconfig())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/default"
    );

    assert!(pid_runs(state.etcd_pid) && pid_runs(state.apiserver_pid));
    drop(control_plane);
    assert!(!pid_runs(state.etcd_pid), "etcd still runs");
    assert!(!pid_runs(state.apiserver_pid), "kube-apiserver still runs");
    assert!(!state.dir.exists(), "{} is left", state.dir.display());
}

#[test]
fn a_detached_control_plane_runs_until_stopped_and_keeps_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = ControlPlane::builder()
        .dir(dir.path().join("instance"))
        .start()
        .unwrap()
        .detach();
    // The value is gone; the servers are not.
    assert!(state.is_ready());
    // A state saved and read back by another process still works.
    let reread: konditions_testing::State =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    reread.stop();
    assert!(!pid_runs(state.etcd_pid) && !pid_runs(state.apiserver_pid));
    assert!(!state.is_ready());
    assert!(state.dir.join("logs/kube-apiserver.log").is_file());
}

#[test]
fn every_test_and_runtime_joins_the_same_shared_control_plane() {
    let first = konditions_testing::shared().apiserver_url().to_owned();
    let from_threads: Vec<String> = (0..3)
        .map(|_| std::thread::spawn(|| konditions_testing::shared().apiserver_url().to_owned()))
        .map(|t| t.join().unwrap())
        .collect();
    assert!(
        from_threads.iter().all(|url| *url == first),
        "{from_threads:?}"
    );
    // And it serves, from a runtime of its own.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = konditions_testing::shared().client().await.unwrap();
        client.apiserver_version().await.unwrap();
    });
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "harness.konditions.dev",
    version = "v1",
    kind = "Widget",
    namespaced
)]
struct WidgetSpec {
    size: u32,
}

#[tokio::test]
async fn crds_install_from_types_and_from_yaml() {
    let client = konditions_testing::client().await;
    // From the type.
    konditions_testing::install_crd(&client, &Widget::crd()).await;
    // From YAML: two documents in one file, and a directory of files.
    let dir = tempfile::tempdir().unwrap();
    let crd = |plural: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {plural}.harness.konditions.dev\n\
             spec:\n  group: harness.konditions.dev\n  scope: Namespaced\n  names:\n    kind: K{plural}\n    plural: {plural}\n\
             \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n"
        )
    };
    std::fs::write(
        dir.path().join("two.yaml"),
        format!("{}---\n{}", crd("gizmos"), crd("doodads")),
    )
    .unwrap();
    std::fs::write(dir.path().join("one.yml"), crd("thingamajigs")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a CRD").unwrap();
    let names = konditions_testing::install_crd_files(&client, dir.path()).await;
    assert_eq!(
        names,
        [
            "thingamajigs.harness.konditions.dev",
            "gizmos.harness.konditions.dev",
            "doodads.harness.konditions.dev"
        ]
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in names
        .iter()
        .map(String::as_str)
        .chain(["widgets.harness.konditions.dev"])
    {
        let crd = crds.get(name).await.unwrap();
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name}");
    }
    // Installing again is idempotent; widgets are served in a fresh namespace.
    konditions_testing::install_crd(&client, &Widget::crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let widgets = ns.api::<Widget>();
    widgets
        .create(
            &Default::default(),
            &Widget::new("w", WidgetSpec { size: 1 }),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), widgets.get("w"))
        .await
        .unwrap()
        .unwrap();
}
