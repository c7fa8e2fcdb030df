//! Property tests of the Conditions invariants (one condition per type,
//! transition times, change reporting) and of the round-trip of whatever
//! JSON the API server may hand us, plus proptest-driven fuzzing of status
//! deserialization (it must never panic).

use jiff::SignedDuration;
use konditions_core::example::WidgetCondition;
use konditions_core::{
    Change, Clock, ConditionType, Conditions, ManualClock, RawKind, Status, Verdict,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

type List = Conditions<WidgetCondition>;

fn widget_type() -> impl Strategy<Value = WidgetCondition> {
    prop::sample::select(vec![
        WidgetCondition::Ready,
        WidgetCondition::DatabaseReady,
        WidgetCondition::BucketCreated,
        WidgetCondition::Degraded,
    ])
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(vec![Status::True, Status::False, Status::Unknown])
}

#[derive(Clone, Debug)]
struct SetOp {
    type_: WidgetCondition,
    status: Status,
    reason: &'static str,
    message: String,
    generation: Option<i64>,
    advance_ms: i64,
}

fn set_op() -> impl Strategy<Value = SetOp> {
    (
        widget_type(),
        status(),
        prop::sample::select(vec!["Ok", "Waiting", "Failed_Twice", "A,B:C"]),
        "[a-z ]{0,8}",
        prop::option::of(0i64..4),
        0i64..5_000,
    )
        .prop_map(
            |(type_, status, reason, message, generation, advance_ms)| SetOp {
                type_,
                status,
                reason,
                message,
                generation,
                advance_ms,
            },
        )
}

/// A condition-like JSON object: valid, subtly broken, or foreign, with
/// keys in any order.
fn condition_like() -> impl Strategy<Value = Value> {
    let type_ = prop::sample::select(vec![
        json!("Ready"),
        json!("DatabaseReady"),
        json!("Other"),
        json!("example.com/Synced"),
        json!(""),
        json!(7),
    ]);
    let status = prop::sample::select(vec![
        json!("True"),
        json!("False"),
        json!("Unknown"),
        json!("Maybe"),
        json!(null),
    ]);
    let time = prop::sample::select(vec![
        json!("2024-01-01T00:00:00Z"),
        json!("2024-01-01T00:00:00.5Z"),
        json!("2024-01-01T00:00:00+02:00"),
        json!("yesterday"),
        json!(5),
    ]);
    let generation = prop::option::of(prop::sample::select(vec![
        json!(1),
        json!(-1),
        json!(1.5),
        json!("1"),
        json!(null),
    ]));
    let reason = prop::sample::select(vec![json!("Ok"), json!(""), json!("not camel"), json!(3)]);
    let message = prop::option::of(prop::sample::select(vec![
        json!(""),
        json!("hé \"quoted\"\n"),
    ]));
    let extra = prop::option::of(prop::sample::select(vec![
        ("lastHeartbeatTime", json!("2024-01-01T00:00:00Z")),
        ("zzz", json!({"nested": [1, null, true]})),
    ]));
    (type_, status, time, generation, reason, message, extra)
        .prop_flat_map(
            |(type_, status, time, generation, reason, message, extra)| {
                let mut fields: Vec<(String, Value)> = vec![
                    ("type".into(), type_),
                    ("status".into(), status),
                    ("lastTransitionTime".into(), time),
                    ("reason".into(), reason),
                ];
                if let Some(g) = generation {
                    fields.push(("observedGeneration".into(), g));
                }
                if let Some(m) = message {
                    fields.push(("message".into(), m));
                }
                if let Some((k, v)) = extra {
                    fields.push((k.into(), v));
                }
                Just(fields).prop_shuffle()
            },
        )
        .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>()))
}

/// Any JSON value at all.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec!["type", "status", "Ready", "True", "conditions"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(vec![
                            "type",
                            "status",
                            "reason",
                            "message",
                            "lastTransitionTime",
                            "observedGeneration",
                            "conditions"
                        ])
                        .prop_map(String::from),
                        ".{0,6}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn condition_list() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(prop_oneof![3 => condition_like(), 1 => any_json()], 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn set_keeps_one_condition_per_type_and_moves_time_only_on_transitions(
        start in condition_list(),
        ops in prop::collection::vec(set_op(), 1..40),
    ) {
        let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
        let mut list: List = serde_json::from_value(Value::Array(start)).unwrap();
        for op in ops {
            clock.advance(SignedDuration::from_millis(op.advance_ms));
            let before = list.clone();
            let before_json = serde_json::to_value(&list).unwrap();
            let old = before.find(&op.type_).cloned();
            let change = list
                .set_with(&clock, op.generation, &op.type_, Verdict::new(op.status, op.reason).message(op.message.clone()))
                .unwrap();
            let new = list.find(&op.type_).unwrap().clone();

            // The stored condition is what was asked for.
            prop_assert_eq!(new.status, op.status);
            prop_assert_eq!(&new.reason, op.reason);
            prop_assert_eq!(&new.message, &op.message);
            prop_assert_eq!(new.observed_generation, op.generation);
            prop_assert_eq!(new.last_transition_time.0.subsec_nanosecond(), 0);

            // Transition time: moves exactly when the status changes.
            let now = jiff::Timestamp::from_second(clock.now().as_second()).unwrap();
            match &old {
                Some(old) if old.status == op.status => {
                    prop_assert_eq!(&new.last_transition_time, &old.last_transition_time);
                    prop_assert!(matches!(change, Change::Unchanged | Change::Updated));
                }
                Some(old) => {
                    prop_assert_eq!(new.last_transition_time.0, now);
                    prop_assert_eq!(change, Change::Transitioned { from: old.status });
                }
                None => {
                    prop_assert_eq!(new.last_transition_time.0, now);
                    prop_assert_eq!(change, Change::Added);
                }
            }

            // Unchanged means the wire form is byte-identical.
            let after_json = serde_json::to_value(&list).unwrap();
            prop_assert_eq!(change == Change::Unchanged, before_json == after_json);

            // One entry of this type remains on the wire (ours).
            let same_type = after_json
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) == Some(op.type_.as_str()))
                .count();
            prop_assert_eq!(same_type, 1);

            // One typed condition per type.
            let mut types: Vec<&str> = list.iter().map(|c| c.type_.as_str()).collect();
            let n = types.len();
            types.sort_unstable();
            types.dedup();
            prop_assert_eq!(types.len(), n);

            // Foreign entries are untouched, in order.
            let foreign_before: Vec<&Value> = before.foreign().collect();
            let foreign_after: Vec<&Value> = list.foreign().collect();
            prop_assert_eq!(foreign_before, foreign_after);

            // And the whole list round-trips.
            let back: List = serde_json::from_value(after_json.clone()).unwrap();
            prop_assert_eq!(&back, &list);
        }
    }

    /// Raw entries come back byte for byte; known conditions come back equal
    /// as JSON values (keys in metav1 order), and that form is a fixed point.
    #[test]
    fn any_condition_list_round_trips(list in condition_list()) {
        let text = serde_json::to_string(&list).unwrap();
        let parsed: List = serde_json::from_str(&text).unwrap();
        let out = serde_json::to_string(&parsed).unwrap();
        let out_values: Vec<Value> = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(&out_values, &list);
        for (read, written) in list.iter().zip(&out_values) {
            if serde_json::to_string(read).unwrap() != serde_json::to_string(written).unwrap() {
                // Only a typed condition may be re-ordered.
                prop_assert!(serde_json::from_value::<konditions_core::Condition<WidgetCondition>>(read.clone()).is_ok());
            }
        }
        let again: List = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(serde_json::to_string(&again).unwrap(), out);
        let untyped: Conditions = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(serde_json::to_value(&untyped).unwrap(), Value::Array(list));
    }

    #[test]
    fn removal_keeps_everything_else_in_order(list in condition_list(), type_ in widget_type()) {
        let mut parsed: List = serde_json::from_value(Value::Array(list.clone())).unwrap();
        parsed.remove(&type_);
        let kept: Vec<Value> = list
            .into_iter()
            .filter(|v| v.get("type").and_then(Value::as_str) != Some(type_.as_str())
                // foreign entries are never removed, whatever their type field says
                || !matches!(v.get("type").and_then(Value::as_str), Some(t) if WidgetCondition::parse(t).is_some()))
            .collect();
        prop_assert_eq!(serde_json::to_value(&parsed).unwrap(), Value::Array(kept));
    }

    /// Fuzzing: whatever the status JSON, deserialization returns (Ok or Err)
    /// without panicking, and what it accepts it writes back unchanged.
    #[test]
    fn fuzz_status_deserialization_never_panics(status in any_json(), list in condition_list()) {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct MyStatus {
            #[serde(default)]
            conditions: Conditions<WidgetCondition>,
        }
        let _ = serde_json::from_value::<MyStatus>(status.clone());
        let _ = serde_json::from_value::<List>(status.clone());
        let mut wrapped = Map::new();
        wrapped.insert("conditions".into(), Value::Array(list));
        let wrapped = Value::Object(wrapped);
        let parsed: MyStatus = serde_json::from_value(wrapped.clone()).unwrap();
        prop_assert_eq!(serde_json::to_value(&parsed).unwrap(), wrapped);
        for c in parsed.conditions.unrecognized() {
            prop_assert!(matches!(c.kind(), RawKind::Foreign | RawKind::Invalid | RawKind::Duplicate));
        }
    }

    #[test]
    fn fuzz_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<List>(&bytes);
        let _ = serde_json::from_slice::<Conditions<String, konditions_core::KonditionnerStatus>>(&bytes);
    }
}
