//! `cargo xtask test`: the one test command. What CI runs, and what a new
//! contributor runs on a fresh machine.
//!
//! Order: prerequisites, `cargo fmt --check`, clippy with `-D warnings`,
//! rustdoc with `-D warnings`, then a dedicated control plane (instance
//! `test`) for `cargo test --workspace` (unit, doc, trybuild and integration
//! tests), stopped afterwards whatever happened.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::controlplane::{Instance, Running, UpOptions};
use crate::{postgres, prerequisites};

/// The control plane instance the test command owns.
const INSTANCE: &str = "test";

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

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn exec(command: &mut Command) -> Result<()> {
    let status = command.status()?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// Runs the whole suite; `extra` goes to `cargo test` after `--`.
pub(crate) fn run(extra: &[String]) -> Result<()> {
    let started = Instant::now();
    let mut timings = Timings(Vec::new());
    let result = steps(&mut timings, extra);
    crate::say("timings:");
    for (name, took) in &timings.0 {
        crate::say(&format!("  {took:>8.1?}  {name}"));
    }
    crate::say(&format!("  {:>8.1?}  total", started.elapsed()));
    result
}

fn steps(timings: &mut Timings, extra: &[String]) -> Result<()> {
    timings.step("prerequisites", || {
        prerequisites::ensure()?;
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
    timings.step("cargo fmt --check", || {
        exec(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    timings.step("cargo clippy -D warnings", || {
        exec(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    timings.step("CRD drift (cargo xtask crd --check)", crate::crd::check)?;
    timings.step("cargo doc -D warnings", || {
        exec(
            cargo()
                .args(["doc", "--workspace", "--no-deps"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )
    })?;

    let instance = Instance::named(INSTANCE);
    let database = postgres::Postgres::named(INSTANCE);
    // Ctrl-C or SIGTERM while tests run: stop what we started before exiting.
    let (on_signal, database_on_signal) = (instance.clone(), database.clone());
    ctrlc::set_handler(move || {
        let _ = on_signal.down();
        let _ = database_on_signal.down();
        std::process::exit(130);
    })?;
    let mut database_running = None;
    timings.step("PostgreSQL up", || {
        let (guard, _) = postgres::Running::start(database.clone())?;
        database_running = Some(guard);
        Ok(())
    })?;
    let database_state = database
        .state()?
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL state vanished"))?;
    let mut running = None;
    timings.step("control plane up", || {
        let (guard, _) = Running::start(instance.clone(), &UpOptions::default())?;
        running = Some(guard);
        Ok(())
    })?;
    let state = instance
        .state()?
        .ok_or_else(|| anyhow::anyhow!("control plane state vanished"))?;
    let tests = timings.step("cargo test --workspace", || {
        exec(
            cargo()
                .args(["test", "--workspace"])
                .args(if extra.is_empty() { None } else { Some("--") })
                .args(extra)
                .envs(state.env())
                .envs(database_state.env()),
        )
    });
    timings.step("control plane and PostgreSQL down", || {
        drop(running.take());
        drop(database_running.take());
        Ok(())
    })?;
    tests
}
