//! A control plane for a shell: `up`, `down`, `env`, `status` of a named,
//! long-lived [`ControlPlane`] whose state is kept on disk, and `kstatus`
//! on an object read from stdin.
//!
//! Your crate already builds konditions-testing for its tests, so a
//! two-line example target gives you the command at no build cost after a
//! green `cargo test` (which builds examples too):
//!
//! ```no_run
//! // examples/controlplane.rs
//! fn main() -> std::process::ExitCode {
//!     konditions_testing::cli::main()
//! }
//! ```
//!
//! ```text
//! $ eval "$(cargo run --example controlplane -- up)"   # prints export lines
//! $ kubectl get namespaces
//! $ cargo test                                          # joins it (KONDITIONS_KUBECONFIG)
//! $ cargo run --example controlplane -- down
//! ```
//!
//! An instance lives in `<dir>` (etcd's data, certificates, `kubeconfig`,
//! `state.json`, `logs/`): `--dir DIR`, else `target/controlplane/<name>`
//! of the nearest directory up from the current one that holds a
//! `Cargo.lock` (your workspace), with `--instance NAME` (default `dev`).
//! `up` on a running, ready instance returns it unchanged; `down` stops
//! both servers and removes the directory. A lock file next to the
//! directory keeps concurrent `up`/`down` from starting two.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::{ControlPlane, Error, State};

/// The usage text.
const USAGE: &str = "\
usage: controlplane [--dir DIR | --instance NAME] COMMAND

commands:
  up [--apiserver-port PORT]  start the instance (or find it running) and print its exports
  down                        stop the instance and remove its directory
  env                         print the exports of the running instance
  status                      say whether the instance runs, and where
  kstatus                     read an object (JSON) on stdin, print kstatus' verdict

The exports set KUBECONFIG, KONDITIONS_KUBECONFIG and KUBECTL:
  eval \"$(cargo run --example controlplane -- up)\"

The instance directory is DIR, else target/controlplane/NAME (NAME: dev) of
the nearest directory up from here holding a Cargo.lock.";

/// Runs the command line of the process (`std::env::args`), prints errors
/// on stderr and returns the exit code: the whole `main` of a binary.
pub fn main() -> ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            report(&format!("{message}\n\n{USAGE}"));
            ExitCode::from(2)
        }
        Err(error) => {
            report(&format!("error: {error}"));
            ExitCode::FAILURE
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is not understood.
    #[error("{0}")]
    Usage(String),
    /// The instance is not running (for `env`).
    #[error(
        "the control plane in {} is not running: start it with `up`",
        dir.display()
    )]
    NotRunning {
        /// The instance directory.
        dir: PathBuf,
    },
    /// The instance's `state.json` cannot be read or written.
    #[error("{}: {reason}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Starting, finding or stopping the control plane, or kstatus, failed.
    #[error(transparent)]
    Harness(#[from] Error),
}

/// Runs one command line (without the program name).
///
/// # Errors
/// [`CliError::Usage`] for a command line it does not understand, else
/// what the command met.
pub fn run(args: impl IntoIterator<Item = String>) -> Result<(), CliError> {
    let mut dir = None;
    let mut instance = "dev".to_owned();
    let mut apiserver_port = None;
    let mut command = None;
    let mut args = args.into_iter();
    let usage = |m: String| CliError::Usage(m);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .ok_or_else(|| usage(format!("{flag} needs a value")))
        };
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--instance" => instance = value("--instance")?,
            "--apiserver-port" => {
                let port = value("--apiserver-port")?;
                apiserver_port = Some(
                    port.parse::<u16>()
                        .map_err(|_| usage(format!("--apiserver-port {port}: not a port")))?,
                );
            }
            "-h" | "--help" | "help" => {
                say_out(USAGE);
                return Ok(());
            }
            flag if flag.starts_with('-') => return Err(usage(format!("unknown option {flag}"))),
            name if command.is_none() => command = Some(name.to_owned()),
            extra => return Err(usage(format!("unexpected argument {extra}"))),
        }
    }
    let instance = Instance {
        dir: dir.unwrap_or_else(|| default_dir(&instance)),
    };
    match command.as_deref() {
        Some("up") => {
            let state = instance.up(apiserver_port)?;
            print_exports(&state);
        }
        Some("down") => {
            if instance.down()? {
                report("control plane stopped");
            } else {
                report("no control plane was running");
            }
        }
        Some("env") => {
            let state = instance.state()?.ok_or_else(|| CliError::NotRunning {
                dir: instance.dir.clone(),
            })?;
            print_exports(&state);
        }
        Some("status") => match instance.state()? {
            Some(state) if !state.is_ready() => say_out(&format!(
                "not ready (stale state in {})",
                state.dir.display()
            )),
            Some(state) => say_out(&format!(
                "running: Kubernetes {} at {} (etcd {}), kubeconfig {}",
                state.kubernetes_version,
                state.apiserver_url,
                state.etcd_version,
                state.kubeconfig.display()
            )),
            None => say_out("not running"),
        },
        Some("kstatus") => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| Error::io("reading the object from stdin", e))?;
            let object: serde_json::Value = serde_json::from_str(&input)
                .map_err(|e| Error::Kstatus(format!("stdin is not JSON: {e}")))?;
            let verdict = crate::try_kstatus(&object)?;
            say_out(&format!("{}: {}", verdict.status, verdict.message));
        }
        Some(other) => return Err(usage(format!("unknown command {other}"))),
        None => return Err(usage("no command".into())),
    }
    Ok(())
}

/// `target/controlplane/<instance>` of the nearest directory up from the
/// current one that holds a `Cargo.lock`, else of the current directory.
fn default_dir(instance: &str) -> PathBuf {
    let here = std::env::current_dir().unwrap_or_default();
    let root = here
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(&here);
    root.join("target").join("controlplane").join(instance)
}

/// One named instance: its directory.
struct Instance {
    dir: PathBuf,
}

impl Instance {
    fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The persisted state, if the instance was started.
    fn state(&self) -> Result<Option<State>, CliError> {
        let path = self.state_file();
        let failed = |reason: String| CliError::StateFile {
            path: path.clone(),
            reason,
        };
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| failed(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    fn save(&self, state: &State) -> Result<(), CliError> {
        let path = self.state_file();
        let failed = |reason: String| CliError::StateFile {
            path: path.clone(),
            reason,
        };
        let text = serde_json::to_vec_pretty(state).map_err(|e| failed(e.to_string()))?;
        // Written then renamed, so a reader never sees half a file.
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, text).map_err(|e| failed(e.to_string()))?;
        fs::rename(&tmp, &path).map_err(|e| failed(e.to_string()))
    }

    /// An exclusive lock on the instance for the life of the guard.
    fn lock(&self) -> Result<nix::fcntl::Flock<File>, CliError> {
        let path = self.dir.with_extension("lock");
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io(format!("locking {}", path.display()), e.into()).into())
    }

    fn remove_dir(&self) -> Result<(), CliError> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", self.dir.display()), e).into())
            }
            _ => Ok(()),
        }
    }

    /// Starts the control plane, or returns the running one.
    fn up(&self, apiserver_port: Option<u16>) -> Result<State, CliError> {
        let _lock = self.lock()?;
        if let Some(state) = self.state()? {
            if state.is_ready() {
                return Ok(state);
            }
            report("found a stopped or unhealthy control plane; replacing it");
            state.stop();
        }
        self.remove_dir()?;
        let started = Instant::now();
        let mut builder = ControlPlane::builder().dir(&self.dir);
        if let Some(port) = apiserver_port {
            builder = builder.apiserver_port(port);
        }
        // Detached: the servers outlive this command, until `down`.
        let state = builder.start()?.detach();
        self.save(&state)?;
        report(&format!(
            "control plane up in {:.1?}: Kubernetes {}, etcd {}, {}",
            started.elapsed(),
            state.kubernetes_version,
            state.etcd_version,
            state.apiserver_url
        ));
        Ok(state)
    }

    /// Stops both servers and removes the directory; whether one was there.
    fn down(&self) -> Result<bool, CliError> {
        let _lock = self.lock()?;
        let state = self.state()?;
        if let Some(state) = &state {
            state.stop();
        }
        self.remove_dir()?;
        Ok(state.is_some())
    }
}

/// Shell exports, single-quoted (the values are paths under the instance
/// directory, which never hold a single quote in practice; one that does is
/// escaped).
fn print_exports(state: &State) {
    for (name, value) in state.env() {
        say_out(&format!("export {name}='{}'", value.replace('\'', r"'\''")));
    }
}

/// A line on stdout: the command's output (exports, status).
fn say_out(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// A line on stderr: progress and errors, kept out of `eval "$(...)"`.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "controlplane: {line}");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_command_line_it_does_not_understand_is_a_usage_error() {
        for args in [
            vec![],
            vec!["sideways"],
            vec!["up", "--apiserver-port", "http"],
            vec!["--dir"],
            vec!["up", "down"],
            vec!["--verbose", "up"],
        ] {
            let error = run(args.iter().map(|a| a.to_string())).unwrap_err();
            assert!(matches!(error, CliError::Usage(_)), "{args:?}: {error}");
        }
    }

    #[test]
    fn env_of_an_instance_never_started_says_how_to_start_it() {
        let dir = tempfile::tempdir().unwrap();
        let instance = dir.path().join("nothing-here");
        let error = run([
            "--dir".to_owned(),
            instance.display().to_string(),
            "env".to_owned(),
        ])
        .unwrap_err();
        assert!(
            matches!(&error, CliError::NotRunning { dir } if *dir == instance),
            "{error}"
        );
        assert!(error.to_string().contains("start it with `up`"), "{error}");
    }

    #[test]
    fn the_default_directory_is_under_the_workspace_target() {
        // Tests run in the package directory; the workspace's Cargo.lock is
        // one level up.
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(
            default_dir("dev"),
            workspace.join("target/controlplane/dev")
        );
    }
}
