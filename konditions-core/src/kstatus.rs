//! Health that Flux, Argo CD, kpt and `kubectl wait` agree on.
//!
//! [kstatus](https://github.com/kubernetes-sigs/cli-utils/tree/master/pkg/kstatus)
//! (what Flux health checks and appliers use; Argo CD reads conditions only
//! through a health script per kind, which the `crd` feature generates:
//! `konditions_core::argocd`) decides a custom
//! resource's status in this order:
//!
//! 1. `metadata.deletionTimestamp` set: **Terminating**;
//! 2. `status.observedGeneration` present and not `metadata.generation`:
//!    **InProgress** (the controller has not caught up with the spec);
//! 3. a condition `Reconciling=True`: **InProgress**; `Stalled=True`:
//!    **Failed**, with `Stalled`'s message;
//! 4. a condition `Ready`: `True` is **Current**, `False` or `Unknown`
//!    **InProgress**;
//! 5. otherwise **Current** ("the absence of any known conditions means the
//!    resource is current").
//!
//! So a resource reports correctly only when all of these hold, and
//! konditions makes each of them hold:
//!
//! * **`status.observedGeneration`** is written with the summary, by the
//!   same server-side apply ([`ConditionalResource::update_summary`](crate::ConditionalResource::update_summary)
//!   sets it, [`apply`](crate::apply) sends it; the lock never writes it):
//!   it is the generation the summary was computed for. A spec change makes
//!   it lag until the controller has judged the new generation.
//! * **Before the first reconcile** there is no status at all, and rule 5
//!   would say Current. The CRD gives `status` a schema default,
//!   `{"observedGeneration": 0}`: the API server applies defaults when it
//!   reads an object from etcd, so every read (GET, LIST, WATCH) of an object
//!   no controller has touched shows `observedGeneration: 0`, while
//!   `metadata.generation` is 1 or more: InProgress. [`status_default`] adds
//!   it to a CRD (the CRD writer of the `crd` feature does it for you).
//! * **`Reconciling` and `Stalled`** are computed with the summary from the
//!   same dependents: `Stalled` when the summary is bad for a reason that
//!   needs a human ([`ConditionType::stalls`](crate::ConditionType::stalls)),
//!   `Reconciling` while it is unknown or bad for a reason a retry may fix.
//!   They are present only while True (kstatus' "abnormal-true"
//!   conditions, as Flux writes them): rule 3 reads an absent one as False,
//!   and a healthy object carries neither.
//!
//! | the resource | kstatus | `kubectl wait --for=condition=Ready` |
//! |---|---|---|
//! | created, no controller yet | InProgress (observedGeneration 0) | times out |
//! | being reconciled | InProgress (`Reconciling`) | waits |
//! | Ready for the current generation | Current | condition met |
//! | spec changed, not yet reconciled | InProgress (observedGeneration lags) | waits (Ready's observedGeneration lags) |
//! | failing, a retry may fix it | InProgress (`Reconciling`) | waits |
//! | failing, needs a human | Failed, `Stalled`'s message | waits |
//! | being deleted | Terminating | - |
//!
//! ```
//! use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
//! let mut crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "widgets.example.com"},
//!     "spec": {"group": "example.com", "scope": "Namespaced",
//!         "names": {"kind": "Widget", "plural": "widgets"},
//!         "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
//!             "type": "object",
//!             "properties": {"status": {"type": "object", "nullable": true, "properties": {
//!                 "observedGeneration": {"type": "integer", "format": "int64", "nullable": true}}}}}}}]}
//! })).unwrap();
//! assert_eq!(konditions_core::kstatus::status_default(&mut crd), 1);
//! let status = &crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap()
//!     .properties.as_ref().unwrap()["status"];
//! assert_eq!(status.default.as_ref().unwrap().0, serde_json::json!({"observedGeneration": 0}));
//! ```

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON,
};

/// The `status` default that makes an object no controller has touched
/// read as "generation not observed yet".
fn default_status() -> JSON {
    JSON(serde_json::json!({ "observedGeneration": 0 }))
}

/// Gives `status` the schema default `{"observedGeneration": 0}` in every
/// version of `crd` whose status schema has an integer `observedGeneration`
/// (see the [module documentation](self) for why). Returns how many versions
/// got it; versions without such a field, or with a `status` default
/// already, are left alone.
pub fn status_default(crd: &mut CustomResourceDefinition) -> usize {
    let mut changed = 0;
    for version in &mut crd.spec.versions {
        let Some(status) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|root| root.properties.as_mut())
            .and_then(|properties| properties.get_mut("status"))
        else {
            continue;
        };
        let has_field = status
            .properties
            .as_ref()
            .and_then(|p| p.get("observedGeneration"))
            .is_some_and(|g| g.type_.as_deref() == Some("integer"));
        if has_field && status.default.is_none() {
            status.default = Some(default_status());
            changed += 1;
        }
    }
    changed
}
