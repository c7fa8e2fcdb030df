//! Unit tests of the lock's pure logic; the behaviour against a real API
//! server is tested in `tests/lock.rs`.

use super::*;
use crate::validation::MAX_MESSAGE_LEN;
use crate::{KonditionnerStatus, Status};
use kube::core::response::{Status as ApiStatus, StatusCause, StatusDetails};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn lock_message_round_trips_whatever_the_holder() {
    for holder in ["pod-a", "a since b until c", "ünï <&> 😀"] {
        let message = LockInfo::message(
            holder,
            at("2024-05-01T10:00:00Z"),
            at("2024-05-01T10:05:00Z"),
        );
        let c: Condition = Condition::new(
            "Created".into(),
            Status::Unknown,
            LOCKED_REASON,
            message,
            at("2024-05-01T10:00:00Z"),
        )
        .unwrap();
        let info = LockInfo::from_condition(&c, DEFAULT_LEASE).unwrap();
        assert_eq!(info.holder.as_deref(), Some(holder));
        assert_eq!(info.since, Some(at("2024-05-01T10:00:00Z")));
        assert_eq!(info.expires_at, at("2024-05-01T10:05:00Z"));
    }
}

#[test]
fn foreign_locks_expire_a_lease_after_their_transition() {
    let c: Condition<String, KonditionnerStatus> = Condition::new(
        "Created".into(),
        KonditionnerStatus::Locked,
        "Working",
        "",
        at("2024-05-01T10:00:00Z"),
    )
    .unwrap();
    let info = LockInfo::from_condition(&c, Duration::from_secs(60)).unwrap();
    assert_eq!(info.holder, None);
    assert_eq!(info.expires_at, at("2024-05-01T10:01:00Z"));
    let free: Condition = Condition::new(
        "Created".into(),
        Status::True,
        "Done",
        "",
        at("2024-05-01T10:00:00Z"),
    )
    .unwrap();
    assert_eq!(LockInfo::from_condition(&free, DEFAULT_LEASE), None);
}

#[test]
fn go_escaping_keeps_the_value() {
    let v = json!({"message": "a <b> & c \u{2028}\u{2029} é \"q\" \\"});
    let escaped = go_escape(&serde_json::to_vec(&v).unwrap());
    let text = std::str::from_utf8(&escaped).unwrap();
    assert!(!text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']));
    assert!(text.contains("\\u003cb\\u003e \\u0026"));
    assert_eq!(serde_json::from_slice::<Value>(&escaped).unwrap(), v);
}

#[test]
fn messages_are_truncated_at_a_character_boundary() {
    assert_eq!(truncate("short"), "short");
    let long = "é".repeat(MAX_MESSAGE_LEN + 10);
    assert_eq!(truncate(&long).chars().count(), MAX_MESSAGE_LEN);
}

#[test]
fn refusals_are_conflicts_failed_patches_and_duplicates_only() {
    let api = |code: u16, causes: &[&str]| {
        let mut s = ApiStatus::failure("x", "Invalid");
        s.code = code;
        s.details = Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: causes
                .iter()
                .map(|r| StatusCause {
                    reason: (*r).to_owned(),
                    message: String::new(),
                    field: String::new(),
                })
                .collect(),
            retry_after_seconds: 0,
        });
        kube::Error::Api(s.boxed())
    };
    assert!(is_refusal(&api(409, &[])));
    assert!(is_refusal(&api(422, &[])));
    assert!(is_refusal(&api(422, &["FieldValueDuplicate"])));
    assert!(!is_refusal(&api(422, &["FieldValueNotSupported"])));
    assert!(!is_refusal(&api(500, &[])));
}

#[test]
fn the_view_decides_the_patch_shape() {
    let ready = "Ready".to_string();
    assert_eq!(
        seen::<String, Status>(None, &ready),
        Seen::Absent(Shape::CreateStatus)
    );
    let mut list = Conditions::<String>::default();
    assert_eq!(seen(Some(&list), &ready), Seen::Absent(Shape::CreateList));
    list.set("Other".into(), Status::True, "Ok", "").unwrap();
    assert_eq!(seen(Some(&list), &ready), Seen::Absent(Shape::Append));
    list.set(ready.clone(), Status::True, "Ok", "<&>").unwrap();
    let value = serde_json::to_value(list.find(&ready)).unwrap();
    assert_eq!(seen(Some(&list), &ready), Seen::Entry { index: 1, value });
    let raw: Conditions =
        serde_json::from_value(json!([{"type": "Other"}, {"type": "Ready", "status": "Sideways"}]))
            .unwrap();
    assert_eq!(
        seen(Some(&raw), &ready),
        Seen::Entry {
            index: 1,
            value: json!({"type": "Ready", "status": "Sideways"})
        }
    );
}

#[test]
fn release_reasons_are_checked_and_locked_is_reserved() {
    assert!(check_reason("BucketCreated").is_ok());
    assert!(check_reason(LOCKED_REASON).is_err());
    assert!(check_reason("not camel").is_err());
}

#[test]
fn a_raw_locked_entry_is_a_lock() {
    let lease = Duration::from_secs(60);
    // konditionner's lock: status Locked, no message.
    let go = serde_json::json!({"type": "Created", "status": "Locked",
        "lastTransitionTime": "2024-05-01T10:00:00Z", "reason": "Executing"});
    let info = LockInfo::from_raw(&go, lease).unwrap();
    assert_eq!(info.holder, None);
    assert_eq!(info.expires_at, at("2024-05-01T10:01:00Z"));

    // Ours, kept raw for another reason (a sub-second timestamp): the message wins.
    let ours = serde_json::json!({"type": "Created", "status": "Unknown", "reason": "Locked",
        "lastTransitionTime": "2024-05-01T10:00:00.5Z",
        "message": "locked by pod-a since 2024-05-01T10:00:00Z until 2024-05-01T10:05:00Z"});
    let info = LockInfo::from_raw(&ours, lease).unwrap();
    assert_eq!(info.holder.as_deref(), Some("pod-a"));
    assert_eq!(info.expires_at, at("2024-05-01T10:05:00Z"));

    // Locked with no time to count from: expired at once.
    let timeless = serde_json::json!({"type": "Created", "status": "Locked"});
    assert_eq!(
        LockInfo::from_raw(&timeless, lease).unwrap().expires_at,
        Timestamp::UNIX_EPOCH
    );

    // Not locked.
    let plain = serde_json::json!({"type": "Created", "status": "Error", "reason": "Failed"});
    assert_eq!(LockInfo::from_raw(&plain, lease), None);
}
