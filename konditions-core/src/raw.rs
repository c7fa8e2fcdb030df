//! Conditions kept exactly as they were read because they could not be typed:
//! other controllers' conditions, malformed ones, duplicates.

use serde_json::Value;

/// Why a condition of a [`Conditions`](crate::Conditions) list is kept raw.
///
/// ```
/// use konditions_core::{Conditions, RawKind};
/// use konditions_core::example::WidgetCondition;
/// let list: Conditions<WidgetCondition> = serde_json::from_str(r#"[{"type":"Other","status":"True"}]"#).unwrap();
/// assert_eq!(list.unrecognized().next().unwrap().kind(), RawKind::Foreign);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RawKind {
    /// Not ours: the `type` is missing, not a string, or not one `T` parses
    /// (another controller's condition, a newer version's, a typo). Never
    /// modified; written back as read.
    Foreign,
    /// Ours by `type`, but not a well-formed condition of our status set:
    /// unknown `status`, missing or extra fields, wrong JSON types, a
    /// timestamp with sub-second digits. Kept as read until this type is
    /// next set or removed, which replaces it in place.
    Invalid,
    /// A later entry with the `type` of an earlier valid condition. The first
    /// valid one is the condition; duplicates are kept as read until this
    /// type is next set or removed, which drops them.
    Duplicate,
}

/// One condition kept as raw JSON, with why it could not be typed.
///
/// ```
/// use konditions_core::{Conditions, RawKind};
/// let list: Conditions = serde_json::from_str(r#"[{"type":"Ready","status":"Perhaps"}]"#).unwrap();
/// let raw = list.unrecognized().next().unwrap();
/// assert_eq!(raw.kind(), RawKind::Invalid);
/// assert_eq!(raw.type_name(), Some("Ready"));
/// assert_eq!(raw.value()["status"], "Perhaps");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCondition {
    pub(crate) value: Value,
    pub(crate) kind: RawKind,
}

impl RawCondition {
    /// The JSON as read.
    ///
    /// ```
    /// use konditions_core::Conditions;
    /// let list: Conditions = serde_json::from_str(r#"[42]"#).unwrap();
    /// assert_eq!(list.unrecognized().next().unwrap().value(), &serde_json::json!(42));
    /// ```
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Why it is kept raw.
    ///
    /// ```
    /// use konditions_core::{Conditions, RawKind};
    /// let list: Conditions = serde_json::from_str(r#"["not an object"]"#).unwrap();
    /// assert_eq!(list.unrecognized().next().unwrap().kind(), RawKind::Foreign);
    /// ```
    pub fn kind(&self) -> RawKind {
        self.kind
    }

    /// The `type` field, when it is a string.
    ///
    /// ```
    /// use konditions_core::Conditions;
    /// let list: Conditions = serde_json::from_str(r#"[{"type":7}]"#).unwrap();
    /// assert_eq!(list.unrecognized().next().unwrap().type_name(), None);
    /// ```
    pub fn type_name(&self) -> Option<&str> {
        self.value.get("type").and_then(Value::as_str)
    }
}
