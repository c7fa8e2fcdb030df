//! The PostgresWriter operator against the REAL API server and the REAL
//! PostgreSQL: create, update, delete; hostile values; a missing table;
//! two replicas writing each row exactly once.

mod common;

use common::{Harness, condition, ready};
use konditions_core::Status;
use konditions_examples::postgres_writer::{FINALIZER, PostgresWriterCondition::*};

#[tokio::test]
async fn create_update_delete_round_trip() {
    let h = Harness::with_table().await;
    let _operator = h.start_operator("replica-a");

    h.create("sample-student", h.spec("alex", 23)).await;
    let writer = h.wait_for("sample-student", "Ready", ready).await;
    assert_eq!(
        writer.metadata.finalizers.as_deref(),
        Some(&[FINALIZER.to_owned()][..])
    );
    let (status, reason, message, generation) = condition(&writer, RowWritten).unwrap();
    assert_eq!(
        (status, reason.as_str(), generation),
        (Status::True, "RowWritten", Some(1))
    );
    assert!(message.contains(&h.row_id("sample-student")), "{message}");
    let (status, reason, _, generation) = condition(&writer, TableReady).unwrap();
    assert_eq!(
        (status, reason.as_str(), generation),
        (Status::True, "TableFound", Some(1))
    );
    assert_eq!(
        h.rows().await,
        vec![(
            h.row_id("sample-student"),
            "alex".into(),
            23,
            "canada".into()
        )]
    );

    // A spec change updates the row (the tutorial's operator ignored it).
    update_then_delete(&h).await;
}

/// Changes the sample's spec (the row follows), deletes it (the row goes,
/// then the resource): one INSERT, one UPDATE, one DELETE in all.
async fn update_then_delete(h: &Harness) {
    h.patch_spec(
        "sample-student",
        serde_json::json!({"age": 24, "country": "france"}),
    )
    .await;
    h.wait_for("sample-student", "Ready for generation 2", |w| {
        w.metadata.generation == Some(2) && ready(w)
    })
    .await;
    assert_eq!(
        h.rows().await,
        vec![(
            h.row_id("sample-student"),
            "alex".into(),
            24,
            "france".into()
        )]
    );
    h.delete("sample-student").await;
    h.wait_gone("sample-student").await;
    assert!(h.rows().await.is_empty());
    assert_eq!(
        (
            h.audit("INSERT").await,
            h.audit("UPDATE").await,
            h.audit("DELETE").await
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn hostile_spec_values_are_stored_literally() {
    let h = Harness::with_table().await;
    let _operator = h.start_operator("replica-a");
    let hostile = "'); DROP TABLE students;--";
    let mut spec = h.spec(hostile, 0);
    spec.country = format!("x\"; DROP TABLE {};--", h.table.as_str());
    h.create("bobby-tables", spec.clone()).await;
    h.wait_for("bobby-tables", "Ready", ready).await;
    assert_eq!(
        h.rows().await,
        vec![(
            h.row_id("bobby-tables"),
            hostile.to_owned(),
            0,
            spec.country
        )]
    );
}

#[tokio::test]
async fn a_missing_table_is_named_and_the_operator_recovers_when_it_appears() {
    let h = Harness::without_table().await;
    let _operator = h.start_operator("replica-a");
    h.create("early", h.spec("sam", 30)).await;

    let writer = h
        .wait_for("early", "reporting the missing table", |w| {
            condition(w, TableReady)
                .is_some_and(|(s, r, _, _)| s == Status::False && r == "TableMissing")
        })
        .await;
    let (_, _, message, _) = condition(&writer, TableReady).unwrap();
    assert!(
        message.contains(h.table.as_str()),
        "the message names the table: {message}"
    );
    let (status, reason, _, _) = condition(&writer, Ready).unwrap();
    assert_eq!((status, reason.as_str()), (Status::False, "TableMissing"));

    // No manual action but creating the table.
    h.create_table().await;
    h.wait_for("early", "Ready once the table exists", ready)
        .await;
    assert_eq!(h.rows().await.len(), 1);
    assert_eq!(h.audit("INSERT").await, 1);
}

#[tokio::test]
async fn two_replicas_write_each_of_100_rows_exactly_once() {
    const N: usize = 100;
    let h = Harness::with_table().await;
    // Two replicas, each with its own client (its own watch and cache).
    let a = h.start_operator_with(konditions_testing::client().await, "replica-a");
    let b = h.start_operator_with(konditions_testing::client().await, "replica-b");

    for i in 0..N {
        h.create(&format!("w{i:03}"), h.spec(&format!("n{i}"), i as i32))
            .await;
    }
    for i in 0..N {
        h.wait_for(&format!("w{i:03}"), "Ready", ready).await;
    }
    assert_eq!(h.rows().await.len(), N);
    assert_eq!(
        h.audit("INSERT").await,
        N as i64,
        "every row inserted exactly once"
    );
    assert_eq!(h.audit("UPDATE").await, 0, "no row written twice");

    for i in 0..N {
        h.delete(&format!("w{i:03}")).await;
    }
    for i in 0..N {
        h.wait_gone(&format!("w{i:03}")).await;
    }
    assert!(h.rows().await.is_empty());
    assert_eq!(
        h.audit("DELETE").await,
        N as i64,
        "every row deleted exactly once"
    );
    a.stop().await;
    b.stop().await;
}

/// A missing table that appears: the resources that waited for it are
/// retried at once, not after their backoff (5 minutes here, from the first
/// failure; the wait is bounded by `common::WAIT`, 2 minutes).
#[tokio::test]
async fn a_table_that_appears_is_used_at_once() {
    let h = Harness::without_table().await;
    let _operator = h.start_operator_configured(
        h.client.clone(),
        "table-waiter",
        konditions_examples::postgres_writer::Metrics::default(),
        |options| {
            options.retry_backoff = konditions_core::lock::Backoff {
                initial: std::time::Duration::from_secs(300),
                max: std::time::Duration::from_secs(300),
            }
        },
    );
    h.create("early", h.spec("eli", 7)).await;
    h.wait_for("early", "reporting the missing table", |w| {
        condition(w, TableReady)
            .is_some_and(|(s, r, _, _)| s == Status::False && r == "TableMissing")
    })
    .await;
    h.create_table().await;
    h.wait_for(
        "early",
        "Ready well before its 5-minute backoff ends",
        ready,
    )
    .await;
    assert_eq!(h.audit("INSERT").await, 1);
}

/// The kubebuilder tutorial's table, unchanged: no fencing_token column.
#[tokio::test]
async fn the_tutorials_table_as_it_is() {
    let h = Harness::without_table().await;
    h.create_tutorial_table().await;
    let _operator = h.start_operator("tutorial");
    h.create("sample-student", h.spec("alex", 23)).await;
    let writer = h.wait_for("sample-student", "Ready", ready).await;
    let (status, reason, message, _) = condition(&writer, TableReady).unwrap();
    assert_eq!((status, reason.as_str()), (Status::True, "TableFound"));
    assert!(message.contains("no fencing_token column"), "{message}");
    update_then_delete(&h).await;
}
