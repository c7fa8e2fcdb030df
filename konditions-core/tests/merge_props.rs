//! Property tests of `konditions_core::merge`: summaries, aggregates and
//! mirrors never fail on the data, always fit metav1's message limit, do
//! not depend on the order the object lists its conditions in, and give
//! the same answer every time; and the typed summary's written verdict is
//! always one the API server accepts.

use konditions_core::example::WidgetCondition;
use konditions_core::merge::{Aggregate, Object, Reported, Summary, aggregate, mirror, summarize};
use konditions_core::validation::{MAX_MESSAGE_LEN, validate_message, validate_reason};
use konditions_core::{Conditions, ManualClock, Status, Verdict};
use proptest::prelude::*;

const TYPES: &[&str] = &["A", "B", "C", "D", "E"];

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(vec![Status::True, Status::False, Status::Unknown])
}

/// Messages from empty to far beyond the limit, with bullets and newlines.
fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z *\n]{0,40}",
        (1usize..40_000).prop_map(|n| "é*\n ".repeat(n / 4)),
    ]
}

fn condition(type_: &'static str) -> impl Strategy<Value = Reported<'static>> {
    (
        status(),
        prop::sample::select(vec!["Up", "Down", "", "not a reason"]),
        message(),
        prop::option::of(0i64..4),
    )
        .prop_map(move |(s, r, m, g)| Reported::new(type_, s, r, m).observed_generation(g))
}

fn object() -> impl Strategy<Value = Object> {
    (
        prop::sample::subsequence(TYPES.to_vec(), 0..=TYPES.len()),
        prop::option::of(1i64..4),
    )
        .prop_flat_map(|(types, generation)| {
            let conditions: Vec<_> = types.into_iter().map(condition).collect();
            (conditions, Just(generation))
        })
        .prop_map(|(conditions, generation)| {
            let mut object = Object::new("Widget", "w");
            object.generation = generation;
            object.conditions = conditions;
            object
        })
}

fn within_limit(v: &Verdict<'_, Status>) -> Result<(), TestCaseError> {
    prop_assert!(
        v.message.len() <= MAX_MESSAGE_LEN,
        "{} bytes",
        v.message.len()
    );
    prop_assert!(validate_message(&v.message).is_ok());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn summaries_never_fail_fit_the_limit_and_ignore_the_list_order(
        object in object(),
        types in prop::sample::subsequence(TYPES.to_vec(), 1..=TYPES.len()),
        negative in prop::sample::subsequence(TYPES.to_vec(), 0..=2),
        seed in any::<u64>(),
    ) {
        let summary = Summary::of(types.iter().copied()).negative(negative.iter().copied());
        let first = summarize(&object, "Ready", &summary).unwrap();
        within_limit(&first)?;
        prop_assert!(validate_reason(&first.reason).is_ok(), "{}", first.reason);
        prop_assert_eq!(&first, &summarize(&object, "Ready", &summary).unwrap());
        let mut shuffled = object.clone();
        let n = shuffled.conditions.len().max(1);
        shuffled.conditions.rotate_left((seed as usize) % n);
        prop_assert_eq!(&first, &summarize(&shuffled, "Ready", &summary).unwrap());
    }

    #[test]
    fn aggregates_never_fail_fit_the_limit_and_are_deterministic(
        objects in prop::collection::vec(object(), 1..12),
        limit in 0usize..5,
        negative in any::<bool>(),
    ) {
        let objects: Vec<Object> = objects
            .into_iter()
            .enumerate()
            .map(|(i, mut o)| { o.name = format!("w{i}"); o })
            .collect();
        let mut options = Aggregate::of("A").limit(limit);
        if negative {
            options = options.negative();
        }
        let first = aggregate(&objects, &options).unwrap();
        within_limit(&first)?;
        prop_assert_eq!(&first, &aggregate(&objects, &options).unwrap());
        // The status does not depend on the children's order.
        let reversed: Vec<Object> = objects.iter().rev().cloned().collect();
        prop_assert_eq!(first.status, aggregate(&reversed, &options).unwrap().status);
    }

    #[test]
    fn mirrors_fit_the_limit_with_a_valid_reason(object in object(), type_ in prop::sample::select(TYPES.to_vec())) {
        let v = mirror(&object, type_, None);
        within_limit(&v)?;
        prop_assert!(validate_reason(&v.reason).is_ok(), "{}", v.reason);
    }

    #[test]
    fn the_typed_summary_is_always_written(
        verdicts in prop::collection::vec((status(), "[a-z ]{0,30}"), 3),
        generation in prop::option::of(1i64..3),
    ) {
        let clock = ManualClock::default();
        let mut list = Conditions::<WidgetCondition>::default();
        let dependents = [WidgetCondition::DatabaseReady, WidgetCondition::BucketCreated, WidgetCondition::Degraded];
        for (type_, (status, message)) in dependents.iter().zip(verdicts) {
            list.set_with(&clock, Some(1), type_, Verdict::new(status, "Checked").message(message)).unwrap();
        }
        list.update_summary_with(&clock, generation).unwrap();
        prop_assert!(list.find(&WidgetCondition::Ready).is_some());
        // Written once, the same verdict changes nothing.
        prop_assert!(!list.update_summary_with(&clock, generation).unwrap().is_changed());
    }
}
