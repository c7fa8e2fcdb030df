//! The PostgresWriter store against a REAL PostgreSQL (started by
//! `cargo xtask test`): upsert semantics, deletes, hostile values, and the
//! errors the operator turns into conditions.

use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use konditions_core::lock::FencingToken;
use konditions_examples::postgres_writer::{Row, Store, StoreError, TableName};

use common::{connect as direct, postgres_config as config};

/// A table of its own for each test, so tests run in parallel.
async fn fresh_table(client: &tokio_postgres::Client, columns: &str) -> TableName {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let table = TableName::new(&name).unwrap();
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {0}; CREATE TABLE {0} ({columns})",
            table.quoted()
        ))
        .await
        .expect("create table");
    table
}

const COLUMNS: &str = "id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, country TEXT NOT NULL, fencing_token BIGINT NOT NULL DEFAULT 0";

/// The tutorial's table, without a fencing_token column.
const TUTORIAL_COLUMNS: &str =
    "id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, country TEXT NOT NULL";

fn token(n: u64) -> FencingToken {
    FencingToken::new(n)
}

async fn rows(
    client: &tokio_postgres::Client,
    table: &TableName,
) -> Vec<(String, String, i32, String)> {
    client
        .query(
            &format!(
                "SELECT id, name, age, country FROM {} ORDER BY id",
                table.quoted()
            ),
            &[],
        )
        .await
        .expect("select")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn row(id: &str, name: &str, age: i32, country: &str) -> Row {
    Row {
        id: id.into(),
        name: name.into(),
        age,
        country: country.into(),
    }
}

#[tokio::test]
async fn upsert_inserts_updates_and_leaves_identical_rows_alone() {
    let config = config();
    let db = direct(&config).await;
    let table = fresh_table(&db, COLUMNS).await;
    let store = Store::new(&config, 4).unwrap();
    store.check_table(&table).await.expect("table is usable");

    assert!(
        store
            .upsert(
                &table,
                &row("default/sample-student", "alex", 23, "canada"),
                token(10)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .upsert(
                &table,
                &row("default/sample-student", "alex", 23, "canada"),
                token(20)
            )
            .await
            .unwrap(),
        "identical: no change"
    );
    assert!(
        store
            .upsert(
                &table,
                &row("default/sample-student", "alex", 24, "france"),
                token(30)
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .upsert(
                &table,
                &row("other/sample-student", "sam", 30, "peru"),
                token(40)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        rows(&db, &table).await,
        vec![
            (
                "default/sample-student".into(),
                "alex".into(),
                24,
                "france".into()
            ),
            (
                "other/sample-student".into(),
                "sam".into(),
                30,
                "peru".into()
            ),
        ]
    );

    assert!(
        store
            .delete(&table, "default/sample-student", token(1000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete(&table, "default/sample-student", token(1000))
            .await
            .unwrap(),
        "already gone"
    );
    assert_eq!(rows(&db, &table).await.len(), 1);
}

#[tokio::test]
async fn hostile_values_are_stored_literally() {
    let config = config();
    let db = direct(&config).await;
    let table = fresh_table(&db, COLUMNS).await;
    let store = Store::new(&config, 2).unwrap();
    let hostile = [
        "'); DROP TABLE students;--",
        "Robert'); DROP TABLE {t};--",
        "\" OR 1=1; --",
        "back\\slash $1 $$ quoted $$",
        "名前 🚀 odd\u{7f}\u{1b}[31m",
    ];
    for (i, value) in hostile.iter().enumerate() {
        let value = value.replace("{t}", table.as_str());
        let id = format!("ns/{value}");
        assert!(
            store
                .upsert(&table, &row(&id, &value, i as i32, &value), token(50))
                .await
                .unwrap()
        );
    }
    let stored = rows(&db, &table).await;
    assert_eq!(
        stored.len(),
        hostile.len(),
        "every row is there and the table still exists"
    );
    for value in hostile {
        let value = value.replace("{t}", table.as_str());
        assert!(
            stored
                .iter()
                .any(|(id, name, _, country)| *id == format!("ns/{value}")
                    && *name == value
                    && *country == value)
        );
    }
}

#[tokio::test]
async fn a_nul_character_is_refused_with_the_field_named() {
    let config = config();
    let db = direct(&config).await;
    let table = fresh_table(&db, COLUMNS).await;
    let store = Store::new(&config, 2).unwrap();
    match store
        .upsert(&table, &row("ns/x", "a\0b", 1, "c"), token(60))
        .await
    {
        Err(e @ StoreError::InvalidValue { field: "name" }) => {
            assert!(e.to_string().contains("spec.name"))
        }
        other => panic!("expected InvalidValue, got {other:?}"),
    }
    assert!(rows(&db, &table).await.is_empty());
}

#[tokio::test]
async fn a_missing_table_is_named() {
    let config = config();
    let store = Store::new(&config, 2).unwrap();
    let table = TableName::new("no_such_table_for_konditions").unwrap();
    match store
        .upsert(&table, &row("a/b", "n", 1, "c"), token(70))
        .await
    {
        Err(StoreError::TableMissing(t)) => assert_eq!(t, table),
        other => panic!("expected TableMissing, got {other:?}"),
    }
    let err = store.check_table(&table).await.unwrap_err();
    assert!(
        err.to_string().contains("no_such_table_for_konditions"),
        "{err}"
    );
    // Nothing to delete from a table that does not exist.
    assert!(!store.delete(&table, "a/b", token(1000)).await.unwrap());
}

#[tokio::test]
async fn an_incompatible_table_is_reported() {
    let config = config();
    let db = direct(&config).await;
    let store = Store::new(&config, 2).unwrap();

    let no_key = fresh_table(
        &db,
        "id TEXT, name TEXT, age INTEGER, country TEXT, fencing_token BIGINT",
    )
    .await;
    match store
        .upsert(&no_key, &row("a/b", "n", 1, "c"), token(80))
        .await
    {
        Err(StoreError::TableIncompatible { table, detail }) => {
            assert_eq!(table, no_key);
            assert!(detail.contains("unique"), "{detail}");
        }
        other => panic!("expected TableIncompatible, got {other:?}"),
    }

    let missing_column = fresh_table(&db, "id TEXT PRIMARY KEY, name TEXT").await;
    assert!(matches!(
        store.check_table(&missing_column).await,
        Err(StoreError::TableIncompatible { .. })
    ));
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let mut config = config();
    // A port nothing listens on.
    config.port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = Store::new(&config, 2).expect("the pool is created lazily");
    let table = TableName::new("students").unwrap();
    assert!(matches!(
        store
            .upsert(&table, &row("a/b", "n", 1, "c"), token(90))
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.delete(&table, "a/b", token(1000)).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_stale_token_changes_nothing_and_a_deleted_row_stays_deleted() {
    let config = config();
    let db = direct(&config).await;
    let table = fresh_table(&db, COLUMNS).await;
    let store = Store::new(&config, 2).unwrap();
    let id = "ns/fenced";
    let stored = |db| rows(db, &table);

    assert!(
        store
            .upsert(&table, &row(id, "gen", 1, "one"), token(100))
            .await
            .unwrap()
    );
    assert!(
        store
            .upsert(&table, &row(id, "gen", 2, "two"), token(200))
            .await
            .unwrap()
    );
    // A replica paused past its lease comes back with generation 1's spec.
    match store
        .upsert(&table, &row(id, "gen", 1, "one"), token(150))
        .await
    {
        Err(e @ StoreError::Fenced { .. }) => assert!(e.to_string().contains("150"), "{e}"),
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert_eq!(
        stored(&db).await,
        vec![(id.into(), "gen".into(), 2, "two".into())]
    );
    let token_column: i64 = db
        .query_one(
            &format!("SELECT fencing_token FROM {} WHERE id = $1", table.quoted()),
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(token_column, 200, "the row records the token that wrote it");
    // The same token again (a retry within one acquisition) is fine.
    assert!(
        !store
            .upsert(&table, &row(id, "gen", 2, "two"), token(200))
            .await
            .unwrap()
    );

    // A stale delete is refused too; the current one deletes.
    assert!(matches!(
        store.delete(&table, id, token(199)).await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(store.delete(&table, id, token(300)).await.unwrap());
    // The paused replica's write after the deletion does not bring it back.
    assert!(matches!(
        store
            .upsert(&table, &row(id, "gen", 2, "two"), token(250))
            .await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(stored(&db).await.is_empty());
}

#[tokio::test]
async fn a_table_made_for_the_tutorial_says_how_to_migrate() {
    let config = config();
    let db = direct(&config).await;
    let table = fresh_table(&db, TUTORIAL_COLUMNS).await;
    let store = Store::new(&config, 2).unwrap();
    let err = store.check_table(&table).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TableIncompatible { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    let fix = format!("ALTER TABLE {table} ADD COLUMN fencing_token BIGINT NOT NULL DEFAULT 0");
    assert!(text.contains(&fix), "{text}");
    db.batch_execute(&fix).await.unwrap();
    store
        .check_table(&table)
        .await
        .expect("usable after the migration");
    assert!(
        store
            .upsert(&table, &row("ns/m", "n", 1, "c"), token(5))
            .await
            .unwrap()
    );
}
