//! The reconciler: create the bucket, apply the policy, report.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use konditions_core::{
    ApplyError, ConditionError, ConditionalResource, Status, Verdict, apply_status,
};
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::{Bucket, BucketCondition};

/// The field manager of this controller's writes.
pub const MANAGER: &str = "bucket-controller";

/// What a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A condition was refused (e.g. a reason that is not CamelCase).
    #[error(transparent)]
    Condition(#[from] ConditionError),
    /// Writing the conditions failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Writing the bucket's ConfigMap failed.
    #[error("creating the bucket: {0}")]
    Create(#[source] kube::Error),
}

/// The bucket itself: a ConfigMap `bucket-<name>` holding the region.
async fn create_bucket(client: &Client, bucket: &Bucket) -> Result<(), kube::Error> {
    let namespace = bucket.namespace().unwrap_or_default();
    let name = format!("bucket-{}", bucket.name_any());
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: bucket.controller_owner_ref(&()).map(|r| vec![r]),
            ..Default::default()
        },
        data: Some([("region".to_owned(), bucket.spec.region.clone())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&config_map),
        )
        .await
        .map(drop)
}

/// One reconcile of one Bucket.
pub async fn reconcile(bucket: Arc<Bucket>, client: Arc<Client>) -> Result<Action, Error> {
    let api: Api<Bucket> =
        Api::namespaced((*client).clone(), &bucket.namespace().unwrap_or_default());
    let mut bucket = (*bucket).clone();
    let mut changed = bucket.initialize_conditions() > 0;

    let change = if bucket.spec.public {
        bucket.set_condition(
            &BucketCondition::PolicyApplied,
            Verdict::new(Status::False, "PublicNotAllowed")
                .message("public buckets are refused by policy"),
        )?
    } else {
        bucket.set_condition(
            &BucketCondition::PolicyApplied,
            Verdict::new(Status::True, "Private"),
        )?
    };
    changed |= change.is_changed();
    if !bucket.spec.public {
        create_bucket(&client, &bucket)
            .await
            .map_err(Error::Create)?;
        changed |= bucket
            .set_condition(
                &BucketCondition::BucketCreated,
                Verdict::new(Status::True, "Created"),
            )?
            .is_changed();
    }
    changed |= bucket.update_summary()?.is_changed();
    if changed {
        apply_status(&api, &bucket, MANAGER).await?;
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(_: Arc<Bucket>, _: &Error, _: Arc<Client>) -> Action {
    Action::requeue(Duration::from_secs(5))
}

/// Runs the controller on Buckets of `namespace` (all namespaces if
/// `None`) until `shutdown` completes.
pub async fn run(
    client: Client,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let buckets: Api<Bucket> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    Controller::new(buckets, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, Arc::new(client))
        .for_each(|_| async {})
        .await;
}
