//! How the lock talks to the API server: the caller's view of the
//! condition, the JSON Patch shapes, which refusals mean "stale", the
//! escaping that makes `test` values compare equal on the server, the
//! turns this process's writes to one object take, and the text formats
//! of a locked condition and of a failure record.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::LOCKED_REASON;
use super::types::{LockError, LockInfo};
use crate::validation::{MAX_MESSAGE_LEN, validate_reason};
use crate::{Condition, ConditionError, ConditionStatus, ConditionType, Conditions};

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

/// How long a write waits for its turn before it is sent anyway: a write
/// takes milliseconds, so a turn held longer is a request that hangs, and
/// must not hold up the renewals of other locks on the object.
const TURN_WAIT: Duration = Duration::from_secs(1);

/// The queue of each object this process is writing to (removed when no
/// write holds or waits for it).
static TURNS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

fn turns() -> std::sync::MutexGuard<'static, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
    // Plain data: a panic elsewhere leaves it consistent.
    TURNS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A write's turn on one object, until it drops.
pub(super) struct Turn {
    object: String,
    queue: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// Waits (first come, first served, at most [`TURN_WAIT`]) until no other
/// write of this process to `object` is in flight. Writes to one object
/// sent at once conflict inside the API server, which retries each against
/// the others' results (patching, validating and re-encoding the object
/// every time): with 8 concurrent writers, the lock benchmark measures
/// about 4.7 etcd writes and 5 times the API server's CPU per write. Taking
/// turns makes each write land at its first try. Writes from other
/// processes still meet inside the server.
pub(super) async fn turn(object: &str) -> Turn {
    let queue = turns().entry(object.to_owned()).or_default().clone();
    let held = tokio::time::timeout(TURN_WAIT, queue.clone().lock_owned())
        .await
        .ok();
    Turn {
        object: object.to_owned(),
        queue,
        held,
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.held.take();
        let mut turns = turns();
        // Only the map and this turn know the queue: nobody waits.
        if Arc::strong_count(&self.queue) == 2 {
            turns.remove(&self.object);
        }
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

/// At most `max` characters, cut at a character boundary.
pub(super) fn truncate(message: &str, max: usize) -> &str {
    match message.char_indices().nth(max) {
        Some((end, _)) => &message[..end],
        None => message,
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

/// `at` rounded up to the next whole second (the wire has seconds, and a
/// lease must never come out shorter than asked).
pub(super) fn ceil_to_second(at: Timestamp) -> Timestamp {
    let down = crate::condition::truncate_to_second(at);
    if down == at {
        return at;
    }
    Timestamp::from_second(down.as_second().saturating_add(1)).unwrap_or(down)
}

/// A new lock id: 8 hex digits, unique enough to tell this acquisition's
/// lock from any other, even of the same holder in the same second (so the
/// acquire always changes the object, and gets a new fencing token).
pub(super) fn lock_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded randomly per process; the counter separates
    // the acquisitions of one process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{:08x}", hasher.finish() as u32)
}

/// The message of lock `id` held by `holder`, taken at `since`, expiring
/// at `until`, last renewed at `renewed`.
pub(super) fn lock_message(
    holder: &str,
    id: &str,
    since: Timestamp,
    until: Timestamp,
    renewed: Option<Timestamp>,
) -> String {
    let mut message = format!("locked by {holder} (lock {id}) since {since} until {until}");
    if let Some(renewed) = renewed {
        message.push_str(&format!(" (renewed {renewed})"));
    }
    message
}

/// Parses [`lock_message`]'s format (the lock id is optional).
pub(super) fn parse_lock_message(message: &str) -> Option<LockInfo> {
    let rest = message.strip_prefix("locked by ")?;
    let (rest, renewed) = match rest
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once(" (renewed "))
    {
        Some((rest, renewed)) => (rest, Some(renewed.parse().ok()?)),
        None => (rest, None),
    };
    // Timestamps hold no spaces: split from the right, so any holder name parses.
    let (rest, until) = rest.rsplit_once(" until ")?;
    let (holder, since) = rest.rsplit_once(" since ")?;
    let (holder, id) = match holder
        .strip_suffix(')')
        .and_then(|h| h.rsplit_once(" (lock "))
    {
        Some((holder, id)) => (holder, Some(id.to_owned())),
        None => (holder, None),
    };
    Some(LockInfo {
        holder: Some(holder.to_owned()),
        id,
        since: Some(since.parse().ok()?),
        renewed,
        expires_at: until.parse().ok()?,
    })
}

/// A failed attempt, as the lock records it at the end of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Failure {
    /// How many attempts failed in a row.
    pub(super) attempt: u32,
    /// The wait the writer chose before the next attempt.
    pub(super) retry_in: Duration,
}

/// `text` with the failure record appended, within the message limit.
pub(super) fn failure_message(text: &str, failure: Failure) -> String {
    let suffix = format!(
        " (attempt {}, retry in {}s)",
        failure.attempt,
        failure.retry_in.as_secs()
    );
    let room = MAX_MESSAGE_LEN.saturating_sub(suffix.chars().count());
    let mut message = truncate(text, room).to_owned();
    message.push_str(&suffix);
    message
}

/// The failure record at the end of `message`, if there is one.
pub(super) fn parse_failure(message: &str) -> Option<Failure> {
    let rest = message.strip_suffix("s)")?;
    let (_, record) = rest.rsplit_once(" (attempt ")?;
    let (attempt, retry_in) = record.split_once(", retry in ")?;
    Some(Failure {
        attempt: attempt.parse().ok()?,
        retry_in: Duration::from_secs(retry_in.parse().ok()?),
    })
}

/// The lock state of a condition: held, a failure record, or neither.
pub(super) fn is_locked<T: ConditionType, S: ConditionStatus>(c: &Condition<T, S>) -> bool {
    c.reason == LOCKED_REASON || c.status.as_str() == "Locked"
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

#[cfg(test)]
mod turn_tests {
    use super::*;
    use futures::FutureExt;

    fn queued(object: &str) -> bool {
        turns().contains_key(object)
    }

    #[tokio::test(start_paused = true)]
    async fn writes_to_one_object_take_turns_first_come_first_served() {
        let first = turn("turns/one").await;
        assert!(first.held.is_some());
        let mut second = Box::pin(turn("turns/one"));
        let mut third = Box::pin(turn("turns/one"));
        assert!(
            (&mut second).now_or_never().is_none(),
            "waits for the first"
        );
        assert!((&mut third).now_or_never().is_none(), "waits for the first");
        // Another object does not wait.
        assert!(turn("turns/other").now_or_never().is_some());
        drop(first);
        let second = second.await;
        assert!(second.held.is_some());
        assert!(
            (&mut third).now_or_never().is_none(),
            "waits for the second"
        );
        drop(second);
        let third = third.await;
        assert!(third.held.is_some());
        drop(third);
        assert!(!queued("turns/one"), "nobody waits: the queue is gone");
        assert!(!queued("turns/other"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_held_too_long_does_not_hold_up_the_next_write() {
        let stuck = turn("turns/stuck").await;
        let started = tokio::time::Instant::now();
        let next = turn("turns/stuck").await;
        assert!(next.held.is_none(), "sent without its turn");
        assert_eq!(started.elapsed(), TURN_WAIT);
        drop(stuck);
        assert!(queued("turns/stuck"), "`next` still knows the queue");
        drop(next);
        assert!(!queued("turns/stuck"));
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_the_queue_clean() {
        let first = turn("turns/cancel").await;
        let waiting = turn("turns/cancel");
        assert!(Box::pin(waiting).now_or_never().is_none());
        drop(first);
        assert!(!queued("turns/cancel"));
    }
}
