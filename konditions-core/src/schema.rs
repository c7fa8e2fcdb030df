//! The JSON schema of [`Condition`] and [`Conditions`], matching
//! `metav1.Condition`'s validation, so `#[derive(CustomResource)]` on a CRD
//! whose status holds `conditions: Conditions<...>` generates the schema the
//! API server needs: required fields, patterns and lengths, the status enum,
//! and a map-list keyed by `type` (which is what lets server-side apply merge
//! conditions of several controllers per type).
//!
//! The schema is inlined (no `$ref`): CRD schemas cannot hold references.
//! The `type` is validated by pattern, not by an enum of the declared types:
//! other controllers' conditions must stay writable.
//!
//! Each entry of the list also carries the **generation guard**, a CEL
//! transition rule ([`GENERATION_RULE`]) the API server checks on every
//! write of every writer: a condition whose `observedGeneration` is newer
//! than the one a write would give it is not replaced, and the whole write
//! is refused (422 Invalid). A replica working from an old copy therefore
//! cannot put back a condition of an older generation, whatever the request
//! (apply, patch, update) and whoever sends it. The rule is on the entries
//! of a map-list keyed by `type`, so the server correlates the old and the
//! new entry by type; a new type, a removed one, an unchanged one and an
//! entry without `observedGeneration` (before or after) pass.
//! [`crd::remove_generation_guard`](crate::crd::remove_generation_guard)
//! takes it out of a CRD.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::validation::{
    MAX_MESSAGE_LEN, MAX_REASON_LEN, MAX_TYPE_LEN, REASON_PATTERN, TYPE_PATTERN,
};
use crate::{Condition, ConditionStatus, ConditionType, Conditions};

/// The generation guard's CEL rule, on each entry of `status.conditions`:
/// an entry that had an `observedGeneration` may only be replaced by one
/// with the same or a newer one, or with none (a writer that does not
/// track generations). `oldSelf` is the stored entry of the same `type`.
pub const GENERATION_RULE: &str = "!has(oldSelf.observedGeneration) || !has(self.observedGeneration) || self.observedGeneration >= oldSelf.observedGeneration";

/// The message of the 422 a write refused by [`GENERATION_RULE`] gets (the
/// server puts it in the cause of the entry's field path).
pub const GENERATION_RULE_MESSAGE: &str = "observedGeneration may not decrease: the stored condition was computed from a newer generation of the object than this write";

/// The schema of one entry of the list: a `metav1.Condition` with the
/// generation guard.
fn entry_schema<S: ConditionStatus>() -> Schema {
    let mut entry = condition_schema::<S>();
    entry.insert(
        "x-kubernetes-validations".to_owned(),
        serde_json::json!([{ "rule": GENERATION_RULE, "message": GENERATION_RULE_MESSAGE }]),
    );
    entry
}

fn condition_schema<S: ConditionStatus>() -> Schema {
    let statuses: Vec<&str> = S::ALL.iter().map(ConditionStatus::as_str).collect();
    json_schema!({
        "description": "Condition contains details for one aspect of the current state of this API Resource.",
        "type": "object",
        "required": ["type", "status", "lastTransitionTime", "reason", "message"],
        "properties": {
            "type": {
                "description": "type of condition in CamelCase or in foo.example.com/CamelCase.",
                "type": "string",
                "maxLength": MAX_TYPE_LEN,
                "pattern": TYPE_PATTERN,
            },
            "status": {
                "description": "status of the condition.",
                "type": "string",
                "enum": statuses,
            },
            "observedGeneration": {
                "description": "observedGeneration represents the .metadata.generation that the condition was set based upon.",
                "type": "integer",
                "format": "int64",
                "minimum": 0,
            },
            "lastTransitionTime": {
                "description": "lastTransitionTime is the last time the condition transitioned from one status to another.",
                "type": "string",
                "format": "date-time",
            },
            "reason": {
                "description": "reason contains a programmatic identifier indicating the reason for the condition's last transition, in CamelCase.",
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_REASON_LEN,
                "pattern": REASON_PATTERN,
            },
            "message": {
                "description": "message is a human readable message indicating details about the transition. This may be an empty string.",
                "type": "string",
                "maxLength": MAX_MESSAGE_LEN,
            },
        },
    })
}

impl<T: ConditionType, S: ConditionStatus> JsonSchema for Condition<T, S> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Condition".into()
    }

    /// `metav1.Condition`'s schema, with the status enum from `S::ALL`.
    ///
    /// ```
    /// use konditions_core::{Condition, KonditionnerStatus};
    /// let schema = schemars::schema_for!(Condition<String, KonditionnerStatus>);
    /// assert_eq!(schema.as_value()["properties"]["status"]["enum"][9], "Locked");
    /// ```
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        condition_schema::<S>()
    }
}

impl<T: ConditionType, S: ConditionStatus> JsonSchema for Conditions<T, S> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Conditions".into()
    }

    /// An array of [`Condition`] that Kubernetes treats as a map keyed by
    /// `type`, each entry with the generation guard (see [`GENERATION_RULE`]).
    ///
    /// ```
    /// use konditions_core::Conditions;
    /// let schema = schemars::schema_for!(Conditions);
    /// let schema = schema.as_value();
    /// assert_eq!(schema["x-kubernetes-list-type"], "map");
    /// assert_eq!(schema["x-kubernetes-list-map-keys"][0], "type");
    /// assert_eq!(schema["items"]["properties"]["status"]["enum"], serde_json::json!(["True", "False", "Unknown"]));
    /// assert_eq!(schema["items"]["x-kubernetes-validations"][0]["rule"], konditions_core::schema::GENERATION_RULE);
    /// ```
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Conditions of the resource, one per type (metav1.Condition).",
            "type": "array",
            "items": entry_schema::<S>(),
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use serde_json::json;

    #[test]
    fn schema_matches_metav1_condition_validation() {
        let schema = schemars::schema_for!(Conditions<String, Status>);
        let v = schema.as_value();
        assert_eq!(v["type"], "array");
        assert_eq!(v["x-kubernetes-list-map-keys"], json!(["type"]));
        let item = &v["items"];
        assert_eq!(
            item["required"],
            json!(["type", "status", "lastTransitionTime", "reason", "message"])
        );
        let p = &item["properties"];
        assert_eq!(p["type"]["maxLength"], 316);
        assert_eq!(p["type"]["pattern"], TYPE_PATTERN);
        assert_eq!(p["observedGeneration"]["minimum"], 0);
        assert_eq!(p["observedGeneration"]["format"], "int64");
        assert_eq!(p["lastTransitionTime"]["format"], "date-time");
        assert_eq!(p["reason"]["pattern"], REASON_PATTERN);
        assert_eq!(p["reason"]["minLength"], 1);
        assert_eq!(p["reason"]["maxLength"], 1024);
        assert_eq!(p["message"]["maxLength"], 32768);
        assert!(v.get("$ref").is_none() && item.get("$ref").is_none());
        // The generation guard, on the entries (where the server correlates
        // the old entry by type), not on the list.
        assert_eq!(
            item["x-kubernetes-validations"],
            json!([{"rule": GENERATION_RULE, "message": GENERATION_RULE_MESSAGE}])
        );
        assert!(v.get("x-kubernetes-validations").is_none());
    }
}
