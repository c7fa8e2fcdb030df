//! How the lock talks to the API server: the caller's view of the
//! condition, the JSON Patch shapes, the compare-and-swap on one entry,
//! which refusals mean "stale", and the escaping that makes `test` values
//! compare equal on the server. The text the lock stores is in
//! [`message`](super::message).

use std::fmt::Debug;

use kube::Resource;
use kube::api::Api;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::turns::turn;
use super::types::LockError;
use crate::{ConditionStatus, ConditionType, ConditionalResource, Conditions};

/// The caller's view of our condition.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Seen {
    /// An entry of our type at `index` whose wire JSON is `value`.
    Entry { index: usize, value: Value },
    /// No entry of our type: insert it, trying these shapes in order.
    Absent(&'static [Shape]),
    /// The caller's conditions could not be serialized (reported by `run`).
    Unserializable(String),
}

/// How a locked condition is inserted. A refused shape falls through to
/// the next one of the caller's view ([`Seen::Absent`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// `test /status` null, `add` it with the list.
    CreateStatus,
    /// `test /status/conditions` null, `add` the list.
    CreateList,
    /// `add /status/conditions/-`; the map-list refuses a second entry of
    /// the type.
    Append,
}

/// No status in the caller's view: none on the server either, unless it
/// was created since.
const NO_STATUS: &[Shape] = &[Shape::CreateStatus, Shape::CreateList, Shape::Append];
/// A status with an empty list in the caller's view: on the server the
/// list is `[]` when the CRD defaults it (konditions' schema does, and the
/// API server applies defaults before it patches), else absent. `[]` first.
const EMPTY_LIST: &[Shape] = &[Shape::Append, Shape::CreateList];
/// Other entries, none of our type.
const OTHERS: &[Shape] = &[Shape::Append];

pub(super) const LIST: &str = "/status/conditions";

/// One JSON Patch operation, borrowing its value (the lock's patches are
/// written straight from the entries they test and store, not copied into
/// a JSON tree first).
#[derive(Serialize)]
pub(super) struct Op<'a> {
    op: &'static str,
    path: &'a str,
    value: &'a Value,
}

impl<'a> Op<'a> {
    /// The compare-and-swap of the entry at `path`: `test` it is `seen`,
    /// `replace` it with `new`.
    pub(super) fn swap(path: &'a str, seen: &'a Value, new: &'a Value) -> [Self; 2] {
        [
            Op {
                op: "test",
                path,
                value: seen,
            },
            Op {
                op: "replace",
                path,
                value: new,
            },
        ]
    }
}

pub(super) fn seen<T: ConditionType, S: ConditionStatus>(
    conditions: Option<&Conditions<T, S>>,
    type_: &T,
) -> Seen {
    let Some(conditions) = conditions else {
        return Seen::Absent(NO_STATUS);
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
        Err(e) => return Seen::Unserializable(e.to_string()),
    };
    match position(&entries, type_.as_str()) {
        Some(index) => Seen::Entry {
            index,
            value: entries[index].clone(),
        },
        None if entries.is_empty() => Seen::Absent(EMPTY_LIST),
        None => Seen::Absent(OTHERS),
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

/// The index of the first entry of `type_`.
pub(super) fn position(entries: &[Value], type_: &str) -> Option<usize> {
    entries.iter().position(|e| is_of_type(e, type_))
}

pub(super) fn count(entries: &[Value], type_: &str) -> usize {
    entries.iter().filter(|e| is_of_type(e, type_)).count()
}

fn is_of_type(entry: &Value, type_: &str) -> bool {
    entry.get("type").and_then(Value::as_str) == Some(type_)
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

/// Another entry of the type exists: the map-list refused ours.
pub(super) fn is_duplicate(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.details.as_ref().is_some_and(|d| {
        !d.causes.is_empty() && d.causes.iter().all(|c| c.reason == "FieldValueDuplicate")
    }))
}

/// The object does not exist (any more).
pub(super) fn is_gone(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// Re-escapes JSON text the way Go's `encoding/json` does (`<`, `>`, `&`,
/// U+2028, U+2029 as `\uXXXX`). These characters only occur inside strings
/// in JSON text, so a character-level replacement keeps the document valid
/// and equal as a value. Text without them (the usual case) is returned as
/// it is, without a copy.
pub(super) fn go_escape(json: Vec<u8>) -> Vec<u8> {
    let needs = |b: &u8| matches!(b, b'<' | b'>' | b'&' | 0xE2);
    if !json.iter().any(needs) {
        return json;
    }
    let text = String::from_utf8_lossy(&json);
    let mut out = String::with_capacity(text.len() + 16);
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

/// What a compare-and-swap on our entry found.
pub(super) enum Cas<K> {
    /// The replacement is stored (by this write, or by an earlier one whose
    /// response was lost).
    Stored {
        object: K,
        index: usize,
        entry: Value,
    },
    /// Our entry is unchanged but moved: retry at `index`.
    Moved { index: usize, entry: Value },
    /// Our entry is no longer there; this is what is.
    Changed(Value),
    /// The object is gone.
    Gone,
}

/// Writes to one object's status.
pub(super) struct Writer<K> {
    pub(super) api: Api<K>,
    pub(super) name: String,
    /// Who the object is, for taking turns: its URL and UID.
    pub(super) object: String,
}

impl<K: Clone> Clone for Writer<K> {
    fn clone(&self) -> Self {
        Self {
            api: self.api.clone(),
            name: self.name.clone(),
            object: self.object.clone(),
        }
    }
}

impl<K> Writer<K>
where
    K: Resource + ConditionalResource + Clone + DeserializeOwned + Debug,
{
    /// Sends a JSON Patch to the status subresource. The body is written
    /// with Go's escaping (see the module documentation) so `test` values
    /// compare equal to what the server re-encodes.
    ///
    /// Writes of this process to one object take turns ([`turn`]): sent
    /// together, they conflict inside the server, which retries each one
    /// against the others' results, recomputing it every time.
    pub(super) async fn patch(&self, ops: &impl serde::Serialize) -> Result<K, kube::Error> {
        self.patch_as(ops, None).await
    }

    /// [`patch`](Self::patch) as `field_manager` (else the server names
    /// the manager after the client's user agent).
    pub(super) async fn patch_as(
        &self,
        ops: &impl serde::Serialize,
        field_manager: Option<&str>,
    ) -> Result<K, kube::Error> {
        let body = go_escape(serde_json::to_vec(ops).map_err(kube::Error::SerdeError)?);
        let mut url = format!("{}/{}/status", self.api.resource_url(), self.name);
        if let Some(manager) = field_manager {
            url.push_str("?fieldManager=");
            for byte in manager.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    url.push(char::from(byte));
                } else {
                    url.push_str(&format!("%{byte:02X}"));
                }
            }
        }
        let mut request = http::Request::patch(url)
            .header(http::header::CONTENT_TYPE, "application/json-patch+json")
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .map_err(|e| kube::Error::BuildRequest(kube::core::request::Error::BuildRequest(e)))?;
        request.extensions_mut().insert("patch_status");
        let _turn = turn(&self.object).await;
        self.api.clone().into_client().request::<K>(request).await
    }

    /// Replaces our entry `fence` at `index` with `replacement`. When the
    /// server refuses, re-reads the status to tell apart our entry moved
    /// or changed by us (`ours` recognises it), the replacement already
    /// stored (a lost response), and someone else's entry.
    pub(super) async fn cas(
        &self,
        index: usize,
        fence: &Value,
        replacement: &Value,
        ours: impl Fn(&Value) -> bool,
    ) -> Result<Cas<K>, kube::Error> {
        let path = format!("{LIST}/{index}");
        let error = match self.patch(&Op::swap(&path, fence, replacement)).await {
            Ok(object) => {
                let entry = ConditionalResource::conditions(&object)
                    .and_then(|c| wire(Some(c)).ok())
                    .and_then(|entries| entries.into_iter().nth(index))
                    .unwrap_or_else(|| replacement.clone());
                return Ok(Cas::Stored {
                    object,
                    index,
                    entry,
                });
            }
            Err(e) if is_gone(&e) => return Ok(Cas::Gone),
            Err(e) if is_refusal(&e) => e,
            Err(e) => return Err(e),
        };
        tracing::debug!(%error, "refused: looking where our entry is");
        let current = match self.api.get_status(&self.name).await {
            Ok(current) => current,
            Err(e) if is_gone(&e) => return Ok(Cas::Gone),
            Err(e) => return Err(e),
        };
        let entries = wire(ConditionalResource::conditions(&current)).unwrap_or_default();
        let type_ = fence
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(i) = position(&entries, type_) else {
            return Ok(Cas::Changed(Value::Null));
        };
        let entry = entries[i].clone();
        Ok(if entry == *replacement {
            Cas::Stored {
                object: current,
                index: i,
                entry,
            }
        } else if entry == *fence || ours(&entry) {
            Cas::Moved { index: i, entry }
        } else {
            Cas::Changed(entry)
        })
    }
}
