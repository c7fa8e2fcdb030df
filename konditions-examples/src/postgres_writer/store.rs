//! The rows the operator writes, and the only SQL it runs.
//!
//! Every value travels as a bind parameter; the one thing that cannot be a
//! parameter, the table name, is a [`TableName`]: validated against a strict
//! identifier pattern (the CRD schema enforces the same pattern) and quoted.

use std::fmt;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::PostgresConfig;

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
    /// The database cannot be reached (down, refusing, timing out).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The table does not exist.
    #[error("table \"{0}\" does not exist")]
    TableMissing(TableName),
    /// The table exists but is not shaped as the operator needs.
    #[error(
        "table \"{table}\" cannot hold the rows: {detail}; it needs id TEXT PRIMARY KEY, name TEXT, age INTEGER, country TEXT"
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
    /// Any other database error.
    #[error("database error: {0}")]
    Query(tokio_postgres::Error),
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
            Some(_) => Self::Query(error),
            // No SQLSTATE: the connection broke, not the statement.
            None => Self::Unavailable(error.to_string()),
        }
    }
}

/// The connection pool, one for the operator's lifetime.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

/// How long to wait for a connection before reporting the database down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Creates the pool. Connections are opened lazily, so this succeeds
    /// while the database is down; statements then fail with
    /// [`StoreError::Unavailable`] until it returns.
    pub fn new(config: &PostgresConfig, max_connections: usize) -> Result<Self, StoreError> {
        let mut pg = tokio_postgres::Config::new();
        pg.host(&config.host)
            .port(config.port)
            .dbname(&config.dbname)
            .user(&config.user)
            .password(&config.password)
            .application_name("postgres-writer")
            .connect_timeout(CONNECT_TIMEOUT);
        let manager = Manager::from_config(
            pg,
            NoTls,
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
        Ok(Self { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Checks that the table exists and has the columns the operator writes.
    #[tracing::instrument(skip(self), fields(table = %table))]
    pub async fn check_table(&self, table: &TableName) -> Result<(), StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT id, name, age, country FROM {} WHERE false",
            table.quoted()
        );
        client
            .query(&sql, &[])
            .await
            .map_err(|e| StoreError::classify(e, table))?;
        Ok(())
    }

    /// Inserts the row, or updates it when a row with its id exists.
    /// Returns whether anything changed (an identical row is left alone).
    #[tracing::instrument(skip(self, row), fields(table = %table, id = %row.id))]
    pub async fn upsert(&self, table: &TableName, row: &Row) -> Result<bool, StoreError> {
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
        let sql = format!(
            "INSERT INTO {t} AS t (id, name, age, country) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, age = EXCLUDED.age, country = EXCLUDED.country \
             WHERE (t.name, t.age, t.country) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.age, EXCLUDED.country)",
            t = table.quoted()
        );
        let changed = client
            .execute(&sql, &[&row.id, &row.name, &row.age, &row.country])
            .await
            .map_err(|e| match e.code() {
                // ON CONFLICT needs a unique constraint on id.
                Some(code) if *code == SqlState::INVALID_COLUMN_REFERENCE => {
                    StoreError::TableIncompatible {
                        table: table.clone(),
                        detail: "no unique constraint on column id".into(),
                    }
                }
                _ => StoreError::classify(e, table),
            })?;
        Ok(changed > 0)
    }

    /// Deletes the row with `id`. Returns whether a row was deleted. A
    /// missing table means there is nothing to delete.
    #[tracing::instrument(skip(self), fields(table = %table))]
    pub async fn delete(&self, table: &TableName, id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let sql = format!("DELETE FROM {} WHERE id = $1", table.quoted());
        match client.execute(&sql, &[&id]).await {
            Ok(deleted) => Ok(deleted > 0),
            Err(e) => match StoreError::classify(e, table) {
                StoreError::TableMissing(_) => Ok(false),
                other => Err(other),
            },
        }
    }
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
