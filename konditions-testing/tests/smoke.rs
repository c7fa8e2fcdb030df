//! End-to-end smoke test of the plumbing against the REAL kube-apiserver:
//! CRD with a status subresource, a custom resource, status writes, and the
//! two ways the server refuses a write made from a stale view (409 for a
//! stale resourceVersion, 422 for a failed JSON Patch `test`). The advisory
//! lock is built on exactly these two refusals.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Error};
use serde_json::json;

fn gadget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.smoke.konditions.dev"},
        "spec": {
            "group": "smoke.konditions.dev",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
                    }
                }}
            }]
        }
    }))
    .expect("valid CRD")
}

fn gadgets(ns: &konditions_testing::TestNamespace) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "smoke.konditions.dev",
        "v1",
        "Gadget",
    ));
    Api::namespaced_with(ns.client().clone(), ns.name(), &resource)
}

fn gadget(name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "smoke.konditions.dev/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": {"size": 1}
    }))
    .expect("valid object")
}

fn status_code(result: Result<DynamicObject, Error>) -> u16 {
    match result {
        Err(Error::Api(status)) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn status_subresource_and_stale_writes_on_a_real_api_server() {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &gadget_crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let api = gadgets(&ns);

    let created = api
        .create(&PostParams::default(), &gadget("g1"))
        .await
        .expect("create");
    assert!(
        created.data.get("status").is_none(),
        "a new object has no status"
    );

    // Status goes through the status subresource...
    let params = PatchParams::default();
    let with_status = api
        .patch_status(
            "g1",
            &params,
            &Patch::Merge(json!({"status": {"phase": "One"}})),
        )
        .await
        .expect("status patch");
    assert_eq!(with_status.data["status"]["phase"], "One");

    // ...and a write to the main resource cannot change it.
    let mut edited = with_status.clone();
    edited.data["status"] = json!({"phase": "Ignored"});
    edited.data["spec"] = json!({"size": 2});
    let replaced = api
        .replace("g1", &PostParams::default(), &edited)
        .await
        .expect("replace");
    assert_eq!(replaced.data["spec"]["size"], 2);
    assert_eq!(
        replaced.data["status"]["phase"], "One",
        "the main resource ignores status"
    );

    // A stale resourceVersion: `with_status` was read before the replace.
    let mut stale = with_status.clone();
    stale.data["status"] = json!({"phase": "Stale"});
    let stale_write = api
        .replace_status("g1", &PostParams::default(), &stale)
        .await;
    assert_eq!(
        status_code(stale_write),
        409,
        "stale resourceVersion -> Conflict"
    );

    // A JSON Patch whose `test` op fails: the server refuses the whole patch.
    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/status/phase", "value": "Two"},
        {"op": "replace", "path": "/status/phase", "value": "Three"}
    ]))
    .unwrap();
    let refused = api
        .patch_status("g1", &params, &Patch::Json::<()>(failing))
        .await;
    assert_eq!(status_code(refused), 422, "failed test op -> Invalid");

    // The same patch with a `test` that holds goes through.
    let passing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/status/phase", "value": "One"},
        {"op": "replace", "path": "/status/phase", "value": "Three"}
    ]))
    .unwrap();
    let patched = api
        .patch_status("g1", &params, &Patch::Json::<()>(passing))
        .await
        .expect("passing test op");
    assert_eq!(patched.data["status"]["phase"], "Three");

    // Nothing the refused writes carried reached the server.
    let now = api.get("g1").await.expect("get");
    assert_eq!(now.data["status"]["phase"], "Three");
    assert_eq!(now.data["spec"]["size"], 2);
}
