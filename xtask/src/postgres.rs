//! A local PostgreSQL server on loopback for the example operator's tests
//! and the demo, from Debian's `postgresql` package.
//!
//! Each instance lives in `target/postgres/<instance>/`: the cluster's data,
//! its unix socket, `state.json` and `logs/postgres.log`. PostgreSQL refuses
//! to run as root, so as root the server runs as the `postgres` user the
//! Debian package creates. Password authentication (scram-sha-256) is on,
//! like a real deployment, so the operator's PSQL_* configuration is used for
//! real.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::service::{self, InstanceDir, log_tail};

/// The database and role the instance creates.
const DATABASE: &str = "konditions";
const USER: &str = "konditions";

/// What `up` started, persisted in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: String,
    pub(crate) user: String,
    pub(crate) password: String,
    /// `pg_ctl` and the data directory, so tests can stop and restart the
    /// server (database outage tests).
    pub(crate) pg_ctl: PathBuf,
    pub(crate) data_dir: PathBuf,
    pub(crate) log: PathBuf,
    /// Set when the server runs as another user (root runs it as `postgres`).
    pub(crate) run_as: Option<String>,
    pub(crate) version: String,
}

impl State {
    /// The PSQL_* variables the operator reads, plus what tests need to stop
    /// and start the server.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PSQL_HOST", self.host.clone()),
            ("PSQL_PORT", self.port.to_string()),
            ("PSQL_DBNAME", self.database.clone()),
            ("PSQL_USER", self.user.clone()),
            ("PSQL_PASSWORD", self.password.clone()),
            ("KONDITIONS_PG_CTL", self.pg_ctl.display().to_string()),
            ("KONDITIONS_PGDATA", self.data_dir.display().to_string()),
            ("KONDITIONS_PG_LOG", self.log.display().to_string()),
            (
                "KONDITIONS_PG_RUN_AS",
                self.run_as.clone().unwrap_or_default(),
            ),
        ]
    }
}

/// One PostgreSQL instance.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    dir: InstanceDir,
}

/// The newest PostgreSQL server installed by Debian's packages.
fn bin_dir() -> Result<(PathBuf, String)> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    let (version, bin) = versions.pop().context(
        "PostgreSQL server binaries not found under /usr/lib/postgresql: install Debian's \
         `postgresql` package (the test command does it when run as root)",
    )?;
    Ok((bin, version.to_string()))
}

/// Whether the server binaries are installed.
pub(crate) fn installed() -> bool {
    bin_dir().is_ok()
}

impl Postgres {
    pub(crate) fn named(name: &str) -> Self {
        Self {
            dir: InstanceDir::new("postgres", name),
        }
    }

    pub(crate) fn state(&self) -> Result<Option<State>> {
        self.dir.load()
    }

    /// Starts the server, or returns the running one.
    pub(crate) fn up(&self) -> Result<State> {
        let (bin, version) = bin_dir()?;
        let _lock = self.dir.lock()?;
        if let Some(state) = self.state()? {
            if running(&state) {
                return Ok(state);
            }
            crate::say("found a stopped PostgreSQL instance; replacing it");
            let _ = pg_ctl(&state, &["stop", "-m", "immediate"]);
        }
        self.dir.remove()?;
        let started = Instant::now();
        let state = self.start(&bin, version)?;
        crate::say(&format!(
            "PostgreSQL {} up in {:.1?} on {}:{} (database {})",
            state.version,
            started.elapsed(),
            state.host,
            state.port,
            state.database
        ));
        Ok(state)
    }

    fn start(&self, bin: &Path, version: String) -> Result<State> {
        let run_as = nix::unistd::geteuid()
            .is_root()
            .then(|| "postgres".to_owned());
        let data_dir = self.dir.join("data");
        let socket_dir = self.dir.join("socket");
        let logs = self.dir.join("logs");
        for dir in [self.dir.path(), &socket_dir, &logs] {
            fs::create_dir_all(dir)?;
        }
        let password = service::secret(16)?;
        let password_file = self.dir.join("password");
        fs::write(&password_file, &password)?;
        if let Some(user) = &run_as {
            chown_to(user, &[self.dir.path(), &socket_dir, &logs, &password_file])?;
        }
        let port = service::free_port()?;
        let state = State {
            host: "127.0.0.1".into(),
            port,
            database: DATABASE.into(),
            user: USER.into(),
            password,
            pg_ctl: bin.join("pg_ctl"),
            data_dir: data_dir.clone(),
            log: logs.join("postgres.log"),
            run_as,
            version,
        };
        run_as_owner(
            &state,
            Command::new(bin.join("initdb"))
                .arg("--pgdata")
                .arg(&data_dir)
                .args([
                    "--username",
                    USER,
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-sync",
                ])
                .arg(format!("--pwfile={}", password_file.display())),
        )
        .context("initdb")?;
        fs::remove_file(&password_file)?;
        // Settings live in postgresql.conf, so a plain `pg_ctl start` (the
        // outage tests restart the server) brings the same server back.
        let settings = format!(
            "\n# konditions test instance\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nmax_connections = 200\n",
            socket_dir.display()
        );
        fs::OpenOptions::new()
            .append(true)
            .open(data_dir.join("postgresql.conf"))?
            .write_all(settings.as_bytes())?;
        self.dir.save(&state)?;
        if let Err(e) = pg_ctl(&state, &["start", "-w", "-t", "60"]) {
            bail!("PostgreSQL did not start: {e:#}\n{}", log_tail(&state.log));
        }
        // The role owns the cluster (initdb --username); its database:
        let createdb = Command::new(bin.join("createdb"))
            .args([
                "-h",
                &state.host,
                "-p",
                &port.to_string(),
                "-U",
                USER,
                DATABASE,
            ])
            .env("PGPASSWORD", &state.password)
            .output()?;
        if !createdb.status.success() {
            bail!(
                "createdb failed: {}",
                String::from_utf8_lossy(&createdb.stderr).trim()
            );
        }
        Ok(state)
    }

    /// Stops the server and removes the instance.
    pub(crate) fn down(&self) -> Result<bool> {
        let _lock = self.dir.lock()?;
        let state = self.state()?;
        if let Some(state) = state.as_ref().filter(|s| running(s)) {
            pg_ctl(state, &["stop", "-m", "fast", "-w", "-t", "30"])
                .or_else(|_| pg_ctl(state, &["stop", "-m", "immediate"]))?;
        }
        self.dir.remove()?;
        Ok(state.is_some())
    }
}

fn running(state: &State) -> bool {
    pg_ctl(state, &["status"]).is_ok()
}

fn pg_ctl(state: &State, args: &[&str]) -> Result<()> {
    run_as_owner(
        state,
        Command::new(&state.pg_ctl)
            .arg("-D")
            .arg(&state.data_dir)
            .arg("-l")
            .arg(&state.log)
            .args(args),
    )
}

/// Runs a PostgreSQL tool as the cluster's owner (`runuser` when root).
fn run_as_owner(state: &State, command: &mut Command) -> Result<()> {
    let mut command = match &state.run_as {
        Some(user) => {
            let mut wrapped = Command::new("runuser");
            wrapped
                .args(["-u", user, "--"])
                .arg(command.get_program())
                .args(command.get_args());
            wrapped
        }
        None => std::mem::replace(command, Command::new("true")),
    };
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn chown_to(user: &str, paths: &[&Path]) -> Result<()> {
    let user = nix::unistd::User::from_name(user)?.with_context(|| {
        format!("user {user} does not exist (Debian's postgresql package creates it)")
    })?;
    for path in paths {
        nix::unistd::chown(*path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("chown {}", path.display()))?;
    }
    Ok(())
}

/// Stops the instance when dropped (what the test command and the demo hold).
pub(crate) struct Running {
    postgres: Postgres,
}

impl Running {
    pub(crate) fn start(postgres: Postgres) -> Result<(Self, State)> {
        let state = postgres.up()?;
        Ok((Self { postgres }, state))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = self.postgres.down() {
            crate::say(&format!("warning: stopping PostgreSQL failed: {e:#}"));
        }
    }
}
