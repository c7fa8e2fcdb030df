//! Children as [`ConditionSource`]s: the objects an operator creates and
//! whose conditions roll up to the parent with
//! [`merge::aggregate`](crate::merge::aggregate) and
//! [`merge::mirror`](crate::merge::mirror).
//!
//! * every konditions resource that is a kube `Resource` (a
//!   `#[derive(CustomResource, ConditionalResource)]` kind): typed;
//! * the workloads of `k8s_openapi` with standard conditions: Deployment,
//!   StatefulSet, DaemonSet, ReplicaSet (their `status.observedGeneration`
//!   is every condition's, so a workload its controller has not caught up
//!   with reads Unknown), and Job;
//! * kube's `DynamicObject`, for any kind with `status.conditions`;
//! * [`merge::Object`](crate::merge::Object), plain data.

use std::borrow::Cow;

use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch};
use kube::core::DynamicObject;
use kube::{Resource, ResourceExt};

use crate::merge::{ConditionSource, Reported};
use crate::{ConditionStatus, ConditionType, ConditionalResource, Status};

/// The tri-state of any status set.
fn tri_state<S: ConditionStatus>(status: &S) -> Status {
    match status.truth() {
        Some(true) => Status::True,
        Some(false) => Status::False,
        None => Status::Unknown,
    }
}

impl<R> ConditionSource for R
where
    R: ConditionalResource + Resource<DynamicType = ()>,
{
    fn kind(&self) -> Cow<'_, str> {
        R::kind(&())
    }

    fn name(&self) -> Cow<'_, str> {
        Cow::Owned(self.name_any())
    }

    fn generation(&self) -> Option<i64> {
        ConditionalResource::generation(self)
    }

    fn reported(&self) -> Vec<Reported<'_>> {
        ConditionalResource::conditions(self)
            .into_iter()
            .flatten()
            .map(|c| {
                Reported::new(
                    c.type_.as_str(),
                    tri_state(&c.status),
                    c.reason.as_str(),
                    c.message.as_str(),
                )
                .observed_generation(c.observed_generation)
            })
            .collect()
    }
}

/// `ConditionSource` for a workload whose conditions have `type`,
/// `status`, optional `reason` and `message`.
macro_rules! workload_source {
    ($($kind:ty => |$status:ident| $observed:expr),* $(,)?) => {$(
        impl ConditionSource for $kind {
            fn kind(&self) -> Cow<'_, str> {
                Cow::Borrowed(<$kind as k8s_openapi::Resource>::KIND)
            }

            fn name(&self) -> Cow<'_, str> {
                Cow::Owned(self.name_any())
            }

            fn generation(&self) -> Option<i64> {
                self.metadata.generation
            }

            fn reported(&self) -> Vec<Reported<'_>> {
                let Some($status) = self.status.as_ref() else {
                    return Vec::new();
                };
                let observed: Option<i64> = $observed;
                $status
                    .conditions
                    .iter()
                    .flatten()
                    .map(|c| {
                        Reported::new(
                            c.type_.as_str(),
                            Reported::status_of(&c.status),
                            c.reason.as_deref().unwrap_or_default(),
                            c.message.as_deref().unwrap_or_default(),
                        )
                        .observed_generation(observed)
                    })
                    .collect()
            }
        }
    )*};
}

workload_source! {
    apps::Deployment => |status| status.observed_generation,
    apps::StatefulSet => |status| status.observed_generation,
    apps::DaemonSet => |status| status.observed_generation,
    apps::ReplicaSet => |status| status.observed_generation,
    batch::Job => |status| { let _ = status; None },
}

/// A string field of a JSON condition, empty when absent.
fn text<'v>(condition: &'v serde_json::Value, key: &str) -> &'v str {
    condition
        .get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

impl ConditionSource for DynamicObject {
    fn kind(&self) -> Cow<'_, str> {
        match &self.types {
            Some(types) => Cow::Borrowed(&types.kind),
            None => Cow::Borrowed("Object"),
        }
    }

    fn name(&self) -> Cow<'_, str> {
        Cow::Owned(self.name_any())
    }

    fn generation(&self) -> Option<i64> {
        self.metadata.generation
    }

    fn reported(&self) -> Vec<Reported<'_>> {
        let conditions = self
            .data
            .get("status")
            .and_then(|s| s.get("conditions"))
            .and_then(serde_json::Value::as_array);
        conditions
            .into_iter()
            .flatten()
            .filter(|c| !text(c, "type").is_empty())
            .map(|c| {
                Reported::new(
                    text(c, "type"),
                    Reported::status_of(text(c, "status")),
                    text(c, "reason"),
                    text(c, "message"),
                )
                .observed_generation(
                    c.get("observedGeneration")
                        .and_then(serde_json::Value::as_i64),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{Aggregate, aggregate, mirror};

    fn deployment(name: &str, generation: i64, observed: i64, available: &str) -> apps::Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "generation": generation},
            "status": {"observedGeneration": observed, "conditions": [
                {"type": "Available", "status": available, "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability."}]}
        }))
        .unwrap()
    }

    #[test]
    fn deployments_aggregate_and_mirror() {
        let children = [
            deployment("web", 1, 1, "True"),
            deployment("api", 2, 1, "True"),
        ];
        let v = aggregate(&children, &Aggregate::of("Available")).unwrap();
        // api's controller has not observed generation 2 yet.
        assert_eq!(v.status, Status::Unknown);
        assert_eq!(
            v.message,
            "* Deployment api: Computed for generation 1, the object is at generation 2"
        );
        let v = mirror(&children[0], "Available", None);
        assert_eq!(
            v.message,
            "Deployment has minimum availability. (from Deployment web)"
        );
    }

    #[test]
    fn dynamic_objects_read_status_conditions() {
        let o: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "example.com/v1", "kind": "Bucket",
            "metadata": {"name": "b", "generation": 1},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "NoQuota",
                "message": "quota", "observedGeneration": 1}]}
        }))
        .unwrap();
        let v = mirror(&o, "Ready", None);
        assert_eq!((v.status, &*v.reason), (Status::False, "NoQuota"));
        assert_eq!(v.message, "quota (from Bucket b)");
    }
}
