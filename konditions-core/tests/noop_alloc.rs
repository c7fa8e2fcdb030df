//! A `set` that changes nothing must not touch the heap: reconcilers call it
//! for every condition on every reconcile; nor must an update that fits the
//! stored strings, a transition, or a lookup, whether the condition types
//! are a declared enum or `String`s (borrowed as `&str` or `&String`).
//! Counted with dhat's global allocator, which sees every thread of the
//! process: this binary has no libtest harness (`harness = false`), because
//! the harness's own threads (spawning the next test, printing results)
//! allocate while a measurement runs and made the count flaky.

#[path = "common/numbered.rs"]
mod numbered;

use std::hint::black_box;

use konditions_core::{Change, Conditions, ManualClock, Status, Verdict};
use numbered::Numbered;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The cases, run one after the other on the main thread: dhat allows one
/// profiler at a time. A failed assertion panics, which fails the binary.
#[allow(clippy::print_stdout)] // no harness: these lines are the binary's report
fn main() {
    let cases: [(&str, fn()); 2] = [
        (
            "no_op_set_and_lookups_do_not_allocate",
            no_op_set_and_lookups_do_not_allocate,
        ),
        (
            "string_types_set_update_transition_and_find_without_allocating",
            string_types_set_update_transition_and_find_without_allocating,
        ),
    ];
    for (name, case) in cases {
        case();
        println!("test {name} ... ok");
    }
}

fn profiler() -> dhat::Profiler {
    dhat::Profiler::builder().testing().build()
}

fn no_op_set_and_lookups_do_not_allocate() {
    let _profiler = profiler();
    let clock = ManualClock::default();

    // 32 typed conditions plus foreign and invalid entries, which the setter
    // has to look past.
    let mut list: Conditions<Numbered> = serde_json::from_str(
        r#"[{"type":"other.io/Synced","status":"True"},{"type":"Cond05","status":"Maybe"}]"#,
    )
    .unwrap();
    for i in 0..32 {
        list.set_with(
            &clock,
            Some(1),
            &Numbered(i),
            Verdict::new(Status::True, "Ready").message("all good"),
        )
        .unwrap();
    }
    let list_before = list.clone();

    let before = dhat::HeapStats::get();
    for round in 0..100u8 {
        let t = Numbered(round % 32);
        let change = list
            .set_with(
                &clock,
                Some(1),
                &black_box(t),
                Verdict::new(Status::True, "Ready").message("all good"),
            )
            .unwrap();
        assert_eq!(change, Change::Unchanged);
        assert!(black_box(&list).is_true(&t));
        assert!(black_box(&list).find(&t).is_some());
    }
    let after = dhat::HeapStats::get();

    dhat::assert_eq!(after.total_blocks, before.total_blocks);
    dhat::assert_eq!(after.total_bytes, before.total_bytes);

    // A real change that needs a longer reason buffer does allocate, which
    // shows the counter sees the setter's allocations.
    let longer = "R".repeat(64);
    let before_change = dhat::HeapStats::get();
    list.set_with(
        &clock,
        Some(1),
        &Numbered(0),
        Verdict::new(Status::True, longer),
    )
    .unwrap();
    let changed = dhat::HeapStats::get();
    dhat::assert!(changed.total_blocks > before_change.total_blocks);
    assert_ne!(list, list_before);
}

fn string_types_set_update_transition_and_find_without_allocating() {
    let _profiler = profiler();
    let clock = ManualClock::default();
    let names: Vec<String> = numbered::NAMES.iter().map(|n| (*n).to_owned()).collect();

    // 32 conditions typed by strings, and a foreign entry before them.
    let mut list: Conditions<String> =
        serde_json::from_str(r#"[{"type":"other.io/Synced","status":"True"}]"#).unwrap();
    for name in &names {
        list.set_with(
            &clock,
            Some(1),
            name.as_str(),
            Verdict::new(Status::True, "Ready").message("all good"),
        )
        .unwrap();
    }

    let before = dhat::HeapStats::get();
    for round in 0..100usize {
        let name: &String = &names[round % names.len()];
        // No-op, borrowed as `&str` and as `&String`.
        let verdict = || Verdict::new(Status::True, "Ready").message("all good");
        let change = list
            .set_with(&clock, Some(1), black_box(name.as_str()), verdict())
            .unwrap();
        assert_eq!(change, Change::Unchanged);
        let change = list
            .set_with(&clock, Some(1), black_box(name), verdict())
            .unwrap();
        assert_eq!(change, Change::Unchanged);
        // Update: a new reason and message that fit the stored strings.
        let change = list
            .set_with(
                &clock,
                Some(1),
                black_box(name.as_str()),
                Verdict::new(Status::True, "Slept").message("all fine"),
            )
            .unwrap();
        assert_eq!(change, Change::Updated);
        // Transition, and back.
        let change = list
            .set_with(
                &clock,
                Some(1),
                black_box(name.as_str()),
                Verdict::new(Status::False, "Ready").message("all good"),
            )
            .unwrap();
        assert_eq!(change, Change::Transitioned { from: Status::True });
        let change = list
            .set_with(&clock, Some(1), black_box(name), verdict())
            .unwrap();
        assert_eq!(
            change,
            Change::Transitioned {
                from: Status::False
            }
        );
        assert!(black_box(&list).is_true(name.as_str()));
        assert!(black_box(&list).find(name.as_str()).is_some());
    }
    let after = dhat::HeapStats::get();
    dhat::assert_eq!(after.total_blocks, before.total_blocks);
    dhat::assert_eq!(after.total_bytes, before.total_bytes);

    // A new type is copied into the list: the counter sees it.
    let before_add = dhat::HeapStats::get();
    list.set_with(
        &clock,
        Some(1),
        "Cond32",
        Verdict::new(Status::True, "Ready"),
    )
    .unwrap();
    let added = dhat::HeapStats::get();
    dhat::assert!(added.total_blocks > before_add.total_blocks);
}
