//! The text the lock stores in a condition: the locked message (holder,
//! lock id, format version, since, until, renewed), the failure record
//! appended to a failed task's message, and reading both back, including
//! the format of the previous release (replicas of two releases share
//! objects during a rolling upgrade).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::LOCKED_REASON;
use super::types::{LockInfo, add};
use crate::validation::{MAX_MESSAGE_LEN, validate_reason};
use crate::{Condition, ConditionError, ConditionStatus, ConditionType};

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

/// The version of the locked message this release writes: `locked by
/// <holder> (lock <id>, format 2) since <RFC 3339> until <RFC 3339>`, with
/// ` (renewed <RFC 3339>)` once renewed.
///
/// Version 1, the first release's, has no marker: `(lock <id>)`. The
/// version sits inside the parentheses after the id, the one place where
/// version 1's reader accepts any text (it reads it as part of the id, which
/// it only compares for equality): so a replica of the previous release
/// reads this release's holder, times and renewals, and honours its leases,
/// during a rolling upgrade. Every later version keeps this shape, so
/// readers of all versions agree on who holds a lock and until when; a
/// reader meeting a newer version than its own reads the same fields.
pub const FORMAT: u32 = 2;

/// The message of lock `id` held by `holder`, taken at `since`, expiring
/// at `until`, last renewed at `renewed`, in format [`FORMAT`].
pub(super) fn lock_message(
    holder: &str,
    id: &str,
    since: Timestamp,
    until: Timestamp,
    renewed: Option<Timestamp>,
) -> String {
    let mut message =
        format!("locked by {holder} (lock {id}, format {FORMAT}) since {since} until {until}");
    if let Some(renewed) = renewed {
        message.push_str(&format!(" (renewed {renewed})"));
    }
    message
}

/// Parses a locked message of any format version (see [`FORMAT`]); the
/// lock id is optional.
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
    let (holder, id, format) = match holder
        .strip_suffix(')')
        .and_then(|h| h.rsplit_once(" (lock "))
    {
        Some((holder, lock)) => match lock.rsplit_once(", format ") {
            Some((id, format)) => (holder, Some(id), format.parse().ok()?),
            None => (holder, Some(lock), 1),
        },
        None => (holder, None, 1),
    };
    Some(LockInfo {
        holder: Some(holder.to_owned()),
        id: id.map(str::to_owned),
        since: Some(since.parse().ok()?),
        renewed,
        expires_at: until.parse().ok()?,
        format: Some(format),
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
pub(crate) fn is_locked<T: ConditionType, S: ConditionStatus>(c: &Condition<T, S>) -> bool {
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

/// The lock recorded by `condition`, or `None` when it is not locked.
pub(super) fn lock_info<T: ConditionType, S: ConditionStatus>(
    condition: &Condition<T, S>,
    lease: Duration,
) -> Option<LockInfo> {
    if !is_locked(condition) {
        return None;
    }
    Some(
        parse_lock_message(&condition.message).unwrap_or_else(|| LockInfo {
            holder: None,
            id: None,
            since: None,
            renewed: None,
            expires_at: add(condition.last_transition_time.0, lease),
            format: None,
        }),
    )
}

/// The lock recorded by an entry of our type that could not be typed
/// (kept raw by [`Conditions`]), e.g. one written by konditionner: status
/// `Locked` and no message. Without a readable `lastTransitionTime` the
/// lock counts as expired, since nothing says when it was taken.
pub(super) fn raw_lock_info(entry: &Value, lease: Duration) -> Option<LockInfo> {
    let text = |key: &str| entry.get(key).and_then(Value::as_str);
    if text("reason") != Some(LOCKED_REASON) && text("status") != Some("Locked") {
        return None;
    }
    Some(
        text("message")
            .and_then(parse_lock_message)
            .unwrap_or_else(|| LockInfo {
                holder: None,
                id: None,
                since: None,
                renewed: None,
                expires_at: text("lastTransitionTime")
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .map_or(Timestamp::UNIX_EPOCH, |t| add(t, lease)),
                format: None,
            }),
    )
}

impl LockInfo {
    /// The lock recorded by `condition`, or `None` when it is not locked
    /// (its reason is not [`LOCKED_REASON`] and its status is not spelled
    /// `Locked`). A lock whose message does not parse expires `lease` after
    /// its `lastTransitionTime`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use konditions_core::{Condition, Status, lock::LockInfo};
    /// let at = "2024-05-01T10:00:00Z".parse().unwrap();
    /// let c: Condition = Condition::new("Created".into(), Status::Unknown, "Locked",
    ///     "locked by pod-a since 2024-05-01T10:00:00Z until 2024-05-01T10:05:00Z", at).unwrap();
    /// let info = LockInfo::from_condition(&c, Duration::from_secs(60)).unwrap();
    /// assert_eq!(info.holder.as_deref(), Some("pod-a"));
    /// assert_eq!(info.expires_at.to_string(), "2024-05-01T10:05:00Z");
    /// ```
    pub fn from_condition<T: ConditionType, S: ConditionStatus>(
        condition: &Condition<T, S>,
        lease: Duration,
    ) -> Option<Self> {
        lock_info(condition, lease)
    }
}

/// Whether `entry` is the lock with id `id` (however renewed).
pub(super) fn is_our_lock(entry: &Value, id: &str) -> bool {
    entry.get("reason").and_then(Value::as_str) == Some(LOCKED_REASON)
        && entry
            .get("message")
            .and_then(Value::as_str)
            .and_then(parse_lock_message)
            .is_some_and(|l| l.id.as_deref() == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The reader of the first release (konditions 0.1.0), kept verbatim
    /// as a fixture: during a rolling upgrade it reads this release's locks.
    mod first_release {
        use jiff::Timestamp;

        /// What the first release read from a locked message.
        #[derive(Debug, PartialEq)]
        pub(super) struct Read {
            pub(super) holder: String,
            pub(super) id: Option<String>,
            pub(super) since: Timestamp,
            pub(super) renewed: Option<Timestamp>,
            pub(super) expires_at: Timestamp,
        }

        pub(super) fn parse_lock_message(message: &str) -> Option<Read> {
            let rest = message.strip_prefix("locked by ")?;
            let (rest, renewed) = match rest
                .strip_suffix(')')
                .and_then(|r| r.rsplit_once(" (renewed "))
            {
                Some((rest, renewed)) => (rest, Some(renewed.parse().ok()?)),
                None => (rest, None),
            };
            let (rest, until) = rest.rsplit_once(" until ")?;
            let (holder, since) = rest.rsplit_once(" since ")?;
            let (holder, id) = match holder
                .strip_suffix(')')
                .and_then(|h| h.rsplit_once(" (lock "))
            {
                Some((holder, id)) => (holder, Some(id.to_owned())),
                None => (holder, None),
            };
            Some(Read {
                holder: holder.to_owned(),
                id,
                since: since.parse().ok()?,
                renewed,
                expires_at: until.parse().ok()?,
            })
        }
    }

    /// Messages the first release wrote (format 1, no version marker).
    const FIRST_RELEASE: [&str; 3] = [
        "locked by writer-0 (lock 5f3e91c2) since 2024-05-01T10:00:00Z until 2024-05-01T10:01:00Z",
        "locked by writer-0 (lock 5f3e91c2) since 2024-05-01T10:00:00Z until 2024-05-01T10:01:20Z (renewed 2024-05-01T10:00:20Z)",
        "locked by a since b (lock 0badf00d) since 2024-05-01T10:00:00Z until 2024-05-01T10:01:00Z",
    ];

    #[test]
    fn this_release_reads_the_first_releases_locks_as_format_1() {
        let read: Vec<LockInfo> = FIRST_RELEASE
            .iter()
            .map(|m| parse_lock_message(m).unwrap())
            .collect();
        assert!(read.iter().all(|info| info.format == Some(1)));
        assert_eq!(read[0].holder.as_deref(), Some("writer-0"));
        assert_eq!(read[0].id.as_deref(), Some("5f3e91c2"));
        assert_eq!(read[0].expires_at, at("2024-05-01T10:01:00Z"));
        assert_eq!(read[1].renewed, Some(at("2024-05-01T10:00:20Z")));
        assert_eq!(read[1].expires_at, at("2024-05-01T10:01:20Z"));
        assert_eq!(read[2].holder.as_deref(), Some("a since b"));
        assert_eq!(read[2].id.as_deref(), Some("0badf00d"));
    }

    #[test]
    fn the_first_release_reads_this_releases_locks_renewals_and_hand_overs() {
        let since = at("2024-05-01T10:00:00Z");
        let written = [
            (None, at("2024-05-01T10:01:00Z")),
            // Renewed.
            (Some(at("2024-05-01T10:00:20Z")), at("2024-05-01T10:01:20Z")),
            // Handed over: it expires when it was last written.
            (Some(at("2024-05-01T10:00:30Z")), at("2024-05-01T10:00:30Z")),
        ];
        for holder in ["writer-0", "a since b (lock x) until c", "ünï <&>"] {
            for (renewed, until) in written {
                let message = lock_message(holder, "5f3e91c2", since, until, renewed);
                let old = first_release::parse_lock_message(&message).unwrap();
                // Who and until when are what a reader decides on; the id it
                // only compares, so the version riding along is harmless.
                assert_eq!(old.holder, holder, "{message}");
                assert_eq!(old.since, since);
                assert_eq!(old.renewed, renewed);
                assert_eq!(old.expires_at, until);
                assert_eq!(old.id.as_deref(), Some("5f3e91c2, format 2"));
                let new = parse_lock_message(&message).unwrap();
                assert_eq!(new.holder.as_deref(), Some(holder));
                assert_eq!(new.id.as_deref(), Some("5f3e91c2"));
                assert_eq!(new.format, Some(FORMAT));
            }
        }
    }

    #[test]
    fn a_newer_format_is_read_for_its_holder_and_lease() {
        let info = parse_lock_message(
            "locked by writer-9 (lock 0badf00d, format 7) since 2030-01-01T00:00:00Z until 2030-01-01T00:01:00Z",
        )
        .unwrap();
        assert_eq!(info.format, Some(7));
        assert_eq!(info.holder.as_deref(), Some("writer-9"));
        assert_eq!(info.id.as_deref(), Some("0badf00d"));
        assert_eq!(info.expires_at, at("2030-01-01T00:01:00Z"));
        assert_eq!(
            parse_lock_message(
                "locked by w (lock 1, format two) since 2030-01-01T00:00:00Z until 2030-01-01T00:01:00Z"
            ),
            None,
            "a version that is not a number is not the lock's format"
        );
    }

    /// docs/lock.md, which users read the formats from.
    fn lock_chapter() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/lock.md");
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn the_formats_are_exactly_as_the_lock_chapter_documents_them() {
        let docs = lock_chapter();
        let template = format!(
            "`locked by\n<holder> (lock <id>, format {FORMAT}) since <RFC 3339> until <RFC 3339>`, with `(renewed\n<RFC 3339>)` once renewed"
        );
        assert!(
            docs.contains(&template),
            "docs/lock.md must say: {template}"
        );
        // The chapter's example is what the lock writes.
        let example = lock_message(
            "writer-0",
            "5f3e91c2",
            at("2024-05-01T10:00:00Z"),
            at("2024-05-01T10:01:00Z"),
            None,
        );
        assert!(docs.contains(&format!("\"{example}\"")), "{example}");
        let renewed = lock_message(
            "writer-0",
            "5f3e91c2",
            at("2024-05-01T10:00:00Z"),
            at("2024-05-01T10:01:20Z"),
            Some(at("2024-05-01T10:00:20Z")),
        );
        assert!(docs.contains(&format!("`{renewed}`")), "{renewed}");
        // The first release's form, which this release still reads.
        assert!(docs.contains(&format!("`{}`", FIRST_RELEASE[0])));
        // The failure record.
        let failed = failure_message(
            "connection refused",
            Failure {
                attempt: 3,
                retry_in: Duration::from_secs(4),
            },
        );
        assert_eq!(failed, "connection refused (attempt 3, retry in 4s)");
        assert!(docs.contains(&format!("`{failed}`")), "{failed}");
    }
}
