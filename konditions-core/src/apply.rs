//! Status writes that touch only this controller's conditions.
//!
//! Server-side apply of `{"status":{"conditions":[...]}}` on the status
//! subresource, with a field manager per controller. Because the
//! `conditions` schema is a map-list keyed by `type` (see the `JsonSchema`
//! impl of [`Conditions`](crate::Conditions)), the API server merges per
//! condition type: controllers applying different condition types of one
//! object never overwrite each other, and no read-modify-write (and no
//! conflict on `resourceVersion`) is involved.
//!
//! # What to send
//!
//! An apply declares the **complete** set of fields its field manager owns:
//! a condition type this manager applied before and leaves out now is
//! removed from the object. So send every condition your controller
//! maintains, not only the ones that changed in this reconcile; and never
//! send other controllers' conditions (you would become their co-owner),
//! nor the ones the [lock](crate::lock) writes. With a derived condition
//! enum that is exactly its types but those declared `lock`
//! ([`WrittenBy::Lock`](crate::WrittenBy)), which [`apply_status`] sends,
//! with `status.observedGeneration` (kstatus reads it; see
//! [`kstatus`](crate::kstatus)); with `Conditions<String>` (which types
//! every condition) pick yours with [`apply_conditions`].
//!
//! Skip the write when every setter returned [`Change::Unchanged`](crate::Change).
//!
//! Applies are forced, as the Kubernetes documentation recommends for
//! controllers: a conflict means another manager set the same condition
//! type, and the controller responsible for a condition takes it back.
//!
//! # An older generation never replaces a newer one
//!
//! A replica working from an old copy (a lagging cache, a replica of the
//! previous release during a rollout) computes its conditions for an older
//! `metadata.generation` than a newer replica already wrote. The CRD schema
//! konditions generates carries a rule the API server checks on every write
//! ([`GENERATION_RULE`](crate::schema::GENERATION_RULE)): a condition stored
//! with a newer `observedGeneration` is not replaced, and the whole write is
//! refused. The functions here return that refusal as
//! [`ApplyError::OlderGeneration`] (nothing was written: treat it as a
//! lost race), and [`apply_status_if_current`] as `Ok(None)`. It costs no
//! request: the server checks it while validating the write.

use std::fmt::Debug;

#[cfg(feature = "runtime")]
use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::Instrument;

use crate::schema::GENERATION_RULE_MESSAGE;
use crate::{
    ApplyError, Condition, ConditionStatus, ConditionType, ConditionalResource, ConditionalStatus,
    WrittenBy,
};

/// Server-side applies `conditions` as the `status.conditions` owned by
/// `field_manager` on object `name`, and returns the object as stored.
///
/// `conditions` must be every condition this field manager maintains (see
/// the [module documentation](self)).
///
/// # Errors
/// [`ApplyError::OlderGeneration`] when a condition sent would replace one
/// stored for a newer generation (nothing was written); the API's errors.
///
/// ```no_run
/// use k8s_openapi::api::core::v1::ConfigMap; // any resource with a status subresource
/// use konditions_core::{Conditions, Status, Verdict, apply_conditions};
/// # async fn run(client: kube::Client) -> Result<(), konditions_core::ApplyError> {
/// let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");
/// let mut conditions = Conditions::<String>::default();
/// conditions.set(None, "example.com/BackupDone", Verdict::new(Status::True, "Uploaded")).unwrap();
/// let mine = conditions.iter().filter(|c| c.type_.starts_with("example.com/"));
/// apply_conditions(&api, "my-object", "backup-controller", mine).await?;
/// # Ok(()) }
/// ```
pub async fn apply_conditions<'a, K, T, S, I>(
    api: &Api<K>,
    name: &str,
    field_manager: &str,
    conditions: I,
) -> Result<K, ApplyError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
    T: ConditionType,
    S: ConditionStatus,
    I: IntoIterator<Item = &'a Condition<T, S>>,
{
    let params = PatchParams::apply(field_manager).force();
    apply_conditions_with_params(api, name, &params, conditions).await
}

/// [`apply_conditions`] with explicit [`PatchParams`] (for example not
/// forced, to see conflicts as errors, or with `dry_run`). The params must
/// be an apply (`PatchParams::apply`).
///
/// ```no_run
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kube::api::PatchParams;
/// use konditions_core::{Conditions, Status, Verdict, apply::apply_conditions_with_params};
/// # async fn run(api: kube::Api<ConfigMap>) -> Result<(), konditions_core::ApplyError> {
/// let mut conditions = Conditions::<String>::default();
/// conditions.set(None, "Ready", Verdict::new(Status::True, "Ok")).unwrap();
/// let params = PatchParams::apply("my-controller").dry_run();
/// apply_conditions_with_params(&api, "my-object", &params, &conditions).await?;
/// # Ok(()) }
/// ```
pub async fn apply_conditions_with_params<'a, K, T, S, I>(
    api: &Api<K>,
    name: &str,
    params: &PatchParams,
    conditions: I,
) -> Result<K, ApplyError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
    T: ConditionType,
    S: ConditionStatus,
    I: IntoIterator<Item = &'a Condition<T, S>>,
{
    let body = apply_body::<K, T, S, I>(conditions)?;
    send(api, name, params, body).await
}

/// Sends a status apply, in a span.
async fn send<K>(
    api: &Api<K>,
    name: &str,
    params: &PatchParams,
    body: serde_json::Value,
) -> Result<K, ApplyError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let dt = K::DynamicType::default();
    let span = tracing::debug_span!(
        "apply_status",
        kind = %K::kind(&dt),
        name,
        field_manager = params.field_manager.as_deref().unwrap_or_default(),
        conditions = body["status"]["conditions"].as_array().map_or(0, Vec::len),
    );
    async {
        match api.patch_status(name, params, &Patch::Apply(&body)).await {
            Ok(stored) => Ok(stored),
            Err(error) if is_older_generation(&error) => {
                tracing::debug!(%error, "status apply refused: a condition is stored for a newer generation");
                Err(ApplyError::OlderGeneration(error))
            }
            Err(error) => {
                tracing::debug!(%error, "status apply failed");
                Err(error.into())
            }
        }
    }
    .instrument(span)
    .await
}

/// Applies the status this controller owns on `object` as `field_manager`:
/// every known condition of its `ConditionType` except those the lock
/// writes ([`WrittenBy::Lock`](crate::WrittenBy)), and
/// `status.observedGeneration` when the status has that field. Foreign and
/// malformed entries are never sent. See [`apply_conditions`].
///
/// # Errors
/// [`ApplyError::OlderGeneration`] when `object` is older than a write of a
/// newer replica (a condition sent would replace one stored for a newer
/// generation): nothing was written, as after a lost race. See also
/// [`ApplyError::StaleCopy`], [`ApplyError::Locked`].
///
/// ```no_run
/// use konditions_core::{apply_status, ConditionalResource, Status, Verdict};
/// use konditions_core::example::{Widget, WidgetCondition::DatabaseReady};
/// # async fn reconcile(api: kube::Api<Widget>, mut widget: Widget) -> Result<(), konditions_core::ApplyError> {
/// let set = widget.set_condition(&DatabaseReady, Verdict::new(Status::True, "Connected")).unwrap();
/// let summary = widget.update_summary().unwrap(); // Ready, Reconciling, Stalled, observedGeneration
/// if set.is_changed() || summary.is_changed() {
///     apply_status(&api, &widget, "widget-controller").await?;
/// }
/// # Ok(()) }
/// ```
pub async fn apply_status<K>(api: &Api<K>, object: &K, field_manager: &str) -> Result<K, ApplyError>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug,
    <K as Resource>::DynamicType: Default,
{
    let (name, body) = status_body(object)?;
    hand_over_inherited(api, object, field_manager).await?;
    let params = PatchParams::apply(field_manager).force();
    let stored = send(api, name, &params, body).await?;
    Ok(remove_cleared(api, name, object, stored, field_manager).await)
}

/// [`apply_status`], on the condition that the object is still the copy
/// given (its `resourceVersion`): `Ok(None)`, and nothing written, when
/// anything changed it since, or when the generation guard refused it
/// ([`ApplyError::OlderGeneration`]; with a current copy that only happens
/// when a stored condition claims a newer generation than the object has,
/// which is logged as a warning).
///
/// Two replicas that compute the same transition from the same copy both
/// apply it with [`apply_status`] (two writes, two Events); with this, one
/// succeeds and the other learns its copy is old. So is a reconcile that
/// works from a copy older than its own last write.
///
/// ```no_run
/// use konditions_core::{apply::apply_status_if_current, ConditionalResource, Status, Verdict};
/// use konditions_core::example::{Widget, WidgetCondition::DatabaseReady};
/// # async fn reconcile(api: kube::Api<Widget>, mut widget: Widget) -> Result<(), konditions_core::ApplyError> {
/// widget.set_condition(&DatabaseReady, Verdict::new(Status::True, "Connected")).unwrap();
/// match apply_status_if_current(&api, &widget, "widget-controller").await? {
///     Some(stored) => { /* written: record the transition's Event */ }
///     None => { /* the object changed meanwhile: the next reconcile has a newer copy */ }
/// }
/// # Ok(()) }
/// ```
pub async fn apply_status_if_current<K>(
    api: &Api<K>,
    object: &K,
    field_manager: &str,
) -> Result<Option<K>, ApplyError>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug,
    <K as Resource>::DynamicType: Default,
{
    let (name, mut body) = status_body(object)?;
    let resource_version = match hand_over_inherited(api, object, field_manager).await {
        Ok(resource_version) => resource_version,
        Err(ApplyError::StaleCopy) => return Ok(None),
        Err(error) => return Err(error),
    };
    body["metadata"] = json!({
        "name": name,
        "resourceVersion": resource_version,
    });
    let params = PatchParams::apply(field_manager).force();
    match send(api, name, &params, body).await {
        Ok(stored) => Ok(Some(
            remove_cleared(api, name, object, stored, field_manager).await,
        )),
        Err(ApplyError::Api(kube::Error::Api(status))) if status.code == 409 => Ok(None),
        Err(ApplyError::OlderGeneration(error)) => {
            // The server checks the resourceVersion before the schema: the
            // copy is current, yet a stored condition claims a newer
            // generation than the object's (restored from a backup, or
            // edited by hand). No newer copy will fix that: say so.
            tracing::warn!(
                object = name,
                %error,
                "a stored condition's observedGeneration is newer than this write's, \
                 though the copy is current (a condition restored or edited with a newer \
                 generation, or set from an older one): nothing was written \
                 (see konditions_core::schema::GENERATION_RULE)"
            );
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The server refused a write with the generation guard (the 422 of
/// [`GENERATION_RULE`](crate::schema::GENERATION_RULE), told apart from
/// other invalid writes by its message).
pub(crate) fn is_older_generation(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.code == 422 && status.message.contains(GENERATION_RULE_MESSAGE))
}

/// The field manager that holds, from their first apply by a konditions of
/// this release, the conditions declared `(lock)` that an earlier release
/// of the controller applied (see [`apply_status`]).
pub const LOCK_FIELD_MANAGER: &str = "konditions-lock";

/// Before an apply by `field_manager` that leaves out the conditions the
/// lock writes: those that `field_manager` owns through an earlier apply
/// (the condition was written by apply before it was declared `(lock)`)
/// would be deleted by the apply, with the lock's record of a done task,
/// and the task would run again. They are first applied as they are, as
/// [`LOCK_FIELD_MANAGER`], on the condition that `object` is the stored
/// copy; then this manager's apply leaves them in place. Once per object.
///
/// Returns the resourceVersion the apply should expect: `object`'s, or
/// the hand-over's; [`ApplyError::StaleCopy`] when the copy is older than
/// the stored object (an apply from it could undo a lock).
async fn hand_over_inherited<K>(
    api: &Api<K>,
    object: &K,
    field_manager: &str,
) -> Result<Option<String>, ApplyError>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug,
    <K as Resource>::DynamicType: Default,
{
    let current = object.meta().resource_version.clone();
    let inherited = inherited(object, field_manager);
    if inherited.is_empty() {
        return Ok(current);
    }
    let name = object
        .meta()
        .name
        .as_deref()
        .ok_or(ApplyError::MissingName)?;
    let dt = K::DynamicType::default();
    // As stored, a held lock included: the resourceVersion makes it exact.
    let conditions = inherited
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    let body = json!({
        "apiVersion": K::api_version(&dt),
        "kind": K::kind(&dt),
        "metadata": { "name": name, "resourceVersion": current },
        "status": { "conditions": conditions },
    });
    let params = PatchParams::apply(LOCK_FIELD_MANAGER).force();
    match send(api, name, &params, body).await {
        Ok(stored) => Ok(stored.meta().resource_version.clone()),
        Err(ApplyError::Api(kube::Error::Api(status))) if status.code == 409 => {
            Err(ApplyError::StaleCopy)
        }
        Err(error) => Err(error),
    }
}

/// The conditions of `object` declared `(lock)` whose entries
/// `field_manager` owns through an apply (its `managedFields`).
fn inherited<'o, K>(object: &'o K, field_manager: &str) -> Vec<&'o Condition<K::Type, K::Status>>
where
    K: Resource + ConditionalResource,
{
    let Some(conditions) = ConditionalResource::conditions(object) else {
        return Vec::new();
    };
    let owned: Vec<&serde_json::Value> = object
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| {
            e.manager.as_deref() == Some(field_manager) && e.operation.as_deref() == Some("Apply")
        })
        .filter_map(|e| e.fields_v1.as_ref())
        .filter_map(|fields| fields.0.get("f:status")?.get("f:conditions"))
        .collect();
    if owned.is_empty() {
        return Vec::new();
    }
    conditions
        .iter()
        .filter(|c| c.type_.written_by() == WrittenBy::Lock)
        .filter(|c| {
            // An entry of a map-list is keyed `k:{"type":"<type>"}`.
            let key = format!("k:{}", json!({ "type": c.type_.as_str() }));
            owned.iter().any(|o| o.get(&key).is_some())
        })
        .collect()
}

/// Shrinks an apply's field set to what [`inherited`] reads of it: the
/// keys of `status.conditions` (`k:{"type":"<type>"}`, one per condition
/// the apply owns), without the fields under them (six or seven per
/// condition). For a cached copy, see
/// [`Reconciler::trim`](crate::reconcile::Reconciler::trim).
#[cfg(feature = "runtime")]
pub(crate) fn keep_condition_keys(fields: &mut FieldsV1) {
    let conditions = fields
        .0
        .get_mut("f:status")
        .and_then(|status| status.get_mut("f:conditions"))
        .map(serde_json::Value::take);
    fields.0 = match conditions {
        Some(serde_json::Value::Object(owned)) => {
            let keys: serde_json::Map<String, serde_json::Value> =
                owned.into_iter().map(|(key, _)| (key, json!({}))).collect();
            json!({ "f:status": { "f:conditions": keys } })
        }
        _ => json!({}),
    };
}

/// After an apply that left out kstatus' `Reconciling` or `Stalled`
/// because `object` no longer holds them (they are present only when
/// True), removes those the server kept: an apply deletes only the fields
/// its manager alone owns, and a JSON Patch by the same controller (the
/// lock's release carrying the status, a shard member's write) makes it a
/// co-owner. One JSON Patch, on the condition that the stored object is
/// still the one the apply returned and each entry is still at its index;
/// when that fails, the object changed and its next reconcile sees it.
/// Returns the object as stored last.
async fn remove_cleared<K>(api: &Api<K>, name: &str, object: &K, stored: K, manager: &str) -> K
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug,
    <K as Resource>::DynamicType: Default,
{
    let wanted = ConditionalResource::conditions(object);
    let Some(kept) = ConditionalResource::conditions(&stored) else {
        return stored;
    };
    let mut cleared: Vec<(usize, K::Type)> = crate::declaration::abnormal_true::<K::Type>()
        .filter(|t| wanted.is_none_or(|w| w.find(t).is_none()))
        .filter_map(|t| Some((kept.wire_index(&t)?, t)))
        .collect();
    if cleared.is_empty() {
        return stored;
    }
    // Highest index first: each removal leaves the lower indexes in place.
    cleared.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
    let mut ops = vec![json!({
        "op": "test", "path": "/metadata/resourceVersion",
        "value": stored.meta().resource_version,
    })];
    for (index, type_) in cleared {
        let path = format!("/status/conditions/{index}");
        ops.push(json!({"op": "test", "path": format!("{path}/type"), "value": type_.as_str()}));
        ops.push(json!({"op": "remove", "path": path}));
    }
    let params = PatchParams {
        field_manager: Some(manager.to_owned()),
        ..PatchParams::default()
    };
    let patch = Patch::Json::<()>(serde_json::from_value(json!(ops)).expect("a JSON Patch"));
    let span = tracing::debug_span!("remove_cleared", name);
    match api
        .patch_status(name, &params, &patch)
        .instrument(span)
        .await
    {
        Ok(removed) => removed,
        Err(error) => {
            tracing::debug!(%error, "kstatus conditions the apply left not removed: the object changed");
            stored
        }
    }
}

/// The name of `object` and the body of its status apply: every known
/// condition the apply writes, and `status.observedGeneration`.
fn status_body<K>(object: &K) -> Result<(&str, serde_json::Value), ApplyError>
where
    K: Resource + ConditionalResource,
    <K as Resource>::DynamicType: Default,
{
    let name = object
        .meta()
        .name
        .as_deref()
        .ok_or(ApplyError::MissingName)?;
    let conditions = ConditionalResource::conditions(object)
        .into_iter()
        .flat_map(|c| c.iter())
        .filter(|c| c.type_.written_by() == WrittenBy::Apply);
    let mut body = apply_body::<K, _, _, _>(conditions)?;
    let observed = object
        .resource_status()
        .and_then(|s| s.observed_generation());
    if let Some(generation) = observed {
        body["status"]["observedGeneration"] = json!(generation);
    }
    Ok((name, body))
}

/// The apply body: `apiVersion` and `kind` are required by server-side apply.
fn apply_body<'a, K, T, S, I>(conditions: I) -> Result<serde_json::Value, ApplyError>
where
    K: Resource,
    K::DynamicType: Default,
    T: ConditionType,
    S: ConditionStatus,
    I: IntoIterator<Item = &'a Condition<T, S>>,
{
    let dt = K::DynamicType::default();
    let conditions = conditions
        .into_iter()
        .map(|c| {
            if crate::lock::is_locked(c) {
                return Err(ApplyError::Locked(c.type_.as_str().to_owned()));
            }
            Ok(serde_json::to_value(c)?)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "apiVersion": K::api_version(&dt),
        "kind": K::kind(&dt),
        "status": { "conditions": conditions },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::WidgetCondition::{self, *};
    use crate::{Status, Verdict};
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn body_holds_only_the_given_conditions() {
        let mut list = crate::Conditions::<WidgetCondition>::default();
        list.set(None, &DatabaseReady, Verdict::new(Status::True, "Up"))
            .unwrap();
        let body = apply_body::<Pod, _, _, _>(list.iter()).unwrap();
        assert_eq!(body["apiVersion"], "v1");
        assert_eq!(body["kind"], "Pod");
        let conditions = body["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["type"], "DatabaseReady");
        assert_eq!(body.as_object().unwrap().len(), 3);
    }

    #[test]
    fn a_locked_condition_is_never_sent() {
        let mut list = crate::Conditions::<String>::default();
        list.set(None, "Ready", Verdict::new(Status::True, "Up"))
            .unwrap();
        list.set(
            None,
            "Provisioned",
            Verdict::new(Status::Unknown, "Locked").message("locked by pod-a"),
        )
        .unwrap();
        let error = apply_body::<Pod, _, _, _>(list.iter()).unwrap_err();
        assert!(
            matches!(&error, ApplyError::Locked(t) if t == "Provisioned"),
            "{error:?}"
        );
        assert!(error.to_string().contains("declare it `(lock)`"), "{error}");
    }

    #[cfg(feature = "runtime")]
    #[test]
    fn a_shrunk_apply_entry_still_says_which_conditions_it_owns() {
        use crate::example::Widget;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

        let mut widget = Widget::new("w", 2);
        let status = widget.status.get_or_insert_default();
        for type_ in [Ready, BucketCreated, Degraded] {
            status
                .conditions
                .set(Some(2), &type_, Verdict::new(Status::True, "Seen"))
                .unwrap();
        }
        // As the API server records an apply of Ready and BucketCreated
        // (BucketCreated applied before it was declared `(lock)`), and an
        // Update of Degraded by the same manager.
        let owned = |t: &str| {
            (
                format!(r#"k:{{"type":"{t}"}}"#),
                json!({".": {}, "f:lastTransitionTime": {}, "f:message": {}, "f:observedGeneration": {},
                       "f:reason": {}, "f:status": {}, "f:type": {}}),
            )
        };
        let conditions: serde_json::Map<_, _> = [owned("Ready"), owned("BucketCreated")]
            .into_iter()
            .collect();
        let entry = |operation: &str, fields: serde_json::Value| ManagedFieldsEntry {
            manager: Some("widget-controller".into()),
            operation: Some(operation.into()),
            subresource: Some("status".into()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        };
        widget.metadata.managed_fields = Some(vec![
            entry(
                "Apply",
                json!({"f:status": {"f:conditions": conditions, "f:observedGeneration": {}}}),
            ),
            entry(
                "Update",
                json!({"f:status": {"f:conditions": {r#"k:{"type":"Degraded"}"#: {}}}}),
            ),
        ]);
        let before: Vec<_> = inherited(&widget, "widget-controller")
            .iter()
            .map(|c| c.type_)
            .collect();
        assert_eq!(before, [BucketCreated]);

        let mut shrunk = widget.clone();
        for entry in shrunk.metadata.managed_fields.iter_mut().flatten() {
            keep_condition_keys(entry.fields_v1.as_mut().unwrap());
        }
        let after: Vec<_> = inherited(&shrunk, "widget-controller")
            .iter()
            .map(|c| c.type_)
            .collect();
        assert_eq!(after, before);
        assert_eq!(
            shrunk.metadata.managed_fields.as_ref().unwrap()[0]
                .fields_v1
                .as_ref()
                .unwrap()
                .0,
            json!({"f:status": {"f:conditions": {
                r#"k:{"type":"Ready"}"#: {},
                r#"k:{"type":"BucketCreated"}"#: {},
            }}})
        );

        // No conditions in the entry: nothing of it is kept.
        let mut fields = FieldsV1(json!({"f:status": {"f:observedGeneration": {}}}));
        keep_condition_keys(&mut fields);
        assert_eq!(fields.0, json!({}));
    }
}
