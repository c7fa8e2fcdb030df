//! What the local services (control plane, PostgreSQL) have in common: an
//! instance directory under `target/`, a lock against concurrent `up`/`down`,
//! free loopback ports, fresh secrets, and log tails for error messages.

use std::fs::{self, File};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::workspace;

/// The directory of one instance of a service: `target/<service>/<name>`.
#[derive(Debug, Clone)]
pub(crate) struct InstanceDir {
    dir: PathBuf,
}

impl InstanceDir {
    pub(crate) fn new(service: &str, name: &str) -> Self {
        Self {
            dir: workspace::target_dir().join(service).join(name),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn join(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// An exclusive lock on the instance for the life of the guard, so
    /// concurrent `up`/`down` calls do not start two of it.
    pub(crate) fn lock(&self) -> Result<nix::fcntl::Flock<File>> {
        fs::create_dir_all(self.dir.parent().unwrap_or(&self.dir))?;
        let path = self.dir.with_extension("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("locking {}: {e}", path.display()))
    }

    /// Where the instance's state is persisted.
    pub(crate) fn state_file(&self) -> PathBuf {
        self.join("state.json")
    }

    /// The persisted `state.json`, if the instance was started.
    pub(crate) fn load<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        load_file(&self.state_file())
    }

    /// Writes `state.json` atomically.
    pub(crate) fn save<T: Serialize>(&self, state: &T) -> Result<()> {
        let path = self.state_file();
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(state)?)?;
        fs::rename(tmp, path)?;
        Ok(())
    }

    /// Removes the instance directory, if any.
    pub(crate) fn remove(&self) -> Result<()> {
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing {}", self.dir.display()))?;
        }
        Ok(())
    }
}

/// A persisted `state.json`, if there is one.
pub(crate) fn load_file<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A free loopback port. The port is released before the server binds it;
/// the window is tiny and a lost race surfaces as a start-up error with logs.
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A random hex secret (tokens, passwords) of `bytes` bytes.
pub(crate) fn secret(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The last lines of a log, with its path, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(25)..];
    format!("Last lines of {}:\n{}", path.display(), tail.join("\n"))
}
