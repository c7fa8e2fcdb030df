//! A local PostgreSQL server on loopback for the example operator's tests
//! and the demo, from Debian's `postgresql` package: started here
//! (`cargo xtask postgres up`, the test command, the demo) and found again
//! by the tests through [`local_postgres`]. This module alone writes and
//! reads the instance's `state.json` (one `State` type), so the two
//! cannot disagree.
//!
//! Each instance lives in `target/postgres/<instance>/`: the cluster's data,
//! its unix socket, `state.json` and `logs/postgres.log`. PostgreSQL refuses
//! to run as root, so as root the server runs as the `postgres` user the
//! Debian package creates. Password authentication (scram-sha-256) is on,
//! like a real deployment, so the operator's PSQL_* configuration is used for
//! real. TLS is on too (clients may use it or not), with a server
//! certificate for 127.0.0.1 and localhost signed by a CA made for the
//! instance: `ca.crt` in the instance's directory, for `sslmode=verify-full`.

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

/// The variable naming the `state.json` of the instance the tests use
/// (`cargo xtask test` and `cargo xtask postgres env` set it); without it,
/// the `dev` instance's.
pub const STATE_ENV: &str = "KONDITIONS_PG_STATE";

/// The instance the tests use by default (`cargo xtask postgres up`).
const DEV_INSTANCE: &str = "dev";

/// What `up` started, persisted in `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The PSQL_* variables the operator reads.
    pub(crate) fn psql_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PSQL_HOST", self.host.clone()),
            ("PSQL_PORT", self.port.to_string()),
            ("PSQL_DBNAME", self.database.clone()),
            ("PSQL_USER", self.user.clone()),
            ("PSQL_PASSWORD", self.password.clone()),
        ]
    }

    /// [`psql_env`](Self::psql_env), and [`STATE_ENV`] naming the instance
    /// for tests (which stop and start the server for outage tests).
    pub(crate) fn env(&self, state_file: &Path) -> Vec<(&'static str, String)> {
        let mut env = self.psql_env();
        env.push((STATE_ENV, state_file.display().to_string()));
        env
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

    /// Where [`up`](Self::up) persists the state.
    pub(crate) fn state_file(&self) -> PathBuf {
        self.dir.state_file()
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
        let tls = certificates()?;
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
        fs::write(ca_file(&state), &tls.ca)?;
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
        let (cert, key) = (data_dir.join("server.crt"), data_dir.join("server.key"));
        fs::write(&cert, &tls.server)?;
        fs::write(&key, &tls.server_key)?;
        // PostgreSQL refuses a key others can read.
        fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        if let Some(user) = &state.run_as {
            chown_to(user, &[&cert, &key])?;
        }
        // Settings live in postgresql.conf, so a plain `pg_ctl start` (the
        // outage tests restart the server) brings the same server back.
        let settings = format!(
            "\n# konditions test instance\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nmax_connections = 200\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
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

/// PEM texts of the instance's TLS certificates.
struct Certificates {
    ca: String,
    server: String,
    server_key: String,
}

/// A CA, and a server certificate it signs for 127.0.0.1 and localhost.
fn certificates() -> Result<Certificates> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "konditions test PostgreSQL CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_pem = ca.self_signed(&ca_key)?.pem();
    let issuer = Issuer::new(ca, &ca_key);
    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "konditions test PostgreSQL");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_pem = server.signed_by(&server_key, &issuer)?.pem();
    Ok(Certificates {
        ca: ca_pem,
        server: server_pem,
        server_key: server_key.serialize_pem(),
    })
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
    /// Starts the instance; its state and where it is persisted.
    pub(crate) fn start(postgres: Postgres) -> Result<(Self, State, PathBuf)> {
        let state = postgres.up()?;
        let state_file = postgres.state_file();
        Ok((Self { postgres }, state, state_file))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = self.postgres.down() {
            crate::say(&format!("warning: stopping PostgreSQL failed: {e:#}"));
        }
    }
}

/// The local PostgreSQL instance of the tests: its connection settings,
/// and stopping and starting it to test outages.
#[derive(Debug, Clone)]
pub struct LocalPostgres {
    /// The PSQL_* variables (PSQL_HOST, PSQL_PORT, PSQL_DBNAME, PSQL_USER,
    /// PSQL_PASSWORD) that configure a client.
    pub env: Vec<(String, String)>,
    state: State,
}

/// The instance `cargo xtask test` started (named by `KONDITIONS_PG_STATE`),
/// else the `dev` instance of `cargo xtask postgres up`.
///
/// # Panics
/// When there is none: the message says how to start one. A test that
/// needs the database fails without it; it is never skipped.
pub fn local_postgres() -> LocalPostgres {
    LocalPostgres::find().unwrap_or_else(|e| panic!("{e:#}"))
}

impl LocalPostgres {
    /// What [`local_postgres`] returns, with the error returned.
    ///
    /// # Errors
    /// No instance is running, or its `state.json` cannot be read.
    pub fn find() -> Result<Self> {
        let path = match std::env::var_os(STATE_ENV).filter(|v| !v.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => Postgres::named(DEV_INSTANCE).state_file(),
        };
        Self::from_state_file(&path)
    }

    fn from_state_file(path: &Path) -> Result<Self> {
        let state: State = service::load_file(path)?.with_context(|| {
            format!(
                "no local PostgreSQL ({} does not exist): this test needs a real PostgreSQL \
                 server. Run the whole suite with `cargo xtask test`, or start one with \
                 `cargo xtask postgres up` and run the test again",
                path.display()
            )
        })?;
        Ok(Self {
            env: state
                .psql_env()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            state,
        })
    }

    /// The value of one PSQL_* variable.
    ///
    /// # Panics
    /// When `name` is not one of them.
    pub fn var(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} is not a PSQL_* variable of the instance"))
    }

    /// Looks a PSQL_* variable up (for `PostgresConfig::from_lookup`-style
    /// readers).
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// The PEM file of the CA that signed the server's TLS certificate
    /// (valid for 127.0.0.1 and localhost), for `sslmode=verify-full`
    /// clients.
    ///
    /// # Panics
    /// When the instance has none (one started before TLS was added: stop
    /// it with `cargo xtask postgres down`).
    pub fn ca_certificate(&self) -> PathBuf {
        let path = ca_file(&self.state);
        assert!(
            path.is_file(),
            "the PostgreSQL instance has no CA certificate at {}: it predates TLS; restart it \
             (`cargo xtask postgres down`, then run the tests again)",
            path.display()
        );
        path
    }

    /// Stops the server (fast shutdown: open connections are cut, as in an
    /// outage).
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn stop(&self) {
        pg_ctl(&self.state, &["stop", "-m", "fast", "-w", "-t", "60"])
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Stops the server until the returned [`Outage`] ends or is dropped,
    /// so a test that fails during the outage still brings the database
    /// back for the tests after it.
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn outage(&self) -> Outage {
        self.stop();
        Outage(self.clone())
    }

    /// Starts the server again with the settings it had (they are in its
    /// postgresql.conf).
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn start(&self) {
        pg_ctl(&self.state, &["start", "-w", "-t", "60"]).unwrap_or_else(|e| panic!("{e:#}"));
    }
}

/// A stopped server, started again when this ends or is dropped (see
/// [`LocalPostgres::outage`]).
#[derive(Debug)]
#[must_use = "the outage ends when this is dropped"]
pub struct Outage(LocalPostgres);

impl Outage {
    /// Ends the outage: starts the server again.
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn end(self) {
        // Drop starts it.
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.0.start();
    }
}

/// The CA certificate `up` writes next to the data directory.
fn ca_file(state: &State) -> PathBuf {
    state
        .data_dir
        .parent()
        .map(|dir| dir.join("ca.crt"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer (`up`, `env`) and the reader (`local_postgres`) through
    /// their real paths: a state saved where `up` saves it, found through
    /// the variable `env` exports, reads back as the same instance.
    #[test]
    fn what_up_writes_is_what_the_tests_read() {
        let postgres = Postgres::named(&format!("roundtrip-{}", std::process::id()));
        let data_dir = postgres.dir.join("data");
        let state = State {
            host: "127.0.0.1".into(),
            port: 54321,
            database: DATABASE.into(),
            user: USER.into(),
            password: "0123abcd".into(),
            pg_ctl: "/usr/lib/postgresql/17/bin/pg_ctl".into(),
            data_dir: data_dir.clone(),
            log: postgres.dir.join("logs/postgres.log"),
            run_as: Some("postgres".into()),
            version: "17".into(),
        };
        std::fs::create_dir_all(postgres.dir.path()).unwrap();
        postgres.dir.save(&state).unwrap();
        let exported = state.env(&postgres.state_file());
        let named = exported
            .iter()
            .find(|(k, _)| *k == STATE_ENV)
            .map(|(_, v)| PathBuf::from(v))
            .expect("env exports the state file");
        let read = LocalPostgres::from_state_file(&named);
        postgres.dir.remove().unwrap();
        let read = read.unwrap();

        assert_eq!(read.state, state);
        let psql: Vec<(String, String)> = exported
            .iter()
            .filter(|(k, _)| k.starts_with("PSQL_"))
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        assert_eq!(read.env, psql);
        assert_eq!(read.lookup("PSQL_PORT").as_deref(), Some("54321"));
    }

    #[test]
    fn no_instance_is_an_error_that_says_how_to_start_one() {
        let missing = Postgres::named(&format!("missing-{}", std::process::id()));
        let error = LocalPostgres::from_state_file(&missing.state_file()).unwrap_err();
        assert!(
            format!("{error:#}").contains("cargo xtask postgres up"),
            "{error:#}"
        );
    }
}
