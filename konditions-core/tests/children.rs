//! Against the real kube-apiserver (`cargo xtask controlplane up`): a
//! parent's conditions computed from real child objects, Deployments (whose
//! status the test writes through the status subresource, as there is no
//! controller-manager) and child custom resources, written with
//! server-side apply; kstatus agrees with the `Paused` and `Deleting`
//! conditions' effects.
//!
//! These tests fail (they do not skip) when no control plane is running.

use k8s_openapi::api::apps::v1::Deployment;
use konditions_core::merge::{Aggregate, aggregate, mirror};
use konditions_core::{
    ConditionalResource, ConditionalStatus, Conditions, Status, Verdict, apply_status,
};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A shop: a web tier (Deployments) and storage (Buckets).
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "children.konditions.test",
    version = "v1",
    kind = "Shop",
    namespaced,
    status = "ShopStatus"
)]
#[konditions(
    types(WebAvailable, StorageReady, Paused(paused), Deleting(deleting)),
    summary = Ready
)]
pub struct ShopSpec {
    /// Replicas of the web tier.
    pub replicas: i32,
}

/// Status of a Shop.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopStatus {
    /// The conditions.
    #[serde(default)]
    pub conditions: Conditions<ShopCondition>,
    /// The generation the summary was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A bucket, a child custom resource of a Shop.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "children.konditions.test",
    version = "v1",
    kind = "Bucket",
    namespaced,
    status = "BucketStatus"
)]
#[konditions(types(Provisioned), summary = Ready)]
pub struct BucketSpec {
    /// Size in GiB.
    pub size: i32,
}

/// Status of a Bucket.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatus {
    /// The conditions.
    #[serde(default)]
    pub conditions: Conditions<BucketCondition>,
    /// The generation the summary was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"shop": "s"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}
            }
        }
    }))
    .unwrap()
}

/// Writes what a Deployment controller would: `Available` and the
/// observed generation, through the status subresource.
async fn report(api: &Api<Deployment>, name: &str, available: bool, message: &str) {
    let generation = api.get(name).await.unwrap().metadata.generation.unwrap();
    let (status, reason) = if available {
        ("True", "MinimumReplicasAvailable")
    } else {
        ("False", "MinimumReplicasUnavailable")
    };
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "observedGeneration": generation,
            "replicas": 3,
            "conditions": [{"type": "Available", "status": status, "reason": reason,
                "message": message, "lastUpdateTime": "2024-05-01T10:00:00Z",
                "lastTransitionTime": "2024-05-01T10:00:00Z"}]
        }})),
    )
    .await
    .unwrap();
}

/// The parent's conditions from the children on the server, written with
/// server-side apply; the stored parent.
async fn reconcile(
    shops: &Api<Shop>,
    deployments: &Api<Deployment>,
    buckets: &Api<Bucket>,
) -> Shop {
    reconcile_deleting(shops, deployments, buckets, None).await
}

/// [`reconcile`], saying what a deletion waits for.
async fn reconcile_deleting(
    shops: &Api<Shop>,
    deployments: &Api<Deployment>,
    buckets: &Api<Bucket>,
    deleting: Option<&str>,
) -> Shop {
    let mut shop = shops.get("s").await.unwrap();
    let web = deployments
        .list(&ListParams::default().labels("shop=s"))
        .await
        .unwrap();
    let storage = buckets.list(&ListParams::default()).await.unwrap();
    let available = aggregate(&web.items, &Aggregate::of("Available")).unwrap();
    shop.set_condition(&ShopCondition::WebAvailable, available)
        .unwrap();
    // One bucket: its Ready mirrored, naming it.
    let ready = mirror(
        &storage.items[0],
        "Ready",
        Some(Verdict::new(Status::Unknown, "BucketMissing")),
    );
    shop.set_condition(&ShopCondition::StorageReady, ready)
        .unwrap();
    shop.set_deleting(deleting).unwrap();
    shop.update_summary().unwrap();
    apply_status(shops, &shop, "shop-controller").await.unwrap()
}

fn ready(shop: &Shop) -> (Status, String, String) {
    let c = shop
        .conditions()
        .unwrap()
        .find(&ShopCondition::Ready)
        .unwrap();
    (c.status, c.reason.clone(), c.message.clone())
}

fn kstatus(shop: &Shop) -> konditions_testing::KstatusResult {
    konditions_testing::kstatus(&serde_json::to_value(shop).unwrap())
}

#[tokio::test]
async fn a_parent_summarises_its_deployments_and_child_resources() {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &Shop::crd()).await;
    konditions_testing::install_crd(&client, &Bucket::crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let (shops, deployments, buckets): (Api<Shop>, Api<Deployment>, Api<Bucket>) =
        (ns.api(), ns.api(), ns.api());
    let pp = PostParams::default();
    shops
        .create(&pp, &Shop::new("s", ShopSpec { replicas: 3 }))
        .await
        .unwrap();
    for name in ["web", "api", "admin"] {
        deployments.create(&pp, &deployment(name)).await.unwrap();
    }
    let bucket = buckets
        .create(&pp, &Bucket::new("images", BucketSpec { size: 10 }))
        .await
        .unwrap();

    // Nothing reported by anyone yet: unknown, and kstatus says in progress.
    let shop = reconcile(&shops, &deployments, &buckets).await;
    let (status, reason, message) = ready(&shop);
    assert_eq!(
        (status, reason.as_str()),
        (Status::Unknown, "UnknownReported")
    );
    assert_eq!(
        message,
        "* WebAvailable:\n  * Deployments admin, api, web: Condition Available not yet reported\n\
         * StorageReady: BucketMissing"
    );
    assert_eq!(kstatus(&shop).status, "InProgress");

    // Two Deployments fail the same way, one is fine; the bucket is ready.
    report(&deployments, "web", false, "0/3 replicas available").await;
    report(&deployments, "api", false, "0/3 replicas available").await;
    report(&deployments, "admin", true, "").await;
    let mut bucket = bucket;
    bucket
        .set_condition(
            &BucketCondition::Provisioned,
            Verdict::new(Status::True, "Created"),
        )
        .unwrap();
    bucket.update_summary().unwrap();
    apply_status(&buckets, &bucket, "bucket-controller")
        .await
        .unwrap();
    let shop = reconcile(&shops, &deployments, &buckets).await;
    let (status, reason, message) = ready(&shop);
    assert_eq!(
        (status, reason.as_str()),
        (Status::False, "IssuesReported"),
        "one issue (the aggregate of two issues): its reason"
    );
    assert_eq!(
        message,
        "* WebAvailable: * Deployments api, web: 0/3 replicas available".replace(": * ", ":\n  * ")
    );
    let storage = shop
        .conditions()
        .unwrap()
        .find(&ShopCondition::StorageReady)
        .unwrap();
    assert_eq!(
        storage.message,
        "All dependent conditions are as expected (from Bucket images)"
    );
    assert_eq!(kstatus(&shop).status, "InProgress");

    // All available: Ready, Current.
    report(&deployments, "web", true, "").await;
    report(&deployments, "api", true, "").await;
    let shop = reconcile(&shops, &deployments, &buckets).await;
    assert_eq!(ready(&shop).0, Status::True);
    assert_eq!(kstatus(&shop).status, "Current");

    // A spec change of a Deployment its controller has not observed: stale, unknown.
    deployments
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    let shop = reconcile(&shops, &deployments, &buckets).await;
    let (status, _, message) = ready(&shop);
    assert_eq!(status, Status::Unknown);
    assert!(
        message
            .contains("Deployment api: Computed for generation 1, the object is at generation 2"),
        "{message}"
    );
    report(&deployments, "api", true, "").await;

    // Paused: no Reconciling (nobody works on it); kstatus reads Ready.
    let mut shop = reconcile(&shops, &deployments, &buckets).await;
    shop.set_paused(Some("the shop.example.com/paused annotation is set"))
        .unwrap();
    shop.update_summary().unwrap();
    let shop = apply_status(&shops, &shop, "shop-controller")
        .await
        .unwrap();
    let conditions = shop.conditions().unwrap();
    assert!(conditions.is_true(&ShopCondition::Paused));
    assert!(
        conditions.is_true(&ShopCondition::Ready),
        "Paused is not a dependent"
    );
    assert!(conditions.find(&ShopCondition::Reconciling).is_none());
    assert_eq!(kstatus(&shop).status, "Current");
    let mut shop = shop;
    shop.set_paused(None).unwrap();
    let mut shop = apply_status(&shops, &shop, "shop-controller")
        .await
        .unwrap();
    let paused = shop.conditions().unwrap().find(&ShopCondition::Paused);
    assert_eq!(paused.map(|c| c.reason.as_str()), Some("NotPaused"));
    // Present and False on a Ready object: Flux's convention warns (WARN0001).
    let flux = konditions_testing::ComplianceCheck::of::<ShopCondition>();
    // (`Deleting`, False since the reconcile's `set_deleting(None)`, is warned
    // about too: only whether `Paused` is named matters here.)
    let warned_about_paused = |shop: &Shop| {
        let compliance = flux.check(shop).unwrap();
        assert!(compliance.is_compliant(), "{:?}", compliance.violations);
        compliance.violations.iter().any(|v| {
            v.rule == konditions_testing::Rule::NegativePresentWhileReady
                && v.message.contains("Paused")
        })
    };
    assert!(warned_about_paused(&shop));
    // Flux's shape (children.md): removed from the copy, gone from the object.
    shop.conditions_mut()
        .remove(&ShopCondition::Paused)
        .unwrap();
    let shop = apply_status(&shops, &shop, "shop-controller")
        .await
        .unwrap();
    assert!(
        shop.conditions()
            .unwrap()
            .find(&ShopCondition::Paused)
            .is_none()
    );
    assert!(!warned_about_paused(&shop));

    // Deleting (a finalizer holds the object): the summary says why it is
    // not ready, kstatus says Terminating.
    shops
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["shop.example.com/children"]}})),
        )
        .await
        .unwrap();
    shops.delete("s", &DeleteParams::default()).await.unwrap();
    let shop = reconcile_deleting(
        &shops,
        &deployments,
        &buckets,
        Some("Waiting for 3 Deployments to be deleted"),
    )
    .await;
    assert!(shop.metadata.deletion_timestamp.is_some());
    let (status, reason, message) = ready(&shop);
    assert_eq!((status, reason.as_str()), (Status::False, "Deleting"));
    assert_eq!(
        message,
        "* Deleting: Waiting for 3 Deployments to be deleted"
    );
    assert_eq!(kstatus(&shop).status, "Terminating");
    shops
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(shop.name_any() == "s");
}
