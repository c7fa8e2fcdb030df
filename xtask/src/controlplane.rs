//! `cargo xtask controlplane up|down|env|status`: named, long-lived
//! instances of konditions-testing's control plane (etcd + kube-apiserver
//! on loopback), for a shell, the demo and the test command.
//!
//! konditions-testing builds or finds the binaries and starts the servers;
//! this keeps an instance's state in `target/controlplane/<instance>/`
//! (etcd's data, certificates, `kubeconfig`, `state.json`,
//! `logs/{etcd,kube-apiserver}.log`) so that later commands find it. `up`
//! on a running, ready instance returns it unchanged; `down` stops both
//! processes and removes the directory.

use std::time::Instant;

use anyhow::{Context, Result};
use konditions_testing::{ControlPlane, State};

use crate::service::InstanceDir;

/// Options of `up`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UpOptions {
    /// A fixed port for kube-apiserver instead of a free one.
    pub(crate) apiserver_port: Option<u16>,
}

/// The files of one instance.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    dir: InstanceDir,
}

impl Instance {
    pub(crate) fn named(name: &str) -> Self {
        Self {
            dir: InstanceDir::new("controlplane", name),
        }
    }

    /// The persisted state, if the instance was started.
    pub(crate) fn state(&self) -> Result<Option<State>> {
        let state: Option<State> = self.dir.load()?;
        // state.json written before the state knew its directory.
        Ok(state.map(|mut state| {
            if state.dir.as_os_str().is_empty() {
                state.dir = self.dir.path().to_owned();
            }
            state
        }))
    }

    /// Starts the control plane, or returns the running one.
    pub(crate) fn up(&self, options: &UpOptions) -> Result<State> {
        let _lock = self.dir.lock()?;
        if let Some(state) = self.state()? {
            if state.is_ready() {
                return Ok(state);
            }
            crate::say("found a stopped or unhealthy control plane; replacing it");
            state.stop();
        }
        self.dir.remove()?;
        let started = Instant::now();
        let mut builder = ControlPlane::builder().dir(self.dir.path());
        if let Some(port) = options.apiserver_port {
            builder = builder.apiserver_port(port);
        }
        // Detached: the servers outlive this command, until `down`.
        let state = builder
            .start()
            .context("starting the control plane")?
            .detach();
        self.dir.save(&state)?;
        crate::say(&format!(
            "control plane up in {:.1?}: Kubernetes {}, etcd {}, {}",
            started.elapsed(),
            state.kubernetes_version,
            state.etcd_version,
            state.apiserver_url
        ));
        Ok(state)
    }

    /// Stops both processes and removes the instance directory.
    pub(crate) fn down(&self) -> Result<bool> {
        let _lock = self.dir.lock()?;
        let state = self.state()?;
        if let Some(state) = &state {
            state.stop();
        }
        self.dir.remove()?;
        Ok(state.is_some())
    }
}

/// Stops an instance when dropped: what `cargo xtask test` and the demo
/// hold, so nothing is left running when a test fails or panics.
pub(crate) struct Running {
    instance: Instance,
}

impl Running {
    pub(crate) fn start(instance: Instance, options: &UpOptions) -> Result<(Self, State)> {
        let state = instance.up(options)?;
        Ok((Self { instance }, state))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = self.instance.down() {
            crate::say(&format!(
                "warning: stopping the control plane failed: {e:#}"
            ));
        }
    }
}
