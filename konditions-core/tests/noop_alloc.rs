//! A `set` that changes nothing must not touch the heap: reconcilers call it
//! for every condition on every reconcile. Counted with dhat's global
//! allocator (its own test binary: one allocator, one profiler per process).

#[path = "common/numbered.rs"]
mod numbered;

use std::hint::black_box;

use konditions_core::{Change, Conditions, ManualClock, Status, Verdict};
use numbered::Numbered;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn no_op_set_and_lookups_do_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
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
