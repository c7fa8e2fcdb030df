//! `wait_for_condition` and `wait_for_deletion` against the real API
//! server: the first returns once the condition holds for the object's
//! current generation, and a timeout says what the condition last was (a
//! condition left from an older spec does not count); the second returns
//! once the object is gone, and a timeout names the finalizers holding it.

use std::time::Duration;

use konditions_core::{ConditionalResource, ConditionalStatus, Conditions, Status};
use konditions_testing::{Error, wait_for_condition, wait_for_deletion};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "wait.konditions.dev",
    version = "v1",
    kind = "Kettle",
    namespaced,
    status = "KettleStatus"
)]
#[konditions(types(Heated), summary = Ready)]
struct KettleSpec {
    litres: u32,
}

#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct KettleStatus {
    #[serde(default)]
    conditions: Conditions<KettleCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
}

/// Writes `Ready` with `status` for `generation`, as a controller would.
async fn report(api: &kube::Api<Kettle>, status: &str, generation: i64) {
    let ready = json!({
        "type": "Ready", "status": status, "reason": "Boiled", "message": "at 100 C",
        "observedGeneration": generation, "lastTransitionTime": "2024-05-01T10:00:00Z",
    });
    api.patch_status(
        "kettle",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [ready]}})),
    )
    .await
    .unwrap();
}

/// Waits at most `seconds` for `name`'s `Ready` to be `True` for its generation.
async fn ready(api: &kube::Api<Kettle>, name: &str, seconds: u64) -> Result<Kettle, Error> {
    wait_for_condition(
        api,
        name,
        &KettleCondition::Ready,
        Status::True,
        Duration::from_secs(seconds),
    )
    .await
}

#[tokio::test]
async fn waits_for_the_condition_of_the_current_generation_and_says_why_when_it_times_out() {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &Kettle::crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let api = ns.api::<Kettle>();
    api.create(
        &PostParams::default(),
        &Kettle::new("kettle", KettleSpec { litres: 1 }),
    )
    .await
    .unwrap();

    // Reported a moment after the wait started: the watch sees it.
    let writer = api.clone();
    let reporter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        report(&writer, "True", 1).await;
    });
    let kettle = ready(&api, "kettle", 60).await.unwrap();
    reporter.await.unwrap();
    assert!(
        kettle
            .conditions()
            .unwrap()
            .is_true(&KettleCondition::Ready)
    );

    // A new spec: the Ready of generation 1 is not an answer for 2.
    api.patch(
        "kettle",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"litres": 2}})),
    )
    .await
    .unwrap();
    let stale = ready(&api, "kettle", 2).await.unwrap_err();
    let Error::ConditionTimeout {
        generation,
        last_seen,
        ..
    } = &stale
    else {
        panic!("{stale}")
    };
    assert_eq!(*generation, 2);
    assert_eq!(last_seen, "True Boiled \"at 100 C\" for generation 1");
    assert!(
        stale
            .to_string()
            .contains("condition Ready was not True for generation 2"),
        "{stale}"
    );

    // Reported for generation 2, but False: still waiting for True.
    report(&api, "False", 2).await;
    let wrong = ready(&api, "kettle", 2).await.unwrap_err();
    assert!(
        wrong.to_string().contains("last seen: False Boiled"),
        "{wrong}"
    );

    let missing = ready(&api, "no-such-kettle", 1).await.unwrap_err();
    assert!(
        missing.to_string().contains("the object does not exist"),
        "{missing}"
    );
}

#[tokio::test]
async fn waits_for_a_deletion_and_names_the_finalizer_that_holds_it() {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &Kettle::crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let api = ns.api::<Kettle>();
    let mut kettle = Kettle::new("held", KettleSpec { litres: 1 });
    kettle.metadata.finalizers = Some(vec!["wait.konditions.dev/hold".into()]);
    api.create(&PostParams::default(), &kettle).await.unwrap();

    // Not deleted at all.
    let alive = wait_for_deletion(&api, "held", Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(
        matches!(&alive, Error::DeletionTimeout { finalizers, .. } if finalizers.is_empty()),
        "{alive}"
    );
    assert!(alive.to_string().contains("not deleted"), "{alive}");

    // Deleted, held by its finalizer.
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let held = wait_for_deletion(&api, "held", Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(
        held.to_string()
            .contains(r#"held by the finalizers ["wait.konditions.dev/hold"]"#),
        "{held}"
    );

    // Released a moment after the wait started: the watch sees it go.
    let releaser = api.clone();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        releaser
            .patch(
                "held",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await
            .unwrap();
    });
    wait_for_deletion(&api, "held", Duration::from_secs(60))
        .await
        .unwrap();
    release.await.unwrap();
    // Gone already: returns at once.
    wait_for_deletion(&api, "held", Duration::from_secs(1))
        .await
        .unwrap();
}
