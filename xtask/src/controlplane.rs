//! `cargo xtask controlplane up|down|env|status`: named, long-lived
//! instances of konditions-testing's control plane (etcd + kube-apiserver
//! on loopback), for a shell, the demo and the test command.
//!
//! xtask does not link konditions-testing (kube, k8s-openapi, tokio:
//! about 190 crates, half an hour on 2 busy cores): it runs the harness's
//! own command (`konditions_testing::cli`) as konditions-examples'
//! `controlplane` example, with the workspace's default members, so it is
//! the very binary a green `cargo test` has already built. The instance's
//! state stays in `target/controlplane/<instance>/` (etcd's data,
//! certificates, `kubeconfig`, `state.json`, `logs/`), written and read by
//! that command only.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::workspace;

/// Options of `up`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UpOptions {
    /// A fixed port for kube-apiserver instead of a free one.
    pub(crate) apiserver_port: Option<u16>,
}

/// What `up` prints: `KUBECONFIG`, `KONDITIONS_KUBECONFIG`, `KUBECTL`.
pub(crate) type Exports = Vec<(String, String)>;

/// One named instance.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    name: String,
}

impl Instance {
    pub(crate) fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
        }
    }

    /// The control plane command on this instance. No `-p`: the package
    /// selection (the workspace's default members) and so the features are
    /// those of a plain `cargo test`, whose build it reuses.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = crate::cargo();
        command.arg("run");
        // `up` may compile the harness on a fresh clone: show cargo's
        // progress then.
        if args.first() != Some(&"up") {
            command.arg("--quiet");
        }
        command
            .args(["--example", "controlplane", "--"])
            .arg("--dir")
            .arg(
                workspace::target_dir()
                    .join("controlplane")
                    .join(&self.name),
            )
            .args(args)
            .current_dir(workspace::root());
        command
    }

    /// Runs a command whose output is for the user (`down`, `env`,
    /// `status`).
    pub(crate) fn run(&self, args: &str) -> Result<()> {
        let status = self.command(&[args]).status()?;
        if !status.success() {
            bail!("controlplane {args} failed ({status})");
        }
        Ok(())
    }

    /// Starts the control plane, or finds it running; its exports.
    pub(crate) fn up(&self, options: &UpOptions) -> Result<Exports> {
        let port = options.apiserver_port.map(|p| p.to_string());
        let mut args = vec!["up"];
        if let Some(port) = &port {
            args.extend(["--apiserver-port", port]);
        }
        crate::say(&format!(
            "control plane `{}` (the first run on a fresh clone compiles the harness: minutes)",
            self.name
        ));
        let output = self
            .command(&args)
            .stderr(Stdio::inherit())
            .output()
            .context("running the controlplane example")?;
        if !output.status.success() {
            bail!("starting the control plane failed ({})", output.status);
        }
        parse_exports(&String::from_utf8_lossy(&output.stdout))
    }

    /// Stops both processes and removes the instance directory.
    pub(crate) fn down(&self) -> Result<()> {
        self.run("down")
    }

    /// kstatus' verdict on `object`, as `STATUS: message`.
    pub(crate) fn kstatus(&self, object: &[u8]) -> Result<String> {
        let mut child = self
            .command(&["kstatus"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("running the controlplane example")?;
        child
            .stdin
            .take()
            .context("kstatus' stdin")?
            .write_all(object)?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("kstatus failed ({})", output.status);
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

/// The `export NAME='value'` lines the command prints (what `eval` reads);
/// anything else is an error, so a change of format fails here and not as
/// a missing variable in some test.
fn parse_exports(text: &str) -> Result<Exports> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let parsed = line.strip_prefix("export ").and_then(|rest| {
                let (name, quoted) = rest.split_once('=')?;
                let value = quoted.strip_prefix('\'')?.strip_suffix('\'')?;
                Some((name.to_owned(), value.replace(r"'\''", "'")))
            });
            parsed.with_context(|| format!("not an `export NAME='value'` line: {line:?}"))
        })
        .collect()
}

/// Stops an instance when dropped: what `cargo xtask test` and the demo
/// hold, so nothing is left running when a test fails or panics.
pub(crate) struct Running {
    instance: Instance,
}

impl Running {
    pub(crate) fn start(instance: Instance, options: &UpOptions) -> Result<(Self, Exports)> {
        let exports = instance.up(options)?;
        Ok((Self { instance }, exports))
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

#[cfg(test)]
mod tests {
    use super::parse_exports;

    #[test]
    fn exports_are_read_back_as_the_shell_would() {
        let exports = parse_exports(
            "export KUBECONFIG='/w/target/controlplane/dev/kubeconfig'\n\
             export KUBECTL='/it'\\''s/kubectl'\n",
        )
        .unwrap();
        assert_eq!(
            exports,
            [
                (
                    "KUBECONFIG".to_owned(),
                    "/w/target/controlplane/dev/kubeconfig".to_owned()
                ),
                ("KUBECTL".to_owned(), "/it's/kubectl".to_owned()),
            ]
        );
    }

    #[test]
    fn anything_but_export_lines_is_an_error() {
        for text in ["KUBECONFIG=/x", "export KUBECONFIG=/x", "control plane up"] {
            assert!(parse_exports(text).is_err(), "{text}");
        }
    }
}
