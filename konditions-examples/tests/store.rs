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

fn token(n: u128) -> FencingToken {
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
async fn an_unreachable_database_is_unavailable_with_the_cause() {
    let mut config = config();
    // A port nothing listens on.
    config.port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = Store::new(&config, 2).expect("the pool is created lazily");
    let table = TableName::new("students").unwrap();
    match store
        .upsert(&table, &row("a/b", "n", 1, "c"), token(90))
        .await
    {
        Err(e @ StoreError::Unavailable(_)) => {
            let text = e.to_string();
            assert!(text.contains("Connection refused"), "{text}");
            assert!(!text.contains("db error"), "{text}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(
        store.delete(&table, "a/b", token(1000)).await,
        Err(StoreError::Unavailable(_))
    ));
}

/// Each way of being refused says what to fix, and never the password.
#[tokio::test]
async fn a_refused_connection_says_why_without_the_password() {
    let good = config();
    let table = TableName::new("students").unwrap();
    let unavailable = |result: Result<_, StoreError>| match result {
        Err(e @ StoreError::Unavailable(_)) => e.to_string(),
        other => panic!("expected Unavailable, got {other:?}"),
    };

    let mut wrong_password = good.clone();
    wrong_password.password = "not-the-password-4f2a".into();
    let store = Store::new(&wrong_password, 1).unwrap();
    let text = unavailable(store.check_table(&table).await.map(|_| ()));
    assert!(
        text.contains(&format!(
            "password authentication failed for user \"{}\"",
            good.user
        )),
        "{text}"
    );
    assert!(text.contains("PSQL_PASSWORD"), "{text}");
    assert!(!text.contains("not-the-password-4f2a"), "{text}");
    assert!(!text.contains(&good.password), "{text}");
    assert!(!text.contains("db error"), "{text}");

    let mut unknown_database = good.clone();
    unknown_database.dbname = "no_such_database_24".into();
    let store = Store::new(&unknown_database, 1).unwrap();
    let text = unavailable(store.ping().await);
    assert!(
        text.contains("database \"no_such_database_24\" does not exist"),
        "{text}"
    );
    assert!(text.contains("PSQL_DBNAME"), "{text}");
    assert!(!text.contains(&good.password), "{text}");

    // A server that accepts the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut hanging = good.clone();
    hanging.port = silent.local_addr().unwrap().port();
    let store = Store::new(&hanging, 1).unwrap();
    let text = unavailable(store.ping().await);
    assert!(text.contains("timed out"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", hanging.port)),
        "{text}"
    );
    drop(silent);
}

#[tokio::test]
async fn a_stale_token_changes_nothing_and_a_deleted_row_stays_deleted() {
    stale_tokens_are_refused(COLUMNS).await;
}

/// The fences table alone refuses stale writes: the tutorial's table, with
/// no fencing_token column, is as safe.
#[tokio::test]
async fn a_stale_token_is_refused_with_the_tutorials_table() {
    stale_tokens_are_refused(TUTORIAL_COLUMNS).await;
}

async fn stale_tokens_are_refused(columns: &str) {
    let config = config();
    let db = direct(&config).await;
    let table = fresh_table(&db, columns).await;
    let store = Store::new(&config, 2).unwrap();
    let with_column = columns.contains("fencing_token");
    assert_eq!(
        store.check_table(&table).await.unwrap().fencing_token,
        with_column
    );
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
    if with_column {
        let token_column: i64 = db
            .query_one(
                &format!("SELECT fencing_token FROM {} WHERE id = $1", table.quoted()),
                &[&id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(token_column, 200, "the row records the token that wrote it");
    }
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
async fn the_tutorials_table_is_used_as_it_is() {
    let config = config();
    let db = direct(&config).await;
    // VARCHAR columns, as a table made by hand for the tutorial may have.
    let table = fresh_table(
        &db,
        "id VARCHAR(300) PRIMARY KEY, name VARCHAR(100) NOT NULL, age INTEGER NOT NULL, country VARCHAR(100) NOT NULL",
    )
    .await;
    let store = Store::new(&config, 2).unwrap();
    let shape = store.check_table(&table).await.expect("usable as it is");
    assert!(!shape.fencing_token);
    assert!(
        store
            .upsert(&table, &row("ns/t", "tia", 1, "chile"), token(5))
            .await
            .unwrap()
    );
    assert!(
        store
            .upsert(&table, &row("ns/t", "tia", 2, "chile"), token(6))
            .await
            .unwrap()
    );
    assert_eq!(
        rows(&db, &table).await,
        vec![("ns/t".into(), "tia".into(), 2, "chile".into())]
    );

    // Adding the column later: the next check sees it, writes record it.
    db.batch_execute(&format!(
        "ALTER TABLE {table} ADD COLUMN fencing_token BIGINT NOT NULL DEFAULT 0"
    ))
    .await
    .unwrap();
    assert!(store.check_table(&table).await.unwrap().fencing_token);
    assert!(
        store
            .upsert(&table, &row("ns/t", "tia", 3, "chile"), token(7))
            .await
            .unwrap()
    );
    let recorded: i64 = db
        .query_one(
            &format!("SELECT fencing_token FROM {table} WHERE id = 'ns/t'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 7);
    assert!(store.delete(&table, "ns/t", token(8)).await.unwrap());
}

#[tokio::test]
async fn a_column_of_the_wrong_type_is_named() {
    let config = config();
    let db = direct(&config).await;
    let store = Store::new(&config, 2).unwrap();
    for (columns, named) in [
        (
            "id TEXT PRIMARY KEY, name TEXT, age BIGINT, country TEXT",
            "column \"age\" is int8, not INTEGER",
        ),
        (
            "id TEXT PRIMARY KEY, name TEXT, age INTEGER, country TEXT, fencing_token TEXT",
            "column \"fencing_token\" is text, not BIGINT",
        ),
    ] {
        let table = fresh_table(&db, columns).await;
        match store.check_table(&table).await {
            Err(e @ StoreError::TableIncompatible { .. }) => {
                assert!(e.to_string().contains(named), "{e}")
            }
            other => panic!("{columns}: expected TableIncompatible, got {other:?}"),
        }
    }
}

// The upsert and the delete are prepared once per connection: one
// connection here, so every statement below goes through the same cache.

#[tokio::test]
async fn a_table_dropped_and_created_again_is_written_on_the_same_connection() {
    let config = config();
    let db = direct(&config).await;
    let table = fresh_table(&db, COLUMNS).await;
    let store = Store::new(&config, 1).unwrap();
    store.check_table(&table).await.unwrap();
    assert!(
        store
            .upsert(&table, &row("a/b", "ann", 1, "chile"), token(1))
            .await
            .unwrap()
    );

    db.batch_execute(&format!("DROP TABLE {}", table.quoted()))
        .await
        .unwrap();
    match store
        .upsert(&table, &row("a/b", "ann", 2, "chile"), token(2))
        .await
    {
        Err(StoreError::TableMissing(t)) => assert_eq!(t, table),
        other => panic!("expected TableMissing, got {other:?}"),
    }
    assert!(!store.delete(&table, "a/b", token(3)).await.unwrap());

    // Created again with the other shape (no fencing_token column).
    db.batch_execute(&format!(
        "CREATE TABLE {} ({TUTORIAL_COLUMNS})",
        table.quoted()
    ))
    .await
    .unwrap();
    assert!(!store.check_table(&table).await.unwrap().fencing_token);
    assert!(
        store
            .upsert(&table, &row("a/b", "ann", 3, "chile"), token(4))
            .await
            .unwrap()
    );
    assert_eq!(
        rows(&db, &table).await,
        vec![("a/b".into(), "ann".into(), 3, "chile".into())]
    );
    assert!(store.delete(&table, "a/b", token(5)).await.unwrap());
    assert!(rows(&db, &table).await.is_empty());
}

#[tokio::test]
async fn more_tables_than_a_connection_keeps_prepared_are_all_written() {
    let config = config();
    let db = direct(&config).await;
    let store = Store::new(&config, 1).unwrap();
    // Two statements per table: past the connection's limit of 64 twice.
    let mut tables = Vec::new();
    for _ in 0..70 {
        tables.push(fresh_table(&db, COLUMNS).await);
    }
    for round in 1..=2 {
        for table in &tables {
            store.check_table(table).await.unwrap();
            assert!(
                store
                    .upsert(
                        table,
                        &row("x/y", "yo", round, "peru"),
                        token(round as u128)
                    )
                    .await
                    .unwrap()
            );
        }
    }
    for table in &tables {
        assert_eq!(
            rows(&db, table).await,
            vec![("x/y".into(), "yo".into(), 2, "peru".into())]
        );
        assert!(store.delete(table, "x/y", token(3)).await.unwrap());
    }
}
