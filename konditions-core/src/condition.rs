//! One condition, in the shape of `metav1.Condition`: the typed model, its
//! wire (JSON) form and its conversions to and from k8s-openapi's `Condition`.

use std::fmt;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition as K8sCondition, Time};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    ConditionError, ConditionStatus, ConditionType, ConversionError, Polarity, Status,
    validation::validate,
};

/// One condition of a resource's status, in the standard `metav1.Condition`
/// shape. Generic over the condition type `T` and the status set `S`.
///
/// The JSON form is exactly `metav1.Condition`'s: `type`, `status`,
/// `observedGeneration` (omitted when `None`), `lastTransitionTime` (RFC 3339,
/// second precision), `reason`, `message`, in that order. Deserializing a
/// single `Condition` is strict (unknown type or status, missing or extra
/// fields are errors); [`Conditions`](crate::Conditions) is the lenient one
/// that keeps whatever it cannot type.
///
/// Conditions are normally written through [`Conditions::set`](crate::Conditions::set)
/// and friends, which maintain `lastTransitionTime`; this struct is plain data.
///
/// ```
/// use konditions_core::{Condition, Status};
///
/// let c: Condition = serde_json::from_str(r#"{"type":"Ready","status":"True",
///     "lastTransitionTime":"2024-05-01T10:00:00Z","reason":"Deployed","message":""}"#).unwrap();
/// assert_eq!(c.type_, "Ready");
/// assert_eq!(c.status, Status::True);
/// assert_eq!(c.observed_generation, None);
/// assert_eq!(
///     serde_json::to_string(&c).unwrap(),
///     r#"{"type":"Ready","status":"True","lastTransitionTime":"2024-05-01T10:00:00Z","reason":"Deployed","message":""}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition<T: ConditionType = String, S: ConditionStatus = Status> {
    /// The condition type, e.g. `Ready`.
    pub type_: T,
    /// The status.
    pub status: S,
    /// The `metadata.generation` the condition was computed from.
    pub observed_generation: Option<i64>,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// A CamelCase, programmatic reason for the status.
    pub reason: String,
    /// A human readable message.
    pub message: String,
}

impl<T: ConditionType, S: ConditionStatus> Condition<T, S> {
    /// A condition with the given fields, no `observedGeneration`, whose
    /// `lastTransitionTime` is `at` truncated to whole seconds.
    ///
    /// The reason and message are validated like
    /// [`Conditions::set`](crate::Conditions::set) does.
    ///
    /// ```
    /// use konditions_core::{Condition, Status};
    /// let at = "2024-05-01T10:00:00.75Z".parse().unwrap();
    /// let c: Condition = Condition::new("Ready".to_string(), Status::False, "Waiting", "no pods", at).unwrap();
    /// assert_eq!(c.last_transition_time.0.to_string(), "2024-05-01T10:00:00Z");
    /// assert!(Condition::<String>::new("Ready".into(), Status::True, "not camel", "", at).is_err());
    /// ```
    pub fn new(
        type_: T,
        status: S,
        reason: impl Into<String>,
        message: impl Into<String>,
        at: Timestamp,
    ) -> Result<Self, ConditionError> {
        let (reason, message) = (reason.into(), message.into());
        validate(type_.as_str(), &reason, &message)?;
        Ok(Self {
            type_,
            status,
            observed_generation: None,
            last_transition_time: Time(truncate_to_second(at)),
            reason,
            message,
        })
    }

    /// The same condition with `observedGeneration` set.
    ///
    /// ```
    /// use konditions_core::{Condition, Status};
    /// let c: Condition = Condition::new("Ready".into(), Status::True, "Ok", "", jiff::Timestamp::UNIX_EPOCH)
    ///     .unwrap()
    ///     .with_observed_generation(Some(4));
    /// assert_eq!(c.observed_generation, Some(4));
    /// ```
    #[must_use]
    pub fn with_observed_generation(mut self, generation: Option<i64>) -> Self {
        self.observed_generation = generation;
        self
    }

    /// True when the status is one of `statuses` (konditionner's `StatusIsOneOf`).
    ///
    /// ```
    /// use konditions_core::{Condition, Status};
    /// let c: Condition = Condition::new("Ready".into(), Status::Unknown, "Waiting", "", jiff::Timestamp::UNIX_EPOCH).unwrap();
    /// assert!(c.status_is_one_of(&[Status::False, Status::Unknown]));
    /// assert!(!c.status_is_one_of(&[Status::True]));
    /// ```
    pub fn status_is_one_of(&self, statuses: &[S]) -> bool {
        statuses.contains(&self.status)
    }

    /// True when the condition is in its good state: `True`-like for a
    /// positive type, `False`-like for a [`Polarity::Negative`] one.
    ///
    /// ```
    /// use konditions_core::{Condition, Status};
    /// let c: Condition = Condition::new("Ready".into(), Status::True, "Ok", "", jiff::Timestamp::UNIX_EPOCH).unwrap();
    /// assert!(c.is_good());
    /// ```
    pub fn is_good(&self) -> bool {
        let good = match self.type_.polarity() {
            Polarity::Positive => true,
            Polarity::Negative => false,
        };
        self.status.truth() == Some(good)
    }

    /// True when the condition was computed from an older generation than
    /// `generation` (the object's current `metadata.generation`), so it may
    /// no longer describe the object. A condition without
    /// `observedGeneration`, or an object without generation, is never stale.
    ///
    /// ```
    /// use konditions_core::{Condition, Status};
    /// let c: Condition = Condition::new("Ready".into(), Status::True, "Ok", "", jiff::Timestamp::UNIX_EPOCH)
    ///     .unwrap()
    ///     .with_observed_generation(Some(2));
    /// assert!(c.is_stale(Some(3)));
    /// assert!(!c.is_stale(Some(2)));
    /// assert!(!c.is_stale(None));
    /// ```
    pub fn is_stale(&self, generation: Option<i64>) -> bool {
        matches!((self.observed_generation, generation), (Some(seen), Some(current)) if seen < current)
    }
}

/// Drops the sub-second part: the wire format has second precision, and a
/// condition compared before and after a round-trip must be equal.
pub(crate) fn truncate_to_second(at: Timestamp) -> Timestamp {
    // `as_second` truncates toward zero; `from_second` cannot fail for a
    // value that came from a valid Timestamp.
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireOut<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
    last_transition_time: &'a Time,
    reason: &'a str,
    message: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireIn {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    #[serde(default)]
    observed_generation: Option<i64>,
    last_transition_time: Time,
    reason: String,
    message: String,
}

impl<T: ConditionType, S: ConditionStatus> Condition<T, S> {
    /// Whether serializing this condition gives exactly `value`, so taking
    /// `value` typed and writing it back changes nothing. Field by field,
    /// without building the serialized value: every watch event of a
    /// resource goes through this once per condition.
    pub(crate) fn writes_back_as(&self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        let Some(wire) = value.as_object() else {
            return false;
        };
        let text =
            |key: &str, expected: &str| wire.get(key).and_then(Value::as_str) == Some(expected);
        // Five fields, and observedGeneration when there is one.
        wire.len() == 5 + usize::from(self.observed_generation.is_some())
            && text("type", self.type_.as_str())
            && text("status", self.status.as_str())
            && text("reason", &self.reason)
            && text("message", &self.message)
            && self
                .observed_generation
                .is_none_or(|g| wire.get("observedGeneration") == Some(&Value::from(g)))
            && wire.get("lastTransitionTime").is_some_and(|at| {
                serde_json::to_value(&self.last_transition_time).is_ok_and(|t| t == *at)
            })
    }
}

impl<T: ConditionType, S: ConditionStatus> Serialize for Condition<T, S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        WireOut {
            type_: self.type_.as_str(),
            status: self.status.as_str(),
            observed_generation: self.observed_generation,
            last_transition_time: &self.last_transition_time,
            reason: &self.reason,
            message: &self.message,
        }
        .serialize(serializer)
    }
}

impl<'de, T: ConditionType, S: ConditionStatus> Deserialize<'de> for Condition<T, S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = WireIn::deserialize(deserializer)?;
        let type_ = T::parse(&wire.type_).ok_or_else(|| {
            D::Error::custom(format_args!("unknown condition type `{}`", wire.type_))
        })?;
        let status = S::parse(&wire.status).ok_or_else(|| {
            D::Error::custom(format_args!("unknown condition status `{}`", wire.status))
        })?;
        Ok(Self {
            type_,
            status,
            observed_generation: wire.observed_generation,
            last_transition_time: wire.last_transition_time,
            reason: wire.reason,
            message: wire.message,
        })
    }
}

impl<T: ConditionType, S: ConditionStatus> From<Condition<T, S>> for K8sCondition {
    /// Moves every field over (the timestamp is the same `Time`).
    ///
    /// ```
    /// use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition as K8sCondition;
    /// use konditions_core::{Condition, Status};
    /// let c: Condition = Condition::new("Ready".into(), Status::True, "Ok", "", jiff::Timestamp::UNIX_EPOCH).unwrap();
    /// let k: K8sCondition = c.into();
    /// assert_eq!(k.status, "True");
    /// ```
    fn from(c: Condition<T, S>) -> Self {
        K8sCondition {
            type_: c.type_.as_str().to_owned(),
            status: c.status.as_str().to_owned(),
            observed_generation: c.observed_generation,
            last_transition_time: c.last_transition_time,
            reason: c.reason,
            message: c.message,
        }
    }
}

impl<T: ConditionType, S: ConditionStatus> TryFrom<K8sCondition> for Condition<T, S> {
    type Error = ConversionError;

    /// Parses the type and the status; every other field moves over as is.
    ///
    /// ```
    /// use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition as K8sCondition, Time};
    /// use konditions_core::{Condition, Status};
    /// let k = K8sCondition {
    ///     type_: "Ready".into(), status: "Maybe".into(), observed_generation: None,
    ///     last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH), reason: "Ok".into(), message: String::new(),
    /// };
    /// assert!(Condition::<String>::try_from(k).is_err());
    /// ```
    fn try_from(c: K8sCondition) -> Result<Self, Self::Error> {
        let type_ = T::parse(&c.type_).ok_or(ConversionError::UnknownType(c.type_))?;
        let status = S::parse(&c.status).ok_or(ConversionError::UnknownStatus(c.status))?;
        Ok(Self {
            type_,
            status,
            observed_generation: c.observed_generation,
            last_transition_time: c.last_transition_time,
            reason: c.reason,
            message: c.message,
        })
    }
}

impl<T: ConditionType, S: ConditionStatus> fmt::Display for Condition<T, S> {
    /// `Type=Status (Reason): message`, the way `kubectl describe` reads.
    ///
    /// ```
    /// use konditions_core::{Condition, Status};
    /// let c: Condition = Condition::new("Ready".into(), Status::False, "NoPods", "0/3 ready", jiff::Timestamp::UNIX_EPOCH).unwrap();
    /// assert_eq!(c.to_string(), "Ready=False (NoPods): 0/3 ready");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={} ({})",
            self.type_.as_str(),
            self.status.as_str(),
            self.reason
        )?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ready(status: Status) -> Condition {
        Condition::new(
            "Ready".to_owned(),
            status,
            "Ok",
            "fine",
            "2024-01-02T03:04:05Z".parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn serializes_in_metav1_order_and_omits_missing_generation() {
        let s = serde_json::to_string(&ready(Status::True)).unwrap();
        assert_eq!(
            s,
            r#"{"type":"Ready","status":"True","lastTransitionTime":"2024-01-02T03:04:05Z","reason":"Ok","message":"fine"}"#
        );
        let s =
            serde_json::to_string(&ready(Status::True).with_observed_generation(Some(7))).unwrap();
        assert!(s.contains(r#""status":"True","observedGeneration":7,"lastTransitionTime""#));
    }

    #[test]
    fn writes_back_as_agrees_with_serializing() {
        let base = json!({"type":"Ready","status":"True","observedGeneration":3,"lastTransitionTime":"2024-01-02T03:04:05Z","reason":"Ok","message":"fine"});
        let variants = [
            base.clone(),
            json!({"type":"Ready","status":"True","lastTransitionTime":"2024-01-02T03:04:05Z","reason":"Ok","message":"fine"}),
            // Written back differently: a null generation is omitted, a
            // fraction of a second dropped, a float becomes an integer.
            json!({"type":"Ready","status":"True","observedGeneration":null,"lastTransitionTime":"2024-01-02T03:04:05Z","reason":"Ok","message":"fine"}),
            json!({"type":"Ready","status":"True","observedGeneration":3,"lastTransitionTime":"2024-01-02T03:04:05.5Z","reason":"Ok","message":"fine"}),
            json!({"type":"Ready","status":"True","observedGeneration":3.0,"lastTransitionTime":"2024-01-02T03:04:05Z","reason":"Ok","message":"fine"}),
            json!({"type":"Ready","status":"True","observedGeneration":3,"lastTransitionTime":"2024-01-02T03:04:05+00:00","reason":"Ok","message":"fine"}),
        ];
        for value in variants {
            let Ok(typed) = serde_json::from_value::<Condition>(value.clone()) else {
                continue;
            };
            let expected = serde_json::to_value(&typed).unwrap() == value;
            assert_eq!(typed.writes_back_as(&value), expected, "{value}");
        }
        let typed: Condition = serde_json::from_value(base.clone()).unwrap();
        assert!(typed.writes_back_as(&base));
        for (key, other) in [
            ("type", json!("Other")),
            ("status", json!("False")),
            ("reason", json!("NotOk")),
            ("message", json!("")),
            ("observedGeneration", json!(4)),
            ("lastTransitionTime", json!("2024-01-02T03:04:06Z")),
        ] {
            let mut changed = base.clone();
            changed[key] = other;
            assert!(!typed.writes_back_as(&changed), "{key}");
        }
        assert!(!typed.writes_back_as(&json!([])));
    }

    #[test]
    fn strict_deserialization_rejects_unknown_status_and_extra_fields() {
        let base = json!({"type":"Ready","status":"True","lastTransitionTime":"2024-01-02T03:04:05Z","reason":"Ok","message":""});
        assert!(serde_json::from_value::<Condition>(base.clone()).is_ok());
        let mut bad = base.clone();
        bad["status"] = json!("Yes");
        assert!(serde_json::from_value::<Condition>(bad).is_err());
        let mut extra = base.clone();
        extra["lastHeartbeatTime"] = json!("2024-01-02T03:04:05Z");
        assert!(serde_json::from_value::<Condition>(extra).is_err());
        let mut missing = base;
        missing.as_object_mut().unwrap().remove("message");
        assert!(serde_json::from_value::<Condition>(missing).is_err());
    }

    #[test]
    fn converts_to_and_from_k8s_openapi() {
        let c = ready(Status::False).with_observed_generation(Some(3));
        let k: K8sCondition = c.clone().into();
        assert_eq!(k.type_, "Ready");
        assert_eq!(k.status, "False");
        assert_eq!(k.observed_generation, Some(3));
        let back: Condition = k.try_into().unwrap();
        assert_eq!(back, c);
        let mut odd: K8sCondition = c.into();
        odd.status = "Maybe".into();
        assert_eq!(
            Condition::<String>::try_from(odd).unwrap_err(),
            ConversionError::UnknownStatus("Maybe".into())
        );
    }

    #[test]
    fn staleness_and_goodness() {
        let c = ready(Status::True).with_observed_generation(Some(1));
        assert!(c.is_stale(Some(2)));
        assert!(!c.is_stale(Some(1)));
        assert!(c.is_good());
        assert!(!ready(Status::Unknown).is_good());
    }

    #[test]
    fn new_truncates_to_seconds() {
        let c: Condition = Condition::new(
            "Ready".into(),
            Status::True,
            "Ok",
            "",
            "2024-01-02T03:04:05.999Z".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(c.last_transition_time.0.subsec_nanosecond(), 0);
        assert_eq!(c.last_transition_time.0.as_second(), 1_704_164_645);
    }
}
