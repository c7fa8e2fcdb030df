//! The Transfer controller. KUBECONFIG (or the in-cluster account) says
//! where the API server is; the rest comes from the environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `LEDGER` | the ledger file (required) |
//! | `LEDGER_KEYED` | `1`: the ledger stores each idempotency key once |
//! | `WATCH_NAMESPACE` | watch only this namespace |
//! | `POD_NAME` | this replica's name in the locks (default: host name and pid) |
//! | `LEASE_SECONDS` | the lock's lease (default 60) |
//! | `CRASH_AFTER_EFFECTS` | test hook: SIGKILL itself right after this many side effects |
use std::process::ExitCode;
use std::time::Duration;

use bucket_operator::transfer::controller::{self, Config};
use bucket_operator::transfer::ledger::Ledger;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number(name: &str) -> Result<Option<u64>, String> {
    var(name)
        .map(|v| v.parse().map_err(|e| format!("{name}={v}: {e}")))
        .transpose()
}

fn config() -> Result<Config, String> {
    let ledger = var("LEDGER").ok_or("LEDGER (the ledger file) is required")?;
    Ok(Config {
        ledger: Ledger::new(ledger, var("LEDGER_KEYED").as_deref() == Some("1")),
        holder: konditions_core::lock::default_holder(),
        lease: Duration::from_secs(number("LEASE_SECONDS")?.unwrap_or(60)),
        crash_after_effects: number("CRASH_AFTER_EFFECTS")?.map(|n| n as usize),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("transfer-operator: {error}");
            return ExitCode::FAILURE;
        }
    };
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("transfer-operator: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("started: {}", config.holder);
    let namespace = var("WATCH_NAMESPACE");
    controller::run(client, namespace.as_deref(), config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    ExitCode::SUCCESS
}
