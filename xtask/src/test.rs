//! `cargo xtask test`: the one test command. What CI runs, and what a new
//! contributor runs on a fresh machine.
//!
//! Order: prerequisites; the lints (`cargo fmt --check`, clippy with `-D
//! warnings`, the CRD drift checks, rustdoc with `-D warnings`), for the
//! workspace and for the standalone user crate, and clippy on
//! konditions-core under each feature set a user may pick; then a control plane
//! (instance `test`, so the workspace's test binaries share one instead of
//! starting one each) and PostgreSQL for `cargo test --workspace`; then the
//! standalone crate's tests, which start their own control plane as a
//! user's would. Everything started is stopped, whatever happened.
//!
//! `--no-lints` skips the lints; `-p` picks packages (`standalone` is the
//! user crate), and only the services they need are started.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::controlplane::{Instance, Running, UpOptions};
use crate::{cargo, postgres, prerequisites, workspace};

/// The control plane and PostgreSQL instances the test command owns.
const INSTANCE: &str = "test";
/// The name `-p` knows the standalone crate by.
const STANDALONE: &str = "standalone";
/// The only package whose tests need PostgreSQL.
const NEEDS_POSTGRES: &str = "konditions-examples";

/// What to run.
pub(crate) struct Options {
    /// fmt, clippy, the CRD drift checks, rustdoc.
    pub(crate) lints: bool,
    /// Empty: everything.
    pub(crate) packages: Vec<String>,
    /// After `--` of `cargo test`.
    pub(crate) cargo_test_args: Vec<String>,
}

impl Options {
    fn standalone(&self) -> bool {
        self.packages.is_empty() || self.packages.iter().any(|p| p == STANDALONE)
    }

    /// The workspace packages to test; `None` for none, empty for all.
    fn workspace_packages(&self) -> Option<Vec<&str>> {
        let chosen: Vec<&str> = self
            .packages
            .iter()
            .map(String::as_str)
            .filter(|p| *p != STANDALONE)
            .collect();
        if self.packages.is_empty() || !chosen.is_empty() {
            Some(chosen)
        } else {
            None
        }
    }

    fn needs_postgres(&self) -> bool {
        self.workspace_packages()
            .is_some_and(|p| p.is_empty() || p.contains(&NEEDS_POSTGRES))
    }
}

struct Timings(Vec<(String, Duration)>);

impl Timings {
    fn step(&mut self, name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
        crate::say(&format!("== {name}"));
        let started = Instant::now();
        let result = f();
        self.0.push((name.to_owned(), started.elapsed()));
        result
    }
}

fn exec(command: &mut Command) -> Result<()> {
    let status = command.status()?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// The user crate outside the workspace.
fn standalone_dir() -> PathBuf {
    workspace::root().join("konditions-examples/standalone")
}

/// Cargo on the standalone crate, building into the workspace's target
/// directory so that the dependencies both share are built once.
fn standalone_cargo(args: &[&str]) -> Command {
    let mut command = cargo();
    command
        .args(args)
        .current_dir(standalone_dir())
        .env("CARGO_TARGET_DIR", workspace::target_dir());
    command
}

/// Runs the suite; see the module documentation.
pub(crate) fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let mut timings = Timings(Vec::new());
    let result = steps(&mut timings, options);
    crate::say("timings:");
    for (name, took) in &timings.0 {
        crate::say(&format!("  {took:>8.1?}  {name}"));
    }
    crate::say(&format!("  {:>8.1?}  total", started.elapsed()));
    result
}

fn steps(timings: &mut Timings, options: &Options) -> Result<()> {
    timings.step("prerequisites", || {
        prerequisites::ensure()?;
        if !options.lints {
            return Ok(());
        }
        for (component, args) in [
            ("rustfmt", ["fmt", "--version"]),
            ("clippy", ["clippy", "--version"]),
        ] {
            if !cargo()
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
            {
                bail!(
                    "the Rust component {component} is missing: `rustup component add {component}`"
                );
            }
        }
        Ok(())
    })?;
    if options.lints {
        lints(timings)?;
    }

    // Ctrl-C or SIGTERM while tests run: stop what we started before exiting.
    let instance = Instance::named(INSTANCE);
    let database = postgres::Postgres::named(INSTANCE);
    let (on_signal, database_on_signal) = (instance.clone(), database.clone());
    ctrlc::set_handler(move || {
        let _ = on_signal.down();
        let _ = database_on_signal.down();
        std::process::exit(130);
    })?;

    let mut outcome = Ok(());
    if let Some(packages) = options.workspace_packages() {
        outcome = workspace_tests(timings, options, &packages, &instance, &database);
    }
    if options.standalone() {
        let standalone = timings.step(
            "standalone crate: cargo test (its own control plane)",
            || {
                exec(
                    standalone_cargo(&["test", "--workspace", "--no-fail-fast"])
                        .args(args_after_dashes(&options.cargo_test_args))
                        // As a user's crate: nothing started beforehand.
                        .env_remove("KONDITIONS_KUBECONFIG")
                        .env_remove("KUBECONFIG")
                        .env_remove("KUBECTL"),
                )
            },
        );
        outcome = outcome.and(standalone);
    }
    outcome
}

fn args_after_dashes(args: &[String]) -> Vec<String> {
    if args.is_empty() {
        Vec::new()
    } else {
        std::iter::once("--".to_owned())
            .chain(args.iter().cloned())
            .collect()
    }
}

fn lints(timings: &mut Timings) -> Result<()> {
    timings.step("cargo fmt --check", || {
        exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
        exec(&mut standalone_cargo(&["fmt", "--all", "--", "--check"]))
    })?;
    timings.step("cargo clippy -D warnings", || {
        let clippy = [
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ];
        exec(cargo().args(clippy))?;
        exec(&mut standalone_cargo(&clippy))
    })?;
    timings.step("CRD drift (cargo xtask crd --check)", || {
        crate::crd::run(true)?;
        exec(&mut standalone_cargo(&["xtask", "crd", "--check"]))
    })?;
    timings.step("cargo doc -D warnings", || {
        exec(
            cargo()
                .args(["doc", "--workspace", "--no-deps"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )
    })?;
    timings.step("konditions-core, each feature set a user may pick", || {
        // A user's crate picks features; code only one of them uses must
        // still build without warnings under the others (dead code of the
        // runner under `client`, say).
        for features in [
            "",
            "derive",
            "client",
            "derive,client",
            "runtime",
            "crd",
            "chrono",
        ] {
            exec(
                cargo()
                    .args(["clippy", "-p", "konditions-core", "--lib"])
                    .args(["--no-default-features", "--features", features])
                    .args(["--", "-D", "warnings"])
                    // A library picks no k8s-openapi version; a user's crate does.
                    .env("K8S_OPENAPI_ENABLED_VERSION", "1.36"),
            )?;
        }
        Ok(())
    })
}

fn workspace_tests(
    timings: &mut Timings,
    options: &Options,
    packages: &[&str],
    instance: &Instance,
    database: &postgres::Postgres,
) -> Result<()> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut database_running = None;
    if options.needs_postgres() {
        timings.step("PostgreSQL up", || {
            let (guard, state, state_file) = postgres::Running::start(database.clone())?;
            env.extend(
                state
                    .env(&state_file)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v)),
            );
            database_running = Some(guard);
            Ok(())
        })?;
    }
    // One control plane for all the workspace's test binaries: quicker than
    // one each, which is what they would start without it.
    let mut running = None;
    timings.step("control plane up", || {
        let (guard, exports) = Running::start(instance.clone(), &UpOptions::default())?;
        env.extend(exports);
        running = Some(guard);
        Ok(())
    })?;
    if packages.is_empty() || packages.contains(&"konditions-core") {
        // Features no workspace crate enables: their tests would not run.
        timings.step(
            "konditions-core's optional features: chrono, runtime",
            || {
                // Cargo refuses `--lib --doc` in one run.
                for target in ["--lib", "--doc"] {
                    exec(cargo().args([
                        "test",
                        "-p",
                        "konditions-core",
                        "--features",
                        "chrono,runtime",
                        target,
                    ]))?;
                }
                Ok(())
            },
        )?;
    }
    let name = if packages.is_empty() {
        "cargo test --workspace".to_owned()
    } else {
        format!("cargo test -p {}", packages.join(" -p "))
    };
    let tests = timings.step(&name, || {
        let mut command = cargo();
        // Every failing test binary in one run, not only the first: a CI
        // run is long, and a flaky test must not hide a real failure.
        command.args(["test", "--no-fail-fast"]);
        if packages.is_empty() {
            command.arg("--workspace");
        }
        for package in packages {
            command.args(["-p", package]);
        }
        exec(
            command
                .args(args_after_dashes(&options.cargo_test_args))
                .envs(env.iter().map(|(k, v)| (k, v))),
        )
    });
    timings.step("control plane and PostgreSQL down", || {
        drop(running.take());
        drop(database_running.take());
        Ok(())
    })?;
    tests
}
