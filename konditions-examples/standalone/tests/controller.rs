//! The controller against a real API server, started by konditions-testing
//! from this test: nothing runs beforehand.

use std::time::{Duration, Instant};

use bucket_operator::{Bucket, BucketCondition, BucketSpec, controller};
use k8s_openapi::api::core::v1::ConfigMap;
use konditions_core::{ConditionalResource, Status};
use kube::{Api, CustomResourceExt};

/// A guard against hangs, not a performance assertion.
const WAIT: Duration = Duration::from_secs(60);

async fn wait_for(api: &Api<Bucket>, name: &str, done: impl Fn(&Bucket) -> bool) -> Bucket {
    let deadline = Instant::now() + WAIT;
    loop {
        let bucket = api.get(name).await.unwrap();
        if done(&bucket) {
            return bucket;
        }
        assert!(Instant::now() < deadline, "{name}: {:#?}", bucket.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready_is(status: Status) -> impl Fn(&Bucket) -> bool {
    move |bucket| {
        bucket
            .conditions()
            .and_then(|c| c.find(&BucketCondition::Ready))
            .is_some_and(|c| c.status == status)
    }
}

#[tokio::test]
async fn buckets_get_created_and_report_their_conditions() {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &Bucket::crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let namespace = ns.name().to_owned();
    let controller = tokio::spawn({
        let client = client.clone();
        async move {
            controller::run(client, Some(&namespace), async {
                let _ = stopped.await;
            })
            .await
        }
    });

    let buckets = ns.api::<Bucket>();
    let spec = |public| BucketSpec {
        region: "eu-west-1".into(),
        public,
    };
    buckets
        .create(&Default::default(), &Bucket::new("private", spec(false)))
        .await
        .unwrap();
    buckets
        .create(&Default::default(), &Bucket::new("public", spec(true)))
        .await
        .unwrap();

    // The private bucket is created and Ready.
    let private = wait_for(&buckets, "private", ready_is(Status::True)).await;
    let conditions = private.conditions().unwrap();
    assert!(conditions.is_true(&BucketCondition::BucketCreated));
    assert!(conditions.is_true(&BucketCondition::PolicyApplied));
    let config_map = ns.api::<ConfigMap>().get("bucket-private").await.unwrap();
    assert_eq!(config_map.data.unwrap()["region"], "eu-west-1");

    // The public one is refused: Ready=False, explained by the policy.
    let public = wait_for(&buckets, "public", ready_is(Status::False)).await;
    let ready = public
        .conditions()
        .unwrap()
        .find(&BucketCondition::Ready)
        .unwrap();
    assert_eq!(ready.reason, "PublicNotAllowed");
    assert!(
        ns.api::<ConfigMap>()
            .get_opt("bucket-public")
            .await
            .unwrap()
            .is_none()
    );

    // What Flux and the cli-utils appliers make of them (the real kstatus).
    let verdict = konditions_testing::kstatus(&serde_json::to_value(&private).unwrap());
    assert_eq!(
        (verdict.status.as_str(), verdict.message.as_str()),
        ("Current", "Resource is Ready")
    );
    // A refusal only a person can lift: Failed, with the cause.
    let verdict = konditions_testing::kstatus(&serde_json::to_value(&public).unwrap());
    assert_eq!(
        (verdict.status.as_str(), verdict.message.as_str()),
        (
            "Failed",
            "PolicyApplied is False (PublicNotAllowed): public buckets are refused by policy"
        )
    );

    let _ = stop.send(());
    tokio::time::timeout(WAIT, controller)
        .await
        .unwrap()
        .unwrap();
}
