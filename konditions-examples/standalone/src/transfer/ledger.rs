//! The ledger: an append-only file, one line per side effect, shared by
//! every replica. Each line starts with the lock's idempotency key:
//! `<uid>:<generation>:<condition> <effect> <holder>`.
//!
//! Keyed, it appends a line only if no line holds the key yet, under an
//! exclusive file lock (`flock`), so "look, then append" is one step for
//! every process: the sink stores each change once, like `INSERT ... ON
//! CONFLICT (idempotency_key) DO NOTHING`. Unkeyed, it appends whatever
//! it is given, as a sink that ignores the key would.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use konditions_core::lock::IdempotencyKey;

/// An append-only ledger file.
#[derive(Clone, Debug)]
pub struct Ledger {
    path: PathBuf,
    keyed: bool,
}

impl Ledger {
    /// A ledger at `path`; `keyed` makes it store each idempotency key once.
    pub fn new(path: impl Into<PathBuf>, keyed: bool) -> Self {
        Self {
            path: path.into(),
            keyed,
        }
    }

    /// Where the ledger is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `effect` for the change `key`, by `holder`. `Ok(false)`: a
    /// keyed ledger holds that change already, and nothing was written.
    pub fn append(&self, key: &IdempotencyKey, effect: &str, holder: &str) -> io::Result<bool> {
        let mut file: File = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
        // Released when `file` is closed, also when the process is killed.
        file.lock()?;
        if self.keyed {
            let mut text = String::new();
            file.read_to_string(&mut text)?;
            let prefix = format!("{key} ");
            if text.lines().any(|line| line.starts_with(&prefix)) {
                return Ok(false);
            }
        }
        // One write of one line: a reader never sees half of it.
        file.write_all(format!("{key} {effect} {holder}\n").as_bytes())?;
        Ok(true)
    }

    /// Every line, as (key, effect, holder).
    pub fn entries(&self) -> io::Result<Vec<(String, String, String)>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                Some((
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                ))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(keyed: bool) -> Ledger {
        let dir = std::env::temp_dir().join(format!(
            "transfer-ledger-{}-{keyed}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ledger");
        let _ = std::fs::remove_file(&path);
        Ledger::new(path, keyed)
    }

    #[test]
    fn a_keyed_ledger_stores_a_change_once() {
        let ledger = ledger(true);
        let key = IdempotencyKey::new("uid-1", 1, "Posted");
        assert!(ledger.append(&key, "post", "a").unwrap());
        assert!(!ledger.append(&key, "post", "b").unwrap());
        let next = IdempotencyKey::new("uid-1", 2, "Posted");
        assert!(ledger.append(&next, "post", "b").unwrap());
        let entries = ledger.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            ("uid-1:1:Posted".into(), "post".into(), "a".into())
        );
    }

    #[test]
    fn an_unkeyed_ledger_appends_every_time() {
        let ledger = ledger(false);
        let key = IdempotencyKey::new("uid-1", 1, "Posted");
        assert!(ledger.append(&key, "post", "a").unwrap());
        assert!(ledger.append(&key, "post", "b").unwrap());
        assert_eq!(ledger.entries().unwrap().len(), 2);
    }
}
