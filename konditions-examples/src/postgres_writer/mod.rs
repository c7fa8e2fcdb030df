//! The PostgresWriter operator: the kubebuilder tutorial's operator, done
//! right. A `PostgresWriter` resource asks for one row in a PostgreSQL table;
//! the operator writes it (an upsert, so spec changes update it), deletes it
//! when the resource goes, and reports what happened in conditions.

mod config;
pub mod controller;
pub mod endpoints;
mod health;
mod metrics;
mod recovery;
mod resource;
mod store;
mod tls;

pub use config::{ConfigError, PostgresConfig, SslMode};
pub use controller::FINALIZER;
pub use health::{Health, Phase};
pub use metrics::Metrics;
pub use resource::{
    ParsePostgresWriterConditionError, PostgresWriter, PostgresWriterCondition, PostgresWriterLock,
    PostgresWriterSpec, PostgresWriterStatus,
};
pub use store::{
    FENCES_TABLE, InvalidTableName, Row, Rows, Store, StoreError, TABLE_NAME_PATTERN, TEXT_PATTERN,
    TableName, TableShape,
};
pub use tls::TlsError;
