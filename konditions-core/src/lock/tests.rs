//! Unit tests of the lock's pure logic; the behaviour against a real API
//! server is tested in `tests/lock.rs`.

use super::message::parse_lock_message;
use super::wire::go_escape;
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
        let message = lock_message(
            holder,
            "0badf00d",
            at("2024-05-01T10:00:00Z"),
            at("2024-05-01T10:05:00Z"),
            None,
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
        assert_eq!(info.renewed, None);
        let renewed = lock_message(
            holder,
            "0badf00d",
            at("2024-05-01T10:00:00Z"),
            at("2024-05-01T10:07:00Z"),
            Some(at("2024-05-01T10:02:00Z")),
        );
        let info = parse_lock_message(&renewed).unwrap();
        assert_eq!(info.holder.as_deref(), Some(holder));
        assert_eq!(info.renewed, Some(at("2024-05-01T10:02:00Z")));
        assert_eq!(info.id.as_deref(), Some("0badf00d"));
        assert_eq!(info.stamp(), Some(at("2024-05-01T10:02:00Z")));
        assert_eq!(info.expires_at, at("2024-05-01T10:07:00Z"));
    }
}

#[test]
fn lock_ids_differ_and_messages_without_one_still_parse() {
    assert_ne!(lock_id(), lock_id());
    assert_eq!(lock_id().len(), 8);
    let info =
        parse_lock_message("locked by pod-a since 2024-05-01T10:00:00Z until 2024-05-01T10:05:00Z")
            .unwrap();
    assert_eq!((info.holder.as_deref(), info.id), (Some("pod-a"), None));
}

#[test]
fn expiry_times_round_up_to_the_second() {
    assert_eq!(
        ceil_to_second(at("2024-05-01T10:00:00Z")),
        at("2024-05-01T10:00:00Z")
    );
    assert_eq!(
        ceil_to_second(at("2024-05-01T10:00:00.001Z")),
        at("2024-05-01T10:00:01Z")
    );
    assert_eq!(
        ceil_to_second(at("2024-05-01T10:00:00.91Z")),
        at("2024-05-01T10:00:01Z")
    );
    // A 2 s lease taken at .91 past a second lasts at least 2 s.
    let taken = at("2024-05-01T10:00:00.91Z");
    let until = ceil_to_second(add(taken, Duration::from_secs(2)));
    assert!(until.duration_since(taken) >= jiff::SignedDuration::from_secs(2));
    assert_eq!(until, at("2024-05-01T10:00:03Z"));
}

#[test]
fn failure_records_round_trip_and_fit_the_message_limit() {
    let failure = Failure {
        attempt: 3,
        retry_in: Duration::from_secs(4),
    };
    let message = failure_message(
        "table \"t\" does not exist (attempt 9, retry in 1s)",
        failure,
    );
    assert_eq!(
        message,
        "table \"t\" does not exist (attempt 9, retry in 1s) (attempt 3, retry in 4s)"
    );
    assert_eq!(parse_failure(&message), Some(failure));
    assert_eq!(parse_failure("row written"), None);
    assert_eq!(parse_failure("x (attempt many, retry in 1s)"), None);
    let long = failure_message(&"é".repeat(MAX_MESSAGE_LEN), failure);
    assert_eq!(long.chars().count(), MAX_MESSAGE_LEN);
    assert_eq!(parse_failure(&long), Some(failure));
}

#[test]
fn backoff_doubles_up_to_its_maximum() {
    let b = Backoff::default();
    let delays: Vec<u64> = (1..=11).map(|n| b.delay(n).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    assert_eq!(b.delay(0), Duration::from_secs(1));
    assert_eq!(b.delay(u32::MAX), Duration::from_secs(300));
}

#[test]
fn fencing_tokens_are_decimal_resource_versions() {
    assert_eq!(
        FencingToken::from_resource_version("1187"),
        Some(FencingToken::new(1187))
    );
    for bad in [
        "",
        "0",
        "012",
        "-1",
        "1e3",
        "abc",
        // 2^128: one above the bound Kubernetes sets (KEP-5504).
        "340282366920938463463374607431768211456",
    ] {
        assert_eq!(FencingToken::from_resource_version(bad), None, "{bad}");
    }
    assert!(FencingToken::new(9) < FencingToken::new(10));
}

#[test]
fn fencing_tokens_reach_the_bound_kubernetes_sets_and_never_saturate() {
    // 2^128 - 1: the greatest comparable resourceVersion (KEP-5504).
    let max = FencingToken::from_resource_version("340282366920938463463374607431768211455");
    assert_eq!(max, Some(FencingToken::new(u128::MAX)));
    // Beyond etcd's int64 revisions: still ordered, digit for digit.
    let above_i64 = FencingToken::from_resource_version("9223372036854775808").unwrap();
    let i64_max = FencingToken::from_resource_version("9223372036854775807").unwrap();
    assert!(i64_max < above_i64);
    assert_eq!(above_i64.to_string(), "9223372036854775808");
    // A 64-bit column takes every etcd revision, and refuses what it cannot
    // hold instead of saturating (which would make two tokens equal).
    assert_eq!(i64_max.to_i64(), Ok(i64::MAX));
    let refused = above_i64.to_i64().unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the fencing token 9223372036854775808 does not fit in a signed 64-bit integer; store it in a wider column (NUMERIC(39) holds every token)"
    );
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
    let escaped = go_escape(serde_json::to_vec(&v).unwrap());
    let text = std::str::from_utf8(&escaped).unwrap();
    assert!(!text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']));
    assert!(text.contains("\\u003cb\\u003e \\u0026"));
    assert_eq!(serde_json::from_slice::<Value>(&escaped).unwrap(), v);
    let plain = serde_json::to_vec(&json!({"message": "plain — text"})).unwrap();
    assert_eq!(go_escape(plain.clone()), plain);
}

#[test]
fn messages_are_truncated_at_a_character_boundary() {
    assert_eq!(truncate("short", MAX_MESSAGE_LEN), "short");
    let long = "é".repeat(MAX_MESSAGE_LEN + 10);
    assert_eq!(
        truncate(&long, MAX_MESSAGE_LEN).chars().count(),
        MAX_MESSAGE_LEN
    );
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
        Seen::Absent(&[Shape::CreateStatus, Shape::CreateList, Shape::Append])
    );
    let mut list = Conditions::<String>::default();
    // An empty list is `[]` on the server when the CRD defaults it: append first.
    assert_eq!(
        seen(Some(&list), &ready),
        Seen::Absent(&[Shape::Append, Shape::CreateList])
    );
    list.set(None, "Other", Verdict::new(Status::True, "Ok"))
        .unwrap();
    assert_eq!(seen(Some(&list), &ready), Seen::Absent(&[Shape::Append]));
    list.set(
        None,
        &ready,
        Verdict::new(Status::True, "Ok").message("<&>"),
    )
    .unwrap();
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
    let info = raw_lock_info(&go, lease).unwrap();
    assert_eq!(info.holder, None);
    assert_eq!(info.expires_at, at("2024-05-01T10:01:00Z"));

    // Ours, kept raw for another reason (a sub-second timestamp): the message wins.
    let ours = serde_json::json!({"type": "Created", "status": "Unknown", "reason": "Locked",
        "lastTransitionTime": "2024-05-01T10:00:00.5Z",
        "message": "locked by pod-a since 2024-05-01T10:00:00Z until 2024-05-01T10:05:00Z"});
    let info = raw_lock_info(&ours, lease).unwrap();
    assert_eq!(info.holder.as_deref(), Some("pod-a"));
    assert_eq!(info.expires_at, at("2024-05-01T10:05:00Z"));

    // Locked with no time to count from: expired at once.
    let timeless = serde_json::json!({"type": "Created", "status": "Locked"});
    assert_eq!(
        raw_lock_info(&timeless, lease).unwrap().expires_at,
        Timestamp::UNIX_EPOCH
    );

    // Not locked.
    let plain = serde_json::json!({"type": "Created", "status": "Error", "reason": "Failed"});
    assert_eq!(raw_lock_info(&plain, lease), None);
}
