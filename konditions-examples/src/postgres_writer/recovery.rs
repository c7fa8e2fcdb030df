//! Retrying at once what waits for the database.
//!
//! A resource whose reconcile failed because PostgreSQL was unreachable, or
//! because its table did not exist, waits out a backoff that grows up to
//! five minutes. Nothing is wrong any more the moment the database answers
//! (or the table appears), so the operator probes for that, about once a
//! second while something waits, and wakes exactly the resources that
//! wait: they go through the controller's queue (its concurrency limit
//! applies, so a thousand of them make no storm) and their next row write
//! skips the lock's backoff once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Notify;

use super::{PostgresWriter, Rows, TableName};

/// How often the database is probed while resources wait for it.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What a resource waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// The database to answer.
    Database,
    /// This table to exist (the database answers).
    Table(TableName),
}

/// The resources waiting for the database, and those woken for it.
#[derive(Default)]
pub(crate) struct Recovery {
    state: Mutex<State>,
    /// Wakes the probe when the first resource starts waiting.
    something_waits: Notify,
}

#[derive(Default)]
struct State {
    waiting: HashMap<ObjectRef<PostgresWriter>, Waiting>,
    woken: HashSet<ObjectRef<PostgresWriter>>,
}

impl Recovery {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `object`'s reconcile could not go on because of `on`.
    pub(crate) fn wait(&self, object: ObjectRef<PostgresWriter>, on: Waiting) {
        self.state().waiting.insert(object, on);
        self.something_waits.notify_one();
    }

    /// A reconcile of `object` starts: whatever it waited for, it is being
    /// looked at again.
    pub(crate) fn reconciling(&self, object: &ObjectRef<PostgresWriter>) {
        self.state().waiting.remove(object);
    }

    /// Whether `object` was woken by a recovery and not reconciled since:
    /// its row write then skips the lock's backoff.
    pub(crate) fn is_woken(&self, object: &ObjectRef<PostgresWriter>) -> bool {
        self.state().woken.contains(object)
    }

    /// A reconcile of `object` ended.
    pub(crate) fn reconciled(&self, object: &ObjectRef<PostgresWriter>) {
        self.state().woken.remove(object);
    }

    /// Probes `store` while resources wait, and sends those whose wait is
    /// over to `wake` (the controller's trigger). Runs until `wake` closes.
    pub(crate) async fn probe<R: Rows>(
        &self,
        store: R,
        wake: UnboundedSender<ObjectRef<PostgresWriter>>,
    ) {
        loop {
            let (database, tables) = {
                let state = self.state();
                let database = state.waiting.values().any(|w| *w == Waiting::Database);
                let tables: HashSet<TableName> = state
                    .waiting
                    .values()
                    .filter_map(|w| match w {
                        Waiting::Table(table) => Some(table.clone()),
                        Waiting::Database => None,
                    })
                    .collect();
                (database, tables)
            };
            if !database && tables.is_empty() {
                self.something_waits.notified().await;
                continue;
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
            if database && store.ping().await.is_err() {
                continue;
            }
            let mut found = HashSet::new();
            for table in tables {
                if store.check_table(&table).await.is_ok() {
                    found.insert(table);
                }
            }
            let woken: Vec<_> = {
                let mut state = self.state();
                let over: Vec<_> = state
                    .waiting
                    .iter()
                    .filter(|(_, on)| match on {
                        Waiting::Database => database,
                        Waiting::Table(table) => found.contains(table),
                    })
                    .map(|(object, _)| object.clone())
                    .collect();
                for object in &over {
                    state.waiting.remove(object);
                    state.woken.insert(object.clone());
                }
                over
            };
            if !woken.is_empty() {
                tracing::info!(
                    resources = woken.len(),
                    "the database is usable again: retrying the resources that waited for it"
                );
            }
            for object in woken {
                if wake.unbounded_send(object).is_err() {
                    return;
                }
            }
        }
    }
}

/// Whether a row task that failed with `reason` waits for the database.
pub(crate) fn waits_for_database(reason: &str) -> bool {
    matches!(reason, "DatabaseUnavailable" | "TableMissing")
}
