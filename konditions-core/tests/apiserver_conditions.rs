//! Against the real kube-apiserver (`cargo xtask controlplane up`): the CRD
//! schema generated for `Conditions` is accepted, enforces metav1.Condition's
//! rules, and makes server-side apply merge conditions per type so two
//! controllers writing different conditions of one object keep each other's.
//!
//! These tests fail (they do not skip) when no control plane is running.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use konditions_core::example::WidgetCondition::{self, *};
use konditions_core::{
    ConditionalResource, ConditionalStatus, Conditions, ManualClock, RawKind, Status, Verdict,
    apply_conditions, apply_status,
};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// konditions-rules' table of `metav1.Condition` types and reasons, which
/// konditions-rules and konditions-derive test their checks against too.
#[path = "../../konditions-rules/cases/metav1.rs"]
mod metav1_cases;

/// The spec of a test resource whose status holds typed conditions.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "core-conditions.konditions.test",
    version = "v1",
    kind = "Gadget",
    namespaced,
    status = "GadgetStatus"
)]
struct GadgetSpec {
    size: i32,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
struct GadgetStatus {
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    conditions: Conditions<WidgetCondition>,
}

impl ConditionalStatus for GadgetStatus {
    type Type = WidgetCondition;
    type Status = Status;
    fn conditions(&self) -> &Conditions<WidgetCondition> {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Conditions<WidgetCondition> {
        &mut self.conditions
    }
}

impl ConditionalResource for Gadget {
    type Type = WidgetCondition;
    type Status = Status;
    type ResourceStatus = GadgetStatus;
    fn resource_status(&self) -> Option<&GadgetStatus> {
        self.status.as_ref()
    }
    fn resource_status_mut(&mut self) -> &mut Option<GadgetStatus> {
        &mut self.status
    }
    fn generation(&self) -> Option<i64> {
        self.metadata.generation
    }
}

fn conditions_schema(crd: &CustomResourceDefinition) -> Value {
    let crd = serde_json::to_value(crd).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
        ["conditions"]
        .clone()
}

/// Installs the CRD and creates a Gadget in a fresh namespace.
async fn gadget(name: &str) -> (Api<Gadget>, Gadget) {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &Gadget::crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let api: Api<Gadget> = ns.api();
    let created = api
        .create(
            &PostParams::default(),
            &Gadget::new(name, GadgetSpec { size: 1 }),
        )
        .await
        .unwrap();
    (api, created)
}

fn condition(type_: &str, status: &str, reason: &str) -> Value {
    json!({"type": type_, "status": status, "lastTransitionTime": "2024-05-01T10:00:00Z", "reason": reason, "message": ""})
}

/// A status merge patch of raw conditions, as any client could send.
async fn patch_raw(
    api: &Api<Gadget>,
    name: &str,
    conditions: Value,
) -> Result<Gadget, kube::Error> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": conditions}})),
    )
    .await
}

fn expect_invalid(result: Result<Gadget, kube::Error>, field: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains(field),
                "422 should name `{field}`: {}",
                status.message
            );
        }
        other => panic!("expected a 422 naming `{field}`, got {other:?}"),
    }
}

#[test]
fn crd_schema_survives_the_structural_rewrite() {
    let schema = conditions_schema(&Gadget::crd());
    assert_eq!(schema["type"], "array");
    assert_eq!(schema["x-kubernetes-list-type"], "map");
    assert_eq!(schema["x-kubernetes-list-map-keys"], json!(["type"]));
    let item = &schema["items"];
    assert_eq!(
        item["required"],
        json!(["lastTransitionTime", "message", "reason", "status", "type"]),
        "{item:#}"
    );
    let p = &item["properties"];
    assert_eq!(p["type"]["maxLength"], 316);
    assert_eq!(
        p["type"]["pattern"],
        konditions_core::validation::TYPE_PATTERN
    );
    assert_eq!(p["status"]["enum"], json!(["True", "False", "Unknown"]));
    assert_eq!(p["observedGeneration"]["minimum"].as_f64(), Some(0.0));
    assert_eq!(p["observedGeneration"]["format"], "int64");
    assert_eq!(p["lastTransitionTime"]["format"], "date-time");
    assert_eq!(
        p["reason"]["pattern"],
        konditions_core::validation::REASON_PATTERN
    );
    assert_eq!(p["reason"]["minLength"], 1);
    assert_eq!(p["reason"]["maxLength"], 1024);
    assert_eq!(p["message"]["maxLength"], 32768);
}

#[tokio::test]
async fn valid_conditions_are_stored_and_read_back() {
    let (api, mut gadget) = gadget("valid").await;
    let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
    assert_eq!(gadget.initialize_conditions_with(&clock), 5);
    gadget
        .set_condition_with(
            &clock,
            &DatabaseReady,
            Verdict::new(Status::True, "Connected").message("db up"),
        )
        .unwrap();
    let stored = apply_status(&api, &gadget, "gadget-controller")
        .await
        .unwrap();
    // Everything but BucketCreated, which the lock writes (declared so).
    let mut applied = gadget.status.clone().unwrap();
    applied.conditions.remove(&BucketCreated).unwrap();
    assert_eq!(stored.status, Some(applied));
    let generation = stored.metadata.generation;
    assert!(
        stored
            .conditions()
            .unwrap()
            .iter()
            .all(|c| c.observed_generation == generation)
    );

    // A foreign condition (other controller, extra field, fractional time)
    // is accepted by the schema and survives our typed round-trip.
    let mut with_foreign = serde_json::to_value(stored.conditions().unwrap()).unwrap();
    let foreign = json!({"type": "other.example.com/Synced", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00.123456Z", "reason": "Synced", "message": "hello"});
    with_foreign.as_array_mut().unwrap().push(foreign.clone());
    let stored = patch_raw(&api, &gadget.name_any(), with_foreign.clone())
        .await
        .unwrap();
    let conditions = stored.conditions().unwrap();
    assert_eq!(conditions.foreign().collect::<Vec<_>>(), [&foreign]);
    assert_eq!(serde_json::to_value(conditions).unwrap(), with_foreign);
    assert!(
        conditions
            .unrecognized()
            .all(|r| r.kind() == RawKind::Foreign)
    );
}

#[tokio::test]
async fn bad_status_type_reason_and_duplicates_are_rejected() {
    let (api, gadget) = gadget("invalid").await;
    let name = gadget.name_any();
    expect_invalid(
        patch_raw(&api, &name, json!([condition("Ready", "Maybe", "Ok")])).await,
        "status.conditions[0].status",
    );
    expect_invalid(
        patch_raw(&api, &name, json!([condition("not a type", "True", "Ok")])).await,
        "status.conditions[0].type",
    );
    expect_invalid(
        patch_raw(
            &api,
            &name,
            json!([condition("Ready", "True", "not camel")]),
        )
        .await,
        "status.conditions[0].reason",
    );
    expect_invalid(
        patch_raw(
            &api,
            &name,
            json!([
                condition("Ready", "True", "Ok"),
                condition("Ready", "False", "No")
            ]),
        )
        .await,
        "status.conditions[1]",
    );
    let mut missing = condition("Ready", "True", "Ok");
    missing
        .as_object_mut()
        .unwrap()
        .remove("lastTransitionTime");
    expect_invalid(
        patch_raw(&api, &name, json!([missing])).await,
        "status.conditions[0].lastTransitionTime",
    );
    // And the valid form of the same condition goes through.
    patch_raw(&api, &name, json!([condition("Ready", "True", "Ok")]))
        .await
        .unwrap();
}

/// Whether the API server stores `conditions`, or refuses them with a 422
/// naming `field` (anything else fails the test).
async fn api_server_accepts(api: &Api<Gadget>, name: &str, conditions: Value, field: &str) -> bool {
    match patch_raw(api, name, conditions).await {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 422 && status.message.contains(field) => {
            false
        }
        Err(other) => panic!("expected the conditions stored or a 422 naming `{field}`: {other:?}"),
    }
}

/// The same table of types and reasons through the run-time checks
/// (`validate_type`, `validate_reason`, which the derive's compile-time
/// checks share through konditions-rules) and through the API server
/// evaluating the CRD's `pattern` and `maxLength`: every verdict agrees
/// with the table.
#[tokio::test]
async fn run_time_checks_and_the_api_server_agree_on_the_metav1_table() {
    let (api, gadget) = gadget("metav1-table").await;
    let name = gadget.name_any();
    for (type_, accepted) in metav1_cases::types() {
        let checked = konditions_core::validation::validate_type(&type_);
        assert_eq!(
            checked.is_ok(),
            accepted,
            "validate_type({type_:?}): {checked:?}"
        );
        let stored = api_server_accepts(
            &api,
            &name,
            json!([condition(&type_, "True", "Ok")]),
            "status.conditions[0].type",
        )
        .await;
        assert_eq!(stored, accepted, "the API server on type {type_:?}");
    }
    for (reason, accepted) in metav1_cases::reasons() {
        let checked = konditions_core::validation::validate_reason(&reason);
        assert_eq!(
            checked.is_ok(),
            accepted,
            "validate_reason({reason:?}): {checked:?}"
        );
        let stored = api_server_accepts(
            &api,
            &name,
            json!([condition("Ready", "True", &reason)]),
            "status.conditions[0].reason",
        )
        .await;
        assert_eq!(stored, accepted, "the API server on reason {reason:?}");
    }
}

#[tokio::test]
async fn two_field_managers_keep_each_others_conditions() {
    let (api, gadget) = gadget("shared").await;
    let name = gadget.name_any();
    let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());

    // Controller A owns the Widget conditions; controller B owns one
    // condition of its own, which A's typed list sees as foreign.
    let mut a = gadget.clone();
    a.set_condition_with(
        &clock,
        &DatabaseReady,
        Verdict::new(Status::True, "Connected"),
    )
    .unwrap();
    apply_status(&api, &a, "controller-a").await.unwrap();

    let mut b = Conditions::<String>::default();
    b.set_with(
        &clock,
        None,
        "backup.example.com/Done",
        Verdict::new(Status::False, "Pending"),
    )
    .unwrap();
    apply_conditions(&api, &name, "controller-b", b.iter())
        .await
        .unwrap();

    // A changes its condition and adds another: B's stays.
    a.set_condition_with(
        &clock,
        &DatabaseReady,
        Verdict::new(Status::False, "Lost").message("connection reset"),
    )
    .unwrap();
    a.set_condition_with(
        &clock,
        &Degraded,
        Verdict::new(Status::True, "HalfCapacity"),
    )
    .unwrap();
    let stored = apply_status(&api, &a, "controller-a").await.unwrap();
    let conditions = stored.conditions().unwrap();
    assert!(conditions.is_false(&DatabaseReady));
    assert!(conditions.is_true(&Degraded));
    assert_eq!(conditions.foreign().count(), 1);

    // B transitions its condition: A's stay as A last wrote them.
    b.set_with(
        &clock,
        None,
        "backup.example.com/Done",
        Verdict::new(Status::True, "Uploaded"),
    )
    .unwrap();
    let stored = apply_conditions(&api, &name, "controller-b", b.iter())
        .await
        .unwrap();
    let conditions = stored.conditions().unwrap();
    assert_eq!(conditions.find(&DatabaseReady).unwrap().reason, "Lost");
    assert!(conditions.is_true(&Degraded));
    let untyped: Conditions =
        serde_json::from_value(serde_json::to_value(conditions).unwrap()).unwrap();
    assert!(untyped.is_true("backup.example.com/Done"));
    assert_eq!(untyped.iter().count(), 3);

    // Each manager owns exactly its own entries.
    let managers: Vec<String> = stored
        .managed_fields()
        .iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"controller-a".to_string()),
        "{managers:?}"
    );
    assert!(
        managers.contains(&"controller-b".to_string()),
        "{managers:?}"
    );
}
