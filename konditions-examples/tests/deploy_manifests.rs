//! `deploy/` as committed, checked by the real API server with server-side
//! dry runs: every object is accepted (schema with strict field validation,
//! defaulting, admission), and the operator's pod meets the `restricted`
//! Pod Security Standard that its namespace enforces. Nothing runs (the
//! local control plane has no scheduler nor kubelet); nothing is stored
//! except the namespace, which a namespaced dry run needs.
//!
//! Each check is shown to bite: a manifest with a misspelt field, and a pod
//! that may escalate privileges, are refused the same way.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::Value;

const RBAC: &str = include_str!("../deploy/rbac.yaml");
const RBAC_NAMESPACED: &str = include_str!("../deploy/rbac-namespaced.yaml");
const OPERATOR: &str = include_str!("../deploy/operator.yaml");
const NAMESPACE: &str = "postgres-writer-system";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml).expect("the manifests parse")
}

fn kind_and_name(object: &Value) -> (String, String) {
    (
        object["kind"].as_str().unwrap().to_owned(),
        object["metadata"]["name"].as_str().unwrap().to_owned(),
    )
}

/// The namespace of rbac.yaml, stored for real: a namespaced object's dry
/// run needs its namespace to exist, and its Pod Security labels apply.
async fn install_namespace(client: &Client) {
    let namespace = documents(RBAC)
        .into_iter()
        .find(|d| d["kind"] == "Namespace")
        .expect("rbac.yaml has the Namespace");
    let namespace = Namespace::deserialize(&namespace).unwrap();
    Api::<Namespace>::all(client.clone())
        .patch(
            NAMESPACE,
            &PatchParams::apply("deploy-manifests-test").force(),
            &Patch::Apply(&namespace),
        )
        .await
        .expect("apply the namespace");
}

/// `kubectl apply --server-side --dry-run=server --validate=strict` of
/// `files`, printing what the server answered as JSON.
fn dry_run(files: &[PathBuf]) -> Output {
    let mut command = Command::new(konditions_testing::kubectl());
    command
        .arg("--kubeconfig")
        .arg(konditions_testing::kubeconfig_path())
        .args([
            "apply",
            "--server-side",
            "--dry-run=server",
            "--validate=strict",
            "--field-manager=deploy-manifests-test",
            "-o",
            "json",
        ]);
    for file in files {
        command.arg("-f").arg(file);
    }
    command.output().expect("run kubectl")
}

/// A copy of operator.yaml with `from` replaced by `to`, to show a check
/// refuses it.
fn broken_copy(name: &str, from: &str, to: &str) -> PathBuf {
    assert!(OPERATOR.contains(from), "operator.yaml has `{from}`");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, OPERATOR.replacen(from, to, 1)).unwrap();
    path
}

#[tokio::test]
async fn the_server_accepts_every_object_of_deploy() {
    let client = konditions_testing::client().await;
    install_namespace(&client).await;
    let dir = deploy_dir();
    let files = [
        dir.join("crds"),
        dir.join("rbac.yaml"),
        dir.join("operator.yaml"),
    ];
    let output = dry_run(&files);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl refused deploy/: {stderr}");
    // A Pod Security violation is a warning on workloads, not an error.
    assert!(!stderr.contains("Warning"), "{stderr}");

    let answered: Value = serde_json::from_slice(&output.stdout).expect("kubectl's JSON");
    let items = answered["items"].as_array().expect("a List");
    let accepted: BTreeSet<_> = items.iter().map(kind_and_name).collect();
    let mut committed: BTreeSet<_> = documents(RBAC)
        .iter()
        .chain(documents(OPERATOR).iter())
        .map(kind_and_name)
        .collect();
    committed.insert((
        "CustomResourceDefinition".into(),
        "postgreswriters.demo.yash.com".into(),
    ));
    assert_eq!(accepted, committed);

    // The server's answer, not an echo: defaults were filled in.
    let deployment = items.iter().find(|i| i["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert!(deployment["metadata"]["uid"].is_string());
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
}

#[tokio::test]
async fn the_server_accepts_the_namespaced_variant() {
    let client = konditions_testing::client().await;
    install_namespace(&client).await;
    let dir = deploy_dir();
    let output = dry_run(&[
        dir.join("crds"),
        dir.join("rbac-namespaced.yaml"),
        dir.join("operator.yaml"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubectl refused the namespaced variant: {stderr}"
    );
    let answered: Value = serde_json::from_slice(&output.stdout).expect("kubectl's JSON");
    let accepted: BTreeSet<_> = answered["items"]
        .as_array()
        .expect("a List")
        .iter()
        .map(|item| {
            let (kind, name) = kind_and_name(item);
            let namespace = item["metadata"]["namespace"].as_str().map(str::to_owned);
            (kind, name, namespace)
        })
        .collect();
    for (kind, namespace) in [("Role", "default"), ("RoleBinding", "default")] {
        assert!(
            accepted.contains(&(
                kind.into(),
                "postgres-writer".into(),
                Some(namespace.into())
            )),
            "{kind} in {namespace}: {accepted:?}"
        );
    }
    assert!(
        !accepted
            .iter()
            .any(|(kind, _, _)| kind == "ClusterRole" || kind == "ClusterRoleBinding"),
        "no cluster-wide rights: {accepted:?}"
    );
}

#[tokio::test]
async fn a_misspelt_field_or_a_weaker_security_context_is_refused() {
    let client = konditions_testing::client().await;
    install_namespace(&client).await;

    let misspelt = broken_copy(
        "operator-misspelt.yaml",
        "readOnlyRootFilesystem: true",
        "readOnlyRootFS: true",
    );
    let output = dry_run(&[misspelt]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "accepted a misspelt field");
    assert!(stderr.contains("readOnlyRootFS"), "{stderr}");

    let escalating = broken_copy(
        "operator-escalating.yaml",
        "allowPrivilegeEscalation: false",
        "allowPrivilegeEscalation: true",
    );
    let output = dry_run(&[escalating]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("would violate PodSecurity") && stderr.contains("allowPrivilegeEscalation"),
        "{stderr}"
    );
}

/// The Deployment's pod, as the ReplicaSet controller would create it.
fn pod_of(deployment: &Deployment) -> Pod {
    let template = deployment.spec.clone().unwrap().template;
    let mut metadata = template.metadata.unwrap_or_default();
    metadata.name = Some("postgres-writer-dry-run".into());
    metadata.namespace = Some(NAMESPACE.into());
    Pod {
        metadata,
        spec: template.spec,
        ..Pod::default()
    }
}

#[tokio::test]
async fn its_pod_meets_the_restricted_pod_security_standard() {
    let client = konditions_testing::client().await;
    install_namespace(&client).await;
    let deployment = documents(OPERATOR)
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    let deployment = Deployment::deserialize(&deployment).unwrap();
    let pods: Api<Pod> = Api::namespaced(client, NAMESPACE);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };

    let pod = pod_of(&deployment);
    pods.create(&dry_run, &pod)
        .await
        .expect("the namespace's `restricted` enforcement admits the operator's pod");

    let mut weaker = pod;
    let spec = weaker.spec.as_mut().unwrap();
    spec.containers[0]
        .security_context
        .as_mut()
        .unwrap()
        .capabilities = None;
    match pods.create(&dry_run, &weaker).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status.message.contains("violates PodSecurity"),
                "{status:?}"
            );
        }
        other => panic!("a pod keeping its capabilities must be refused: {other:?}"),
    }
}

/// What the manifests must agree on, which no server checks: the
/// ServiceAccount the ClusterRoleBinding grants, the probes on the port
/// the operator listens on, a grace shorter than the kubelet's.
#[test]
fn the_manifests_agree_with_each_other_and_the_operator() {
    let rbac = documents(RBAC);
    let find = |docs: &[Value], kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .clone()
    };
    let account = find(&rbac, "ServiceAccount");
    let binding = find(&rbac, "ClusterRoleBinding");
    let role = find(&rbac, "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        account["metadata"]["namespace"]
    );

    // The namespaced variant: the same rights, for the same account, in
    // one namespace.
    let namespaced = documents(RBAC_NAMESPACED);
    let local_role = find(&namespaced, "Role");
    let local_binding = find(&namespaced, "RoleBinding");
    assert_eq!(local_role["rules"], role["rules"]);
    assert_eq!(find(&namespaced, "ServiceAccount"), account);
    assert_eq!(find(&namespaced, "Namespace"), find(&rbac, "Namespace"));
    assert_eq!(local_binding["roleRef"]["kind"], "Role");
    assert_eq!(
        local_binding["roleRef"]["name"],
        local_role["metadata"]["name"]
    );
    assert_eq!(local_binding["subjects"], binding["subjects"]);
    assert_eq!(
        local_binding["metadata"]["namespace"],
        local_role["metadata"]["namespace"]
    );
    assert!(
        !namespaced
            .iter()
            .any(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding")
    );

    let operator = documents(OPERATOR);
    let deployment = find(&operator, "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], NAMESPACE);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    let container = &pod["containers"][0];
    let env = |name: &str| {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    assert_eq!(
        env("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    // The replicas share the work: their member Leases live in the
    // operator's namespace, where rbac.yaml (and its namespaced variant)
    // let its account keep them, and nowhere else.
    assert_eq!(
        env("SHARD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    for docs in [&rbac, &namespaced] {
        let members = docs
            .iter()
            .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "postgres-writer-members")
            .expect("the member Leases' Role");
        let members_binding = docs
            .iter()
            .find(|d| {
                d["kind"] == "RoleBinding" && d["roleRef"]["name"] == "postgres-writer-members"
            })
            .expect("the member Leases' RoleBinding");
        assert_eq!(members["metadata"]["namespace"], NAMESPACE);
        assert_eq!(members_binding["metadata"]["namespace"], NAMESPACE);
        assert_eq!(members["rules"][0]["resources"][0], "leases");
        assert_eq!(members_binding["subjects"], binding["subjects"]);
    }
    for variable in [
        "PSQL_HOST",
        "PSQL_PORT",
        "PSQL_DBNAME",
        "PSQL_USER",
        "PSQL_PASSWORD",
    ] {
        assert!(
            env(variable)["valueFrom"]["secretKeyRef"]["name"].is_string(),
            "{variable} comes from a Secret"
        );
    }

    let port = &container["ports"][0];
    let address = env("METRICS_ADDR")["value"].as_str().unwrap().to_owned();
    assert_eq!(
        address.rsplit_once(':').unwrap().1,
        port["containerPort"].as_u64().unwrap().to_string()
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], port["name"], "{probe}");
    }
    let grace: u64 = env("SHUTDOWN_GRACE_SECONDS")["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(grace < pod["terminationGracePeriodSeconds"].as_u64().unwrap());
    for resources in ["requests", "limits"] {
        for quantity in ["cpu", "memory"] {
            assert!(
                container["resources"][resources][quantity].is_string(),
                "{resources}.{quantity}"
            );
        }
    }

    let service = find(&operator, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], port["name"]);
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}
