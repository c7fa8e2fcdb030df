//! The committed CRD YAML (`cargo xtask crd`) against the REAL API server:
//! every file is accepted and Established, its schema is enforced with the
//! offending field named, and kubectl users get printer columns and
//! `kubectl wait --for=condition=Ready`.

use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use konditions_core::{Status, Verdict, apply_conditions};
use konditions_examples::postgres_writer::{PostgresWriter, PostgresWriterCondition};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

fn crd_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/crds exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

async fn install_committed_crds(client: &Client) {
    let files = crd_files();
    assert!(!files.is_empty(), "no CRD YAML committed");
    for file in files {
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        konditions_testing::install_crd(client, &crd).await;
    }
}

fn writers(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "demo.yash.com",
        "v1",
        "PostgresWriter",
    ));
    Api::namespaced_with(client.clone(), namespace, &resource)
}

fn object(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "demo.yash.com/v1", "kind": "PostgresWriter",
        "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

fn valid_spec() -> Value {
    json!({"table": "students", "name": "alex", "age": 23, "country": "canada"})
}

/// The 422 message of a refused write.
fn refusal<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        other => panic!("expected 422 Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn the_schema_is_enforced_by_the_api_server() {
    let client = konditions_testing::client().await;
    install_committed_crds(&client).await;
    let ns = konditions_testing::namespace(&client).await;
    let api = writers(&client, ns.name());
    let post = PostParams::default();

    // The tutorial's sample is accepted unchanged.
    api.create(&post, &object("sample-student", valid_spec()))
        .await
        .expect("the sample is valid");

    let mut spec_cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut missing = valid_spec();
    missing.as_object_mut().unwrap().remove("country");
    spec_cases.push(("missing-country", missing, "spec.country"));
    let mut negative = valid_spec();
    negative["age"] = json!(-1);
    spec_cases.push(("negative-age", negative, "spec.age"));
    for bad_table in ["Students", "students; DROP TABLE students;--", "1st", ""] {
        let mut spec = valid_spec();
        spec["table"] = json!(bad_table);
        spec_cases.push(("bad-table", spec, "spec.table"));
    }
    // PostgreSQL text cannot hold a NUL character: refused up front.
    for field in ["name", "country"] {
        let mut spec = valid_spec();
        spec[field] = json!("a\u{0}b");
        let path = if field == "name" {
            "spec.name"
        } else {
            "spec.country"
        };
        spec_cases.push(("nul-character", spec, path));
    }
    for (name, spec, field) in spec_cases {
        let message = refusal(api.create(&post, &object(name, spec.clone())).await);
        assert!(
            message.contains(field),
            "{spec}: the error names {field}: {message}"
        );
    }

    // spec.table is immutable (a CEL transition rule).
    let message = refusal(
        api.patch(
            "sample-student",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"table": "teachers"}})),
        )
        .await,
    );
    assert!(message.contains("spec.table is immutable"), "{message}");

    // Malformed conditions in status.
    let condition = |overrides: Value| {
        let mut c = json!({"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z",
                           "reason": "AsExpected", "message": ""});
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let status_cases = [
        (
            json!([condition(json!({"status": "Maybe"}))]),
            "status.conditions[0].status",
        ),
        (
            json!([condition(json!({"type": "not a type!"}))]),
            "status.conditions[0].type",
        ),
        (
            json!([condition(json!({"reason": "not valid!"}))]),
            "status.conditions[0].reason",
        ),
        (
            json!([condition(json!({"lastTransitionTime": null}))]),
            "status.conditions[0].lastTransitionTime",
        ),
        (
            json!([condition(json!({})), condition(json!({"status": "False"}))]),
            "status.conditions[1]",
        ),
    ];
    for (conditions, field) in status_cases {
        let patch = Patch::Merge(json!({"status": {"conditions": conditions}}));
        let message = refusal(
            api.patch_status("sample-student", &PatchParams::default(), &patch)
                .await,
        );
        assert!(
            message.contains(field),
            "{conditions}: the error names {field}: {message}"
        );
    }
    let accepted = Patch::Merge(json!({"status": {"conditions": [condition(json!({}))]}}));
    api.patch_status("sample-student", &PatchParams::default(), &accepted)
        .await
        .expect("a valid condition");
}

fn kubectl(args: &[&str]) -> std::process::Output {
    Command::new(konditions_testing::kubectl())
        .args(args)
        .env("KUBECONFIG", konditions_testing::kubeconfig_path())
        .output()
        .expect("run kubectl")
}

#[tokio::test]
async fn kubectl_shows_the_columns_and_waits_for_ready() {
    let client = konditions_testing::client().await;
    install_committed_crds(&client).await;
    let ns = konditions_testing::namespace(&client).await;
    writers(&client, ns.name())
        .create(
            &PostParams::default(),
            &object("sample-student", valid_spec()),
        )
        .await
        .unwrap();

    // kubectl wait, started before Ready exists, returns when the library sets it.
    let waiting = Command::new(konditions_testing::kubectl())
        .args([
            "wait",
            "--for=condition=Ready",
            "postgreswriter/sample-student",
            "-n",
            ns.name(),
            "--timeout=120s",
        ])
        .env("KUBECONFIG", konditions_testing::kubeconfig_path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start kubectl wait");
    let typed: Api<PostgresWriter> = Api::namespaced(client.clone(), ns.name());
    // For generation 1, the object's: kubectl wait compares the condition's
    // observedGeneration (or else status.observedGeneration, 0 by the
    // schema's default) with metadata.generation.
    let mut conditions = konditions_core::Conditions::<PostgresWriterCondition>::default();
    let clock = konditions_core::SystemClock;
    for (type_, reason) in [
        (PostgresWriterCondition::TableReady, "TableFound"),
        (PostgresWriterCondition::RowWritten, "RowWritten"),
    ] {
        conditions
            .set_with(&clock, Some(1), &type_, Verdict::new(Status::True, reason))
            .unwrap();
    }
    conditions.update_summary_with(&clock, Some(1)).unwrap();
    let waiter = tokio::task::spawn_blocking(move || waiting.wait_with_output());
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    apply_conditions(&typed, "sample-student", "crd-test", conditions.iter())
        .await
        .expect("apply");
    let waited = waiter.await.unwrap().expect("kubectl wait ran");
    assert!(
        waited.status.success(),
        "kubectl wait: {}{}",
        String::from_utf8_lossy(&waited.stdout),
        String::from_utf8_lossy(&waited.stderr)
    );
    assert!(String::from_utf8_lossy(&waited.stdout).contains("condition met"));

    let listed = kubectl(&["get", "postgreswriters", "-n", ns.name()]);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "TABLE", "READY", "REASON", "AGE"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..4],
        ["sample-student", "students", "True", "AsExpected"]
    );

    // The short name and the category work too.
    for resource in ["pgw", "konditions"] {
        let by_alias = kubectl(&["get", resource, "-n", ns.name(), "-o", "name"]);
        assert_eq!(
            String::from_utf8_lossy(&by_alias.stdout).trim(),
            "postgreswriter.demo.yash.com/sample-student"
        );
    }
}

/// A kind that declares no printer column of its own.
mod gadget {
    // kube's derive emits items without docs of its own.
    #![allow(missing_docs, unreachable_pub)]

    use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
    use kube::CustomResource;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    #[derive(
        CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema,
    )]
    #[kube(
        group = "columns.konditions.dev",
        version = "v1",
        kind = "Gadget",
        namespaced,
        status = "GadgetStatus"
    )]
    #[konditions(types(Wired), summary = Ready)]
    pub struct GadgetSpec {
        pub volts: u32,
    }

    #[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct GadgetStatus {
        #[serde(default)]
        pub conditions: Conditions<GadgetCondition>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub observed_generation: Option<i64>,
    }
}

#[tokio::test]
async fn a_kind_without_columns_of_its_own_shows_its_summary_in_kubectl_get() {
    use gadget::{Gadget, GadgetCondition, GadgetSpec};
    use konditions_core::ConditionalResource;
    use konditions_core::crd::Entry;

    let client = konditions_testing::client().await;
    let entry = Entry::of::<Gadget>();
    konditions_testing::install_crd(&client, entry.crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let gadgets: Api<Gadget> = Api::namespaced(client.clone(), ns.name());
    let mut gadget = gadgets
        .create(
            &PostParams::default(),
            &Gadget::new("toaster", GadgetSpec { volts: 230 }),
        )
        .await
        .unwrap();
    gadget
        .set_condition(
            &GadgetCondition::Wired,
            Verdict::new(Status::True, "Plugged"),
        )
        .unwrap();
    gadget.update_summary().unwrap();
    konditions_core::apply_status(&gadgets, &gadget, "crd-test")
        .await
        .unwrap();

    let listed = kubectl(&["get", "gadgets", "-n", ns.name()]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let out = String::from_utf8_lossy(&listed.stdout);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "REASON", "AGE"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..3],
        ["toaster", "True", konditions_core::SUMMARY_TRUE_REASON]
    );
}
