//! The PostgresWriter operator.
//!
//! Configuration: PSQL_HOST, PSQL_PORT, PSQL_DBNAME, PSQL_USER, PSQL_PASSWORD
//! for PostgreSQL; KUBECONFIG (or the in-cluster service account) for
//! Kubernetes; POD_NAME (optional) names this replica's locks; RUST_LOG
//! filters the logs (default `info`), LOG_FORMAT=json makes them JSON;
//! WATCH_NAMESPACE (optional) limits the operator to one namespace;
//! LOCK_LEASE_SECONDS (default 30) is how long a dead replica's lock blocks
//! the others.
//! SIGINT or SIGTERM stop it gracefully: reconciles in flight finish first.

use std::process::ExitCode;

use konditions_examples::postgres_writer::{Metrics, PostgresConfig, Store, controller};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }

    let config = match PostgresConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    let store = match Store::new(&config, 16) {
        Ok(store) => store,
        Err(error) => {
            tracing::error!(%error, "cannot create the database pool");
            return ExitCode::from(2);
        }
    };
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot configure the Kubernetes client (KUBECONFIG or in-cluster)");
            return ExitCode::from(2);
        }
    };
    let mut options = controller::Options {
        namespace: std::env::var("WATCH_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty()),
        ..controller::Options::default()
    };
    if let Ok(lease) = std::env::var("LOCK_LEASE_SECONDS") {
        match lease.parse::<u64>() {
            Ok(seconds) if seconds > 0 => options.lease = std::time::Duration::from_secs(seconds),
            _ => {
                tracing::error!(value = %lease, "LOCK_LEASE_SECONDS must be a positive number of seconds");
                return ExitCode::from(2);
            }
        }
    }
    tracing::info!(database = ?config, holder = %options.holder, namespace = ?options.namespace, lease = ?options.lease, "configuration loaded");
    controller::run(client, store, options, Metrics::default(), shutdown()).await;
    ExitCode::SUCCESS
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the operator with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
    }
}
