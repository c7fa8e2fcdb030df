//! `cargo xtask demo`: the README's main command.
//!
//! Until the PostgresWriter operator lands (issue "The PostgresWriter
//! operator, done right, and the demo"), the demo shows the part that exists:
//! a real control plane built from the upstream Go modules, answering
//! through the kubectl of the same release.

use std::process::Command;

use anyhow::{Result, bail};

use crate::controlplane::{Instance, Running, UpOptions};
use crate::prerequisites;

pub(crate) fn run() -> Result<()> {
    prerequisites::ensure()?;
    crate::say("starting a local control plane (instance `demo`)...");
    let (guard, state) = Running::start(Instance::named("demo"), &UpOptions::default())?;
    for args in [
        &["version"][..],
        &["get", "namespaces"],
        &["api-resources", "--api-group=apiextensions.k8s.io"],
    ] {
        crate::say(&format!("$ kubectl {}", args.join(" ")));
        let status = Command::new(&state.kubectl)
            .args(args)
            .env("KUBECONFIG", &state.kubeconfig)
            .status()?;
        if !status.success() {
            bail!("kubectl {} failed: {status}", args.join(" "));
        }
    }
    crate::say(
        "next: the PostgresWriter operator (PostgreSQL + CRD + conditions) is not built yet; \
         this demo will install its CRD, run it, apply the sample and show its conditions",
    );
    drop(guard);
    crate::say("control plane stopped");
    Ok(())
}
