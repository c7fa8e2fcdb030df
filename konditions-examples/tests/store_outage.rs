//! The store survives a PostgreSQL restart: statements fail as Unavailable
//! while the server is down, and the same pool works again when it is back,
//! with no manual action. Its own test binary: it stops the shared server,
//! and cargo runs test binaries one at a time.

use konditions_core::lock::FencingToken;
use konditions_examples::postgres_writer::{PostgresConfig, Row, Store, StoreError, TableName};

#[tokio::test]
async fn the_pool_recovers_after_a_database_restart() {
    let pg = xtask::local_postgres();
    let config = PostgresConfig::from_lookup(|name| pg.lookup(name)).unwrap();
    let store = Store::new(&config, 2).unwrap();
    let table = TableName::new(&format!("outage_{}", std::process::id())).unwrap();
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host={} port={} dbname={} user={} password={}",
            config.host, config.port, config.dbname, config.user, config.password
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE TABLE {} (id TEXT PRIMARY KEY, name TEXT, age INTEGER, country TEXT, fencing_token BIGINT)",
            table.quoted()
        ))
        .await
        .unwrap();
    drop(client);
    let row = |age| Row {
        id: "ns/r".into(),
        name: "n".into(),
        age,
        country: "c".into(),
    };
    assert!(
        store
            .upsert(&table, &row(1), FencingToken::new(1))
            .await
            .unwrap()
    );

    pg.stop();
    let down = store.upsert(&table, &row(2), FencingToken::new(2)).await;
    pg.start();
    assert!(
        matches!(down, Err(StoreError::Unavailable(_))),
        "while down: {down:?}"
    );

    // Back up: the pool replaces its dead connection by itself.
    assert!(
        store
            .upsert(&table, &row(3), FencingToken::new(3))
            .await
            .expect("after the restart")
    );
    assert!(
        store
            .delete(&table, "ns/r", FencingToken::new(9))
            .await
            .unwrap()
    );
}
