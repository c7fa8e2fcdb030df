//! The PostgresWriter operator.
//!
//! Configuration, from the environment:
//! - PSQL_HOST, PSQL_PORT, PSQL_DBNAME, PSQL_USER, PSQL_PASSWORD: PostgreSQL;
//! - PSQL_SSLMODE (`disable`, the default, `require` or `verify-full`) and
//!   PSQL_SSLROOTCERT (a PEM file of CA certificates, for `verify-full`;
//!   the system's roots without it): TLS to PostgreSQL;
//! - KUBECONFIG (or the in-cluster service account): Kubernetes;
//! - POD_NAME (optional): names this replica's locks;
//! - WATCH_NAMESPACE (optional): limits the operator to one namespace;
//! - LOCK_LEASE_SECONDS (default 30): how long a dead replica's lock blocks
//!   the others;
//! - RECONCILE_CONCURRENCY (default 16, 0 for no limit): how many resources
//!   are reconciled at once, and the size of the database pool (64 without
//!   a limit);
//! - METRICS_ADDR (default `0.0.0.0:8080`): where /healthz, /readyz and
//!   /metrics are served;
//! - SHUTDOWN_GRACE_SECONDS (default 20): how long the reconciles in flight
//!   may take to finish after SIGINT or SIGTERM;
//! - WORKER_THREADS (default 1): the threads that run the reconciles, the
//!   watch and the HTTP endpoints; with 1, the main thread runs them all;
//! - SHARD_NAMESPACE (optional): the replicas share the work, each writing
//!   the rows of the resources it owns, without per-resource lock writes;
//!   their member Leases live in this namespace (the operator's own, from
//!   the Downward API), named after POD_NAME;
//! - SHARD_LEASE_SECONDS (default 15, at least 3): how long a dead
//!   replica's resources wait for another one, and how long a replica that
//!   joins waits before it writes;
//! - RUST_LOG (default `info`) filters the logs, LOG_FORMAT=json makes them
//!   JSON. Text logs are coloured only when standard output is a terminal.
//!
//! SIGINT or SIGTERM stop it gracefully: /readyz turns 503 at once, no new
//! reconcile starts, the ones in flight get the grace to finish; a second
//! signal stops it at once. Exit status: 0 when everything in flight
//! finished, 1 when the grace expired or a second signal cut it short, 2 for
//! invalid configuration or a failed start.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use konditions_core::shard;
use konditions_examples::postgres_writer::{
    Health, Metrics, PostgresConfig, Store, controller, endpoints,
};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // No colour codes in a file or a log collector's pipe.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let Ok(runtime) = runtime() else {
        return ExitCode::from(2);
    };
    runtime.block_on(operate())
}

/// The runtime of `WORKER_THREADS` threads. The reconciles wait on the API
/// server and the database, not on the CPU: one thread runs them all
/// without the wake-ups that hand work between threads, which cost a
/// quarter of the operator's CPU in the scale bench.
fn runtime() -> Result<tokio::runtime::Runtime, ()> {
    let threads: usize = whole_number("WORKER_THREADS", 1, 1, "")?;
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build().map_err(|error| {
        tracing::error!(%error, "cannot start the async runtime");
    })
}

/// Everything but the logs and the runtime: configuration, then the
/// controller until a signal stops it.
async fn operate() -> ExitCode {
    let config = match PostgresConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    let mut options = controller::Options {
        namespace: std::env::var("WATCH_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty()),
        ..controller::Options::default()
    };
    match seconds("LOCK_LEASE_SECONDS", options.lease, 1) {
        Ok(lease) => options.lease = lease,
        Err(()) => return ExitCode::from(2),
    }
    match seconds("SHUTDOWN_GRACE_SECONDS", options.shutdown_grace, 0) {
        Ok(grace) => options.shutdown_grace = grace,
        Err(()) => return ExitCode::from(2),
    }
    let Some(mut signals) = Signals::install() else {
        return ExitCode::from(2);
    };
    match std::env::var("RECONCILE_CONCURRENCY").map(|v| v.parse::<u16>()) {
        Err(_) => {}
        Ok(Ok(concurrency)) => options.concurrency = concurrency,
        Ok(Err(_)) => {
            tracing::error!(
                "RECONCILE_CONCURRENCY must be a whole number from 0 (no limit) to 65535"
            );
            return ExitCode::from(2);
        }
    }
    // One connection per reconcile at most; more would sit idle.
    let connections = match options.concurrency {
        0 => 64,
        limited => usize::from(limited),
    };
    let store = match Store::new(&config, connections) {
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

    let address =
        std::env::var("METRICS_ADDR").unwrap_or_else(|_| endpoints::DEFAULT_ADDR.to_owned());
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, %address, "cannot listen on METRICS_ADDR");
            return ExitCode::from(2);
        }
    };
    if let Ok(namespace) = std::env::var("SHARD_NAMESPACE")
        && !namespace.is_empty()
    {
        let Ok(lease) = seconds("SHARD_LEASE_SECONDS", shard::DEFAULT_LEASE, 3) else {
            return ExitCode::from(2);
        };
        let joined = shard::Group::new(client.clone(), namespace, "postgres-writer")
            .member(options.holder.to_lowercase())
            .lease(lease)
            .join()
            .await;
        match joined {
            Ok(member) => options.shard = Some(member),
            Err(error) => {
                tracing::error!(%error, "cannot join the replicas sharing the work (SHARD_NAMESPACE)");
                return ExitCode::from(2);
            }
        }
    }
    let (metrics, health) = (Metrics::default(), Health::default());
    tracing::info!(
        address = %listener.local_addr().map_or(address, |a| a.to_string()),
        "serving /healthz, /readyz and /metrics"
    );
    let server = endpoints::serve(listener, metrics.clone(), health.clone());
    tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, "the HTTP endpoints stopped");
        }
    });

    tracing::info!(database = ?config, holder = %options.holder, namespace = ?options.namespace, lease = ?options.lease, grace = ?options.shutdown_grace, concurrency = options.concurrency, shared = options.shard.is_some(), "configuration loaded");
    let (requested, shutdown) = tokio::sync::oneshot::channel::<()>();
    let signalled = async move {
        // Awaited outside the log macros: a disabled level skips their
        // arguments.
        let first = signals.next().await;
        tracing::info!(signal = first, "shutting down");
        let _ = requested.send(());
        let second = signals.next().await;
        tracing::warn!(
            signal = second,
            "second signal: stopping now, abandoning the reconciles in flight"
        );
    };
    let run = controller::run(client, store, options, metrics, health, async {
        let _ = shutdown.await;
    });
    tokio::select! {
        stopped = run => match stopped {
            controller::Stopped::Drained => ExitCode::SUCCESS,
            controller::Stopped::GraceExpired => ExitCode::from(1),
        },
        () = signalled => ExitCode::from(1),
    }
}

/// A duration in whole seconds from the environment variable `name`, at
/// least `min`; `default` when unset. An invalid value is logged.
fn seconds(name: &str, default: Duration, min: u64) -> Result<Duration, ()> {
    whole_number(name, default.as_secs(), min, " of seconds").map(Duration::from_secs)
}

/// A whole number (`unit` says of what, for the error) from the
/// environment variable `name`, at least `min`; `default` when unset. An
/// invalid value is logged.
fn whole_number<N>(name: &str, default: N, min: N, unit: &str) -> Result<N, ()>
where
    N: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Ok(value) = std::env::var(name) else {
        return Ok(default);
    };
    match value.parse::<N>() {
        Ok(number) if number >= min => Ok(number),
        _ => {
            tracing::error!(%value, "{name} must be a whole number{unit}, at least {min}");
            Err(())
        }
    }
}

/// SIGINT and SIGTERM, installed once so a second signal is seen too.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> Option<Self> {
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(interrupt), Ok(terminate)) => Some(Self {
                interrupt,
                terminate,
            }),
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(%error, "cannot install the SIGINT and SIGTERM handlers");
                None
            }
        }
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
