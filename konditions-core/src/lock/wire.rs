//! How the lock talks to the API server: the caller's view of the
//! condition, the JSON Patch shapes, which refusals mean "stale", and the
//! escaping that makes `test` values compare equal on the server.

use serde_json::Value;

use super::LOCKED_REASON;
use super::types::LockError;
use crate::validation::{MAX_MESSAGE_LEN, validate_reason};
use crate::{Condition, ConditionError, ConditionStatus, ConditionType, Conditions};

/// The caller's view of our condition.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Seen {
    /// An entry of our type at `index` whose wire JSON is `value`.
    Entry { index: usize, value: Value },
    /// No entry of our type; start inserting with this shape.
    Absent(Shape),
    /// The caller's conditions could not be serialized (reported by `run`).
    Unserializable(String),
}

/// How a locked condition is inserted, from the least to the most existing
/// structure. A refused shape falls through to the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    CreateStatus,
    CreateList,
    Append,
}

pub(super) const LIST: &str = "/status/conditions";

pub(super) fn seen<T: ConditionType, S: ConditionStatus>(
    conditions: Option<&Conditions<T, S>>,
    type_: &T,
) -> Seen {
    let Some(conditions) = conditions else {
        return Seen::Absent(Shape::CreateStatus);
    };
    if let (Some(index), Some(c)) = (conditions.wire_index(type_), conditions.find(type_)) {
        // A typed condition serializes to exactly the JSON it was read from.
        return match serde_json::to_value(c) {
            Ok(value) => Seen::Entry { index, value },
            Err(e) => Seen::Unserializable(e.to_string()),
        };
    }
    // A malformed entry of our type is replaced in place, tested as read.
    let entries = match wire(Some(conditions)) {
        Ok(entries) => entries,
        Err(LockError::Serialize(e)) => return Seen::Unserializable(e.to_string()),
        Err(e) => return Seen::Unserializable(e.to_string()),
    };
    match positions(&entries, type_.as_str()).next() {
        Some(index) => Seen::Entry {
            index,
            value: entries[index].clone(),
        },
        None if entries.is_empty() => Seen::Absent(Shape::CreateList),
        None => Seen::Absent(Shape::Append),
    }
}

/// The list as JSON entries, in wire order.
pub(super) fn wire<T: ConditionType, S: ConditionStatus>(
    conditions: Option<&Conditions<T, S>>,
) -> Result<Vec<Value>, LockError> {
    Ok(match conditions.map(serde_json::to_value).transpose()? {
        Some(Value::Array(entries)) => entries,
        _ => Vec::new(),
    })
}

pub(super) fn positions<'a>(
    entries: &'a [Value],
    type_: &'a str,
) -> impl Iterator<Item = usize> + 'a {
    entries
        .iter()
        .enumerate()
        .filter(move |(_, e)| e.get("type").and_then(Value::as_str) == Some(type_))
        .map(|(i, _)| i)
}

pub(super) fn same_result<T: ConditionType, S: ConditionStatus>(
    a: &Condition<T, S>,
    b: &Condition<T, S>,
) -> bool {
    a.status == b.status
        && a.reason == b.reason
        && a.message == b.message
        && a.observed_generation == b.observed_generation
}

pub(super) fn check_reason(reason: &str) -> Result<(), ConditionError> {
    validate_reason(reason)?;
    if reason == LOCKED_REASON {
        return Err(ConditionError::InvalidReason {
            reason: reason.to_owned(),
            problem: "`Locked` is reserved for the lock itself",
        });
    }
    Ok(())
}

/// At most [`MAX_MESSAGE_LEN`] characters, cut at a character boundary.
pub(super) fn truncate(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_LEN) {
        Some((end, _)) => message[..end].to_owned(),
        None => message.to_owned(),
    }
}

/// A write the server refused because the caller's view is stale: a
/// conflict, a JSON Patch that does not apply (failed `test`, missing path:
/// 422 without causes) or a duplicate key in the map-list. A 422 naming
/// another field problem is a real error: retrying it would never succeed.
pub(super) fn is_refusal(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else {
        return false;
    };
    match status.code {
        409 => true,
        422 => status
            .details
            .as_ref()
            .is_none_or(|d| d.causes.iter().all(|c| c.reason == "FieldValueDuplicate")),
        _ => false,
    }
}

/// Re-escapes JSON text the way Go's `encoding/json` does (`<`, `>`, `&`,
/// U+2028, U+2029 as `\uXXXX`). These characters only occur inside strings
/// in JSON text, so a character-level replacement keeps the document valid
/// and equal as a value.
pub(super) fn go_escape(json: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(json);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}
