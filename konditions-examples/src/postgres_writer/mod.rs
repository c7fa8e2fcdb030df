//! The PostgresWriter operator: the kubebuilder tutorial's operator, done
//! right. A `PostgresWriter` resource asks for one row in a PostgreSQL table;
//! the operator writes it (an upsert, so spec changes update it), deletes it
//! when the resource goes, and reports what happened in conditions.

mod config;
pub mod controller;
pub mod endpoints;
mod health;
mod metrics;
mod resource;
mod store;

pub use config::{ConfigError, PostgresConfig};
pub use controller::FINALIZER;
pub use health::{Health, Phase};
pub use metrics::Metrics;
pub use resource::{
    ParsePostgresWriterConditionError, PostgresWriter, PostgresWriterCondition, PostgresWriterSpec,
    PostgresWriterStatus,
};
pub use store::{
    FENCES_TABLE, InvalidTableName, Row, Rows, Store, StoreError, TABLE_NAME_PATTERN, TEXT_PATTERN,
    TableName,
};
