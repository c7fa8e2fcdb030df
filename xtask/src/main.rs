//! `cargo xtask`: the developer commands of the konditions workspace.
//!
//! - `controlplane up|down|env|status`: a local etcd + kube-apiserver,
//!   konditions-testing's (see `controlplane.rs`).
//! - `postgres up|down|env`: a local PostgreSQL for the example operator.
//! - `crd [--check]`: the CRD YAML of the examples.
//! - `test`: everything CI checks, on a fresh machine too.
//! - `demo`: the main job of the README.
// A command-line tool: printing is its interface.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod controlplane;
mod crd;
mod demo;
mod postgres;
mod prerequisites;
mod service;
mod test;
mod workspace;

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use controlplane::{Instance, UpOptions};

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

fn main() -> ExitCode {
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
                    let state = instance.up(&UpOptions { apiserver_port })?;
                    print_env(&state);
                }
                ControlplaneAction::Down => {
                    if instance.down()? {
                        say("control plane stopped");
                    } else {
                        say("no control plane was running");
                    }
                }
                ControlplaneAction::Env => {
                    let state = instance
                        .state()?
                        .context("the control plane is not running: start it with `cargo xtask controlplane up`")?;
                    print_env(&state);
                }
                ControlplaneAction::Status => match instance.state()? {
                    Some(state) if !state.is_ready() => {
                        println!("not ready (stale state in {})", state.dir.display())
                    }
                    Some(state) => println!(
                        "running: Kubernetes {} at {} (etcd {}), kubeconfig {}",
                        state.kubernetes_version,
                        state.apiserver_url,
                        state.etcd_version,
                        state.kubeconfig.display()
                    ),
                    None => println!("not running"),
                },
            }
            Ok(())
        }
        Commands::Postgres { instance, action } => {
            let postgres = postgres::Postgres::named(&instance);
            match action {
                PostgresAction::Up => {
                    prerequisites::ensure()?;
                    print_exports(&postgres.up()?.env());
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
                    print_exports(&state.env());
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

fn print_env(state: &konditions_testing::State) {
    print_exports(&state.env());
}

/// Shell exports, quoted (values never contain a single quote: paths under
/// the workspace, hex secrets, numbers).
fn print_exports(vars: &[(&str, String)]) {
    for (name, value) in vars {
        println!("export {name}='{value}'");
    }
}

/// The cargo that runs xtask (so a toolchain override carries over).
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// A progress line on stderr (stdout is kept for machine-readable output).
pub(crate) fn say(message: &str) {
    eprintln!("xtask: {message}");
}
