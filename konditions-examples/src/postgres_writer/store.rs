//! The rows the operator writes, and the only SQL it runs.
//!
//! Every value travels as a bind parameter; the one thing that cannot be a
//! parameter, the table name, is a [`TableName`]: validated against a strict
//! identifier pattern (the CRD schema enforces the same pattern) and quoted.
//!
//! # Fencing
//!
//! Every write carries the [`FencingToken`] of the lock it runs under. The
//! operator keeps the greatest token it has seen per row in
//! [`FENCES_TABLE`] (created when missing), and a write with a smaller
//! token changes nothing and fails with [`StoreError::Fenced`]: a replica
//! that was paused past its lease cannot write an older spec over a newer
//! one, nor bring back a deleted row (the fence outlives the row, as a
//! tombstone). The fences table alone gives that safety, so the row's table
//! can be the kubebuilder tutorial's `(id, name, age, country)` as it is;
//! when it also has a `fencing_token BIGINT` column, the row records there
//! the token of the write that last changed it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use konditions_core::lock::{FencingToken, TokenOutOfRange};
use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::tls::{self, TlsError};
use super::{PostgresConfig, SslMode};

/// The table that keeps the greatest fencing token written per row: a
/// write with a smaller token is refused ([`StoreError::Fenced`]), and the
/// fence outlives a deleted row so a stale write cannot bring it back.
pub const FENCES_TABLE: &str = "postgres_writer_fences";

/// The pattern of the text columns: anything but a NUL character, which
/// PostgreSQL text cannot hold (so the API server refuses it up front,
/// instead of the operator failing on it forever).
pub const TEXT_PATTERN: &str = r"^[^\x00]*$";

/// The pattern a table name must match: a lower-case SQL identifier.
/// Lower case only, so the name means the same quoted or not.
pub const TABLE_NAME_PATTERN: &str = "^[a-z_][a-z0-9_]{0,62}$";

/// A validated table name.
///
/// ```
/// use konditions_examples::postgres_writer::TableName;
///
/// assert_eq!(TableName::new("students")?.quoted(), "\"students\"");
/// assert!(TableName::new("students; DROP TABLE x").is_err());
/// assert!(TableName::new("Students").is_err());
/// # Ok::<(), konditions_examples::postgres_writer::InvalidTableName>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableName(String);

/// A table name that does not match [`TABLE_NAME_PATTERN`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a valid table name: use 1 to 63 lower-case letters, digits and underscores, not starting with a digit"
)]
pub struct InvalidTableName(pub String);

impl TableName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, InvalidTableName> {
        let mut chars = name.chars();
        let valid = name.len() <= 63
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidTableName(name.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted as an SQL identifier. The pattern already excludes
    /// quotes; doubling them keeps this correct on its own.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One row: what a PostgresWriter resource asks to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// `<namespace>/<name>` of the resource: unique per resource.
    pub id: String,
    /// `spec.name`.
    pub name: String,
    /// `spec.age`.
    pub age: i32,
    /// `spec.country`.
    pub country: String,
}

/// Why a statement failed, in the terms the operator reports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refuses the operator (down,
    /// refusing connections, timing out, a failed TLS handshake, a wrong
    /// password, an unknown database): the text says which, never with a
    /// password in it.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The table does not exist.
    #[error("table \"{0}\" does not exist")]
    TableMissing(TableName),
    /// The table exists but is not shaped as the operator needs.
    #[error(
        "table \"{table}\" cannot hold the rows: {detail}; it needs id TEXT PRIMARY KEY, name TEXT, age INTEGER, country TEXT (the tutorial's table), and may have fencing_token BIGINT"
    )]
    TableIncompatible {
        /// The table.
        table: TableName,
        /// What PostgreSQL said.
        detail: String,
    },
    /// A value PostgreSQL cannot store as text (it contains a NUL byte).
    #[error("spec.{field} contains a NUL character, which PostgreSQL text cannot hold")]
    InvalidValue {
        /// The spec field.
        field: &'static str,
    },
    /// A write under an older lock than one that already wrote this row:
    /// refused, nothing changed.
    #[error(
        "row {id} was written under a newer lock than fencing token {token}; this write is stale and was refused"
    )]
    Fenced {
        /// The row.
        id: String,
        /// The refused token.
        token: FencingToken,
    },
    /// The lock's fencing token does not fit the fence table's `BIGINT`
    /// (only an API server not backed by etcd gives such resource versions).
    #[error(transparent)]
    TokenOutOfRange(#[from] TokenOutOfRange),
    /// Any other database error, with what PostgreSQL said.
    #[error("query failed: {0}")]
    Query(String),
    /// The TLS settings cannot be used (at start-up).
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl StoreError {
    fn classify(error: tokio_postgres::Error, table: &TableName) -> Self {
        match error.code() {
            Some(code) if *code == SqlState::UNDEFINED_TABLE => Self::TableMissing(table.clone()),
            Some(code)
                if *code == SqlState::UNDEFINED_COLUMN
                    || *code == SqlState::INVALID_COLUMN_REFERENCE
                    || *code == SqlState::DATATYPE_MISMATCH =>
            {
                Self::TableIncompatible {
                    table: table.clone(),
                    detail: error
                        .as_db_error()
                        .map_or_else(|| error.to_string(), |e| e.message().to_owned()),
                }
            }
            Some(_) => Self::Query(cause(&error)),
            // No SQLSTATE: the connection broke, not the statement.
            None => Self::Unavailable(cause(&error)),
        }
    }
}

/// What went wrong, in words a user can act on: PostgreSQL's own message
/// when it answered (`password authentication failed for user "x"`,
/// `database "y" does not exist`), else the chain of causes
/// (`error connecting to server: Connection refused`), never tokio-postgres'
/// bare `db error`.
fn cause(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        let hint = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            " (check PSQL_USER and PSQL_PASSWORD)"
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            " (check PSQL_DBNAME)"
        } else {
            ""
        };
        return format!("{}{hint}", db.message());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let more = cause.to_string();
        // tokio-postgres repeats its cause in its own message.
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    if text.contains("invalid peer certificate") {
        text.push_str(
            " (the server's certificate is not signed by a CA of PSQL_SSLROOTCERT, or does not name PSQL_HOST)",
        );
    } else if text.contains("server does not support TLS") {
        text.push_str(" (PSQL_SSLMODE asks for TLS and the server has ssl = off)");
    }
    text
}

/// What the table check found about a usable table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableShape {
    /// Whether the table has the optional `fencing_token` column, in which
    /// each row records the token of the write that last changed it.
    pub fencing_token: bool,
}

/// Where the rows go: the operations the controller needs. [`Store`] is
/// the PostgreSQL one; the controller's fast tests use an in-memory fake.
pub trait Rows: Clone + Send + Sync + 'static {
    /// See [`Store::check_table`].
    fn check_table(
        &self,
        table: &TableName,
    ) -> impl Future<Output = Result<TableShape, StoreError>> + Send;

    /// See [`Store::ping`].
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// See [`Store::upsert`].
    fn upsert(
        &self,
        table: &TableName,
        row: &Row,
        token: FencingToken,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// See [`Store::delete`].
    fn delete(
        &self,
        table: &TableName,
        id: &str,
        token: FencingToken,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl Rows for Store {
    async fn check_table(&self, table: &TableName) -> Result<TableShape, StoreError> {
        Store::check_table(self, table).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Store::ping(self).await
    }

    async fn upsert(
        &self,
        table: &TableName,
        row: &Row,
        token: FencingToken,
    ) -> Result<bool, StoreError> {
        Store::upsert(self, table, row, token).await
    }

    async fn delete(
        &self,
        table: &TableName,
        id: &str,
        token: FencingToken,
    ) -> Result<bool, StoreError> {
        Store::delete(self, table, id, token).await
    }
}

/// The connection pool, one for the operator's lifetime.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Set once the fences table is known to exist.
    fences: Arc<OnceCell<()>>,
    /// The shape each table had at its last check.
    shapes: Arc<Mutex<HashMap<TableName, TableShape>>>,
    /// `host:port`, for messages.
    server: String,
    /// Removed from any message, should a server ever echo it.
    password: String,
}

/// How long to wait for a connection before reporting the database down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Creates the pool. Connections are opened lazily, so this succeeds
    /// while the database is down; statements then fail with
    /// [`StoreError::Unavailable`] until it returns. TLS follows
    /// [`PostgresConfig::ssl_mode`]; a CA file that cannot be used fails
    /// here ([`StoreError::Tls`]).
    pub fn new(config: &PostgresConfig, max_connections: usize) -> Result<Self, StoreError> {
        let mut pg = tokio_postgres::Config::new();
        pg.host(&config.host)
            .port(config.port)
            .dbname(&config.dbname)
            .user(&config.user)
            .password(&config.password)
            .application_name("postgres-writer")
            .connect_timeout(CONNECT_TIMEOUT)
            .ssl_mode(match config.ssl_mode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
            });
        let connector = tls::connector(config.ssl_mode, config.ssl_root_cert.as_deref())?;
        let manager = Manager::from_config(
            pg,
            connector,
            // Verified: a connection that died with a database restart is
            // replaced instead of failing the next statement.
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            pool,
            fences: Default::default(),
            shapes: Default::default(),
            server: format!("{}:{}", config.host, config.port),
            password: config.password.clone(),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|error| {
            let text = match error {
                PoolError::Backend(e) => cause(&e),
                PoolError::Timeout(TimeoutType::Create) => format!(
                    "connecting to {} timed out after {CONNECT_TIMEOUT:?}",
                    self.server
                ),
                PoolError::Timeout(TimeoutType::Wait) => format!(
                    "no connection to {} became free within {CONNECT_TIMEOUT:?}",
                    self.server
                ),
                PoolError::Timeout(TimeoutType::Recycle) => format!(
                    "checking a pooled connection to {} timed out after {CONNECT_TIMEOUT:?}",
                    self.server
                ),
                other => other.to_string(),
            };
            StoreError::Unavailable(self.redact(text))
        })
    }

    fn redact(&self, text: String) -> String {
        if self.password.is_empty() || !text.contains(&self.password) {
            text
        } else {
            text.replace(&self.password, "<redacted>")
        }
    }

    /// Whether the database answers at all (a connection and `SELECT 1`):
    /// what the operator polls, while resources wait for it, to retry them
    /// as soon as it is back.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| StoreError::Unavailable(self.redact(cause(&e))))?;
        Ok(())
    }

    /// Checks that the table exists and has the columns the operator
    /// writes (`id`, `name`, `age`, `country`, and whether it has the
    /// optional `fencing_token`), and creates the fences table when it is
    /// missing.
    #[tracing::instrument(skip(self), fields(table = %table))]
    pub async fn check_table(&self, table: &TableName) -> Result<TableShape, StoreError> {
        let client = self.client().await?;
        self.ensure_fences(&client).await?;
        self.shape(&client, table).await
    }

    /// The table's columns, from the statement PostgreSQL prepares for
    /// `SELECT *` (no row is read); remembered for the writes.
    async fn shape(
        &self,
        client: &deadpool_postgres::Object,
        table: &TableName,
    ) -> Result<TableShape, StoreError> {
        let sql = format!("SELECT * FROM {} WHERE false", table.quoted());
        let statement = client
            .prepare(&sql)
            .await
            .map_err(|e| StoreError::classify(e, table))?;
        let column = |name: &str| {
            statement
                .columns()
                .iter()
                .find(|c| c.name() == name)
                .map(|c| c.type_().clone())
        };
        let incompatible = |detail: String| StoreError::TableIncompatible {
            table: table.clone(),
            detail,
        };
        let text = [Type::TEXT, Type::VARCHAR, Type::BPCHAR];
        for (name, accepted, wanted) in [
            ("id", &text[..], "TEXT"),
            ("name", &text[..], "TEXT"),
            ("age", &[Type::INT4][..], "INTEGER"),
            ("country", &text[..], "TEXT"),
        ] {
            match column(name) {
                None => return Err(incompatible(format!("column \"{name}\" does not exist"))),
                Some(found) if !accepted.contains(&found) => {
                    return Err(incompatible(format!(
                        "column \"{name}\" is {found}, not {wanted}"
                    )));
                }
                Some(_) => {}
            }
        }
        let shape = TableShape {
            fencing_token: match column("fencing_token") {
                None => false,
                Some(Type::INT8) => true,
                Some(found) => {
                    return Err(incompatible(format!(
                        "column \"fencing_token\" is {found}, not BIGINT"
                    )));
                }
            },
        };
        self.shapes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.clone(), shape);
        Ok(shape)
    }

    async fn ensure_fences(&self, client: &deadpool_postgres::Object) -> Result<(), StoreError> {
        self.fences
            .get_or_try_init(|| async {
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS {FENCES_TABLE} (resource TEXT PRIMARY KEY, fencing_token BIGINT NOT NULL)"
                );
                match client.batch_execute(&sql).await {
                    Ok(()) => Ok(()),
                    // Two operators creating it at once: one wins, both can use it.
                    Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(()),
                    Err(e) if e.code().is_none() => Err(StoreError::Unavailable(cause(&e))),
                    Err(e) => Err(StoreError::Query(cause(&e))),
                }
            })
            .await
            .map(|_| ())
    }

    /// Inserts the row, or updates it when a row with its id exists, under
    /// the fencing token `token`. Returns whether anything changed (an
    /// identical row is left alone). A token smaller than the greatest one
    /// seen for the row is refused: [`StoreError::Fenced`]. The row's
    /// `fencing_token` column, when the table has one, records `token`.
    #[tracing::instrument(skip(self, row), fields(table = %table, id = %row.id, %token))]
    pub async fn upsert(
        &self,
        table: &TableName,
        row: &Row,
        token: FencingToken,
    ) -> Result<bool, StoreError> {
        // Caught before the round trip, with the field named.
        for (field, value) in [
            ("name", &row.name),
            ("country", &row.country),
            ("id", &row.id),
        ] {
            if value.contains('\0') {
                return Err(StoreError::InvalidValue { field });
            }
        }
        let client = self.client().await?;
        self.ensure_fences(&client).await?;
        let known = self
            .shapes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .copied();
        let shape = match known {
            Some(shape) => shape,
            None => self.shape(&client, table).await?,
        };
        // The row's own record of the token, when it has the column.
        let (column, value, set) = if shape.fencing_token {
            (
                ", fencing_token",
                ", $1",
                ", fencing_token = EXCLUDED.fencing_token",
            )
        } else {
            ("", "", "")
        };
        // One statement: the fence moves forward (or the statement changes
        // nothing), then the row is written only if it did. `$1::bigint`:
        // without the column, the token appears only in the fence.
        let sql = format!(
            "WITH fence AS ({fence}), \
             written AS (\
               INSERT INTO {t} AS t (id, name, age, country{column}) \
               SELECT $2, $3, $4, $5{value} FROM fence \
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, age = EXCLUDED.age, \
                 country = EXCLUDED.country{set} \
               WHERE (t.name, t.age, t.country) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.age, EXCLUDED.country) \
               RETURNING 1) \
             SELECT (SELECT count(*) FROM fence), (SELECT count(*) FROM written)",
            fence = fence_sql("$6"),
            t = table.quoted()
        );
        let resource = fence_key(table, &row.id);
        let counts = query_one_prepared(
            &client,
            &sql,
            &[
                &token.to_i64()?,
                &row.id,
                &row.name,
                &row.age,
                &row.country,
                &resource,
            ],
        )
        .await
        .map_err(|e| match e.code() {
            // ON CONFLICT needs a unique constraint on id.
            Some(code) if *code == SqlState::INVALID_COLUMN_REFERENCE => {
                StoreError::TableIncompatible {
                    table: table.clone(),
                    detail: "no unique constraint on column id".into(),
                }
            }
            _ => {
                // The table may have changed since its shape was read.
                self.shapes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(table);
                StoreError::classify(e, table)
            }
        })?;
        fenced(&counts, &row.id, token)
    }

    /// Deletes the row with `id` under the fencing token `token`. Returns
    /// whether a row was deleted. A missing table means there is nothing to
    /// delete. The fence stays, so a stale write cannot bring the row back.
    #[tracing::instrument(skip(self), fields(table = %table, %token))]
    pub async fn delete(
        &self,
        table: &TableName,
        id: &str,
        token: FencingToken,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        self.ensure_fences(&client).await?;
        let sql = format!(
            "WITH fence AS ({fence}), \
             deleted AS (DELETE FROM {t} WHERE id = $2 AND EXISTS (SELECT 1 FROM fence) RETURNING 1) \
             SELECT (SELECT count(*) FROM fence), (SELECT count(*) FROM deleted)",
            fence = fence_sql("$3"),
            t = table.quoted()
        );
        let resource = fence_key(table, id);
        match query_one_prepared(&client, &sql, &[&token.to_i64()?, &id, &resource]).await {
            Ok(counts) => fenced(&counts, id, token),
            Err(e) => match StoreError::classify(e, table) {
                StoreError::TableMissing(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}

/// How many statements a connection keeps prepared: two per table and
/// shape (the upsert, the delete).
const PREPARED_PER_CONNECTION: usize = 64;

/// Runs `sql`, a statement the store sends again and again (one text per
/// table and shape), prepared once per connection: each later run is one
/// round trip, without PostgreSQL parsing and planning it again. After an
/// error (a table dropped or altered, say) the connection forgets its
/// prepared statements, so the next run prepares them afresh; and at
/// [`PREPARED_PER_CONNECTION`] statements (resources naming many tables),
/// so the server's memory for them stays bounded.
async fn query_one_prepared(
    client: &deadpool_postgres::Object,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<tokio_postgres::Row, tokio_postgres::Error> {
    if client.statement_cache.size() >= PREPARED_PER_CONNECTION {
        // Dropped statements are closed on the server.
        client.statement_cache.clear();
    }
    let result = match client.prepare_cached(sql).await {
        Ok(statement) => client.query_one(&statement, params).await,
        Err(error) => Err(error),
    };
    if result.is_err() {
        client.statement_cache.clear();
    }
    result
}

/// The CTE that moves the fence of `resource` (the row's key) to token
/// `$1`, or returns no row when a greater token is already there.
fn fence_sql(resource: &str) -> String {
    format!(
        "INSERT INTO {FENCES_TABLE} AS f (resource, fencing_token) VALUES ({resource}, $1::bigint) \
         ON CONFLICT (resource) DO UPDATE SET fencing_token = EXCLUDED.fencing_token \
         WHERE f.fencing_token <= EXCLUDED.fencing_token RETURNING 1"
    )
}

/// The fence of a row: its table and id (a resource's table never changes).
fn fence_key(table: &TableName, id: &str) -> String {
    format!("{table}/{id}")
}

/// `(fence moved, rows changed)` as the result of a write.
fn fenced(counts: &tokio_postgres::Row, id: &str, token: FencingToken) -> Result<bool, StoreError> {
    let (fence, changed): (i64, i64) = (counts.get(0), counts.get(1));
    if fence == 0 {
        return Err(StoreError::Fenced {
            id: id.to_owned(),
            token,
        });
    }
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for good in ["students", "_x", "a1_b2", &"a".repeat(63)] {
            assert!(TableName::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Students",
            "stu dents",
            "students;",
            "\"students\"",
            "a-b",
            "é",
            &"a".repeat(64),
            "students; DROP TABLE students;--",
            "public.students",
        ] {
            let err = TableName::new(bad).unwrap_err();
            assert!(
                err.to_string().contains("is not a valid table name"),
                "{bad}"
            );
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(TableName::new("t").unwrap().quoted(), "\"t\"");
        assert_eq!(TableName("a\"b".into()).quoted(), "\"a\"\"b\"");
    }
}
