//! `cargo xtask`: the developer commands of the konditions workspace, and
//! the local PostgreSQL they run for the example operator's tests.
//!
//! - `controlplane up|down|env|status`: a local etcd + kube-apiserver,
//!   konditions-testing's, through its command (see `controlplane.rs`):
//!   xtask links none of the harness, so it builds in seconds.
//! - `postgres up|down|env`: a local PostgreSQL for the example operator;
//!   [`postgres`] writes its state and reads it back for tests
//!   ([`local_postgres`]), the one owner of that state.
//! - `crd [--check]`: the CRD YAML of the examples.
//! - `test`: everything CI checks, on a fresh machine too.
//! - `demo`: the main job of the README.
// A command-line tool: printing is its interface.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod controlplane;
mod crd;
mod demo;
pub mod postgres;
mod prerequisites;
mod service;
mod test;
mod workspace;

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use controlplane::{Instance, UpOptions};
pub use postgres::local_postgres;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Developer commands of the konditions workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Manage the local control plane (etcd + kube-apiserver on loopback).
    Controlplane {
        /// Instance name; each instance has its own ports and state.
        #[arg(long, default_value = "dev", global = true)]
        instance: String,
        #[command(subcommand)]
        action: ControlplaneAction,
    },
    /// Manage a local PostgreSQL server (for the example operator).
    Postgres {
        /// Instance name; each instance has its own port and data.
        #[arg(long, default_value = "dev", global = true)]
        instance: String,
        #[command(subcommand)]
        action: PostgresAction,
    },
    /// Run everything CI runs: install what is missing, fmt, clippy, the
    /// CRD drift checks, docs, then start a control plane and PostgreSQL,
    /// run all tests (the workspace's and the standalone user crate's), stop
    /// them. Options narrow it down for a quicker local run.
    Test {
        /// Skip fmt, clippy, the CRD drift checks and rustdoc: tests only.
        #[arg(long)]
        no_lints: bool,
        /// Test only this package (repeatable). `standalone` is the user
        /// crate in konditions-examples/standalone. Default: every
        /// workspace package and the standalone crate.
        #[arg(short = 'p', long = "package", value_name = "PACKAGE")]
        packages: Vec<String>,
        /// Extra arguments passed to `cargo test` (after `--`).
        #[arg(last = true)]
        cargo_test_args: Vec<String>,
    },
    /// Run the demo: local control plane + the example operator.
    Demo,
    /// Regenerate the CRD YAML of the workspace's custom resources.
    Crd {
        /// Do not write: fail with a diff if the committed YAML is out of date.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Subcommand)]
enum ControlplaneAction {
    /// Build the binaries if needed, start etcd and kube-apiserver, wait until
    /// ready, write a kubeconfig. Returns the running one if already up.
    Up {
        /// Serve kube-apiserver on this port instead of a free one.
        #[arg(long)]
        apiserver_port: Option<u16>,
    },
    /// Stop both processes and remove the instance's state.
    Down,
    /// Print shell exports that point kubectl and the tests at the instance.
    Env,
    /// Say whether the instance runs, and where.
    Status,
}

#[derive(Subcommand)]
enum PostgresAction {
    /// Create and start the instance (a fresh cluster with a `konditions`
    /// database and role); returns the running one if already up.
    Up,
    /// Stop the server and remove its data.
    Down,
    /// Print the PSQL_* exports the operator reads.
    Env,
}

/// The whole `cargo xtask` command: parses the command line, runs it,
/// reports an error on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Commands::Controlplane { instance, action } => {
            let instance = Instance::named(&instance);
            match action {
                ControlplaneAction::Up { apiserver_port } => {
                    let exports = instance.up(&UpOptions { apiserver_port })?;
                    print_exports(&exports);
                    Ok(())
                }
                ControlplaneAction::Down => instance.run("down"),
                ControlplaneAction::Env => instance.run("env"),
                ControlplaneAction::Status => instance.run("status"),
            }
        }
        Commands::Postgres { instance, action } => {
            let postgres = postgres::Postgres::named(&instance);
            match action {
                PostgresAction::Up => {
                    prerequisites::ensure()?;
                    let state = postgres.up()?;
                    print_exports(&state.env(&postgres.state_file()));
                }
                PostgresAction::Down => {
                    if postgres.down()? {
                        say("PostgreSQL stopped");
                    } else {
                        say("no PostgreSQL instance was running");
                    }
                }
                PostgresAction::Env => {
                    let state = postgres.state()?.context(
                        "PostgreSQL is not running: start it with `cargo xtask postgres up`",
                    )?;
                    print_exports(&state.env(&postgres.state_file()));
                }
            }
            Ok(())
        }
        Commands::Test {
            no_lints,
            packages,
            cargo_test_args,
        } => test::run(&test::Options {
            lints: !no_lints,
            packages,
            cargo_test_args,
        }),
        Commands::Demo => demo::run(),
        Commands::Crd { check } => crd::run(check),
    }
}

/// Shell exports, quoted (values never contain a single quote: paths under
/// the workspace, hex secrets, numbers).
fn print_exports<K: std::fmt::Display>(vars: &[(K, String)]) {
    for (name, value) in vars {
        println!("export {name}='{value}'");
    }
}

/// The cargo that runs xtask (so a toolchain override carries over), without
/// the variables `cargo run` set for xtask's own process. Build scripts
/// watch some of them (ring's reruns when `CARGO_MANIFEST_DIR` changes),
/// so with them every nested build would rebuild ring, rustls, kube and the
/// harness, and the next plain `cargo test` would rebuild them back.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if set_by_cargo_run(name) {
            command.env_remove(name);
        }
    }
    command
}

/// Whether `cargo run` sets this variable for the program it runs (the
/// package's own; cargo's configuration variables are kept).
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

/// A progress line on stderr (stdout is kept for machine-readable output).
pub(crate) fn say(message: &str) {
    eprintln!("xtask: {message}");
}
