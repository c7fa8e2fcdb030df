//! What this process remembers about locks between runs: when it first
//! saw a lock or a failure record unchanged (expiry and backoff are judged
//! by observation, so a holder's clock running ahead cannot block this
//! reader), which locks it is running a task under right now, which
//! acquires it sent without an answer, and which locks it released (a
//! stale copy that still shows one is not a lock to take back).
//!
//! One registry per process, shared by every `Lock`: a reconciler builds a
//! new `Lock` per run, and what it learnt must outlive it.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// Observations older than this are dropped when the registry grows.
const FORGET_AFTER: SignedDuration = SignedDuration::from_hours(1);
/// Above this many observations, old ones are dropped.
const PRUNE_ABOVE: usize = 4096;

/// One condition of one object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    /// The object's URL path and name.
    object: String,
    /// Its UID, so a deleted and re-created object starts afresh.
    uid: Option<String>,
    /// The condition type.
    condition: String,
}

impl Key {
    pub(super) fn new(object: String, uid: Option<String>, condition: &str) -> Self {
        Self {
            object,
            uid,
            condition: condition.to_owned(),
        }
    }
}

#[derive(Debug)]
struct Observation {
    entry: Value,
    first_seen: Timestamp,
}

/// A condition as locked by one holder.
type Holding = (Key, String);

#[derive(Debug, Default)]
struct Registry {
    observed: HashMap<Key, Observation>,
    running: HashSet<Holding>,
    unanswered: HashMap<Holding, Value>,
    /// The id of the last lock each holder released, per condition.
    released: HashMap<Holding, String>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn registry() -> MutexGuard<'static, Registry> {
    // The registry holds plain data: a panic elsewhere leaves it consistent.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// When this process first saw `entry` (exactly) as `key`'s condition;
/// `now` if it has not before.
pub(super) fn first_seen(key: &Key, entry: &Value, now: Timestamp) -> Timestamp {
    registry().first_seen(key, entry, now)
}

impl Registry {
    fn first_seen(&mut self, key: &Key, entry: &Value, now: Timestamp) -> Timestamp {
        if let Some(seen) = self.observed.get(key).filter(|o| o.entry == *entry) {
            return seen.first_seen.min(now);
        }
        if self.observed.len() >= PRUNE_ABOVE {
            let horizon = now.saturating_sub(FORGET_AFTER).unwrap_or(now);
            self.observed.retain(|_, o| o.first_seen > horizon);
            if self.observed.len() > PRUNE_ABOVE / 2 {
                // All recent: forget the newer half too, or every insert
                // would scan the map again. Forgetting an observation only
                // restarts it: a lock or a backoff is then judged to end
                // later, never sooner.
                let mut times: Vec<Timestamp> =
                    self.observed.values().map(|o| o.first_seen).collect();
                let middle = times.len() / 2;
                let (_, &mut median, _) = times.select_nth_unstable(middle);
                self.observed.retain(|_, o| o.first_seen < median);
            }
        }
        self.observed.insert(
            key.clone(),
            Observation {
                entry: entry.clone(),
                first_seen: now,
            },
        );
        now
    }
}

/// Forgets what was observed of `key` (its condition changed under us).
pub(super) fn forget(key: &Key) {
    registry().observed.remove(key);
}

/// Marks `key` as running a task of `holder` in this process until the
/// guard drops. `None` when it already is (a holder must not take its own
/// lock from a task that still runs). Other holders in the same process
/// (replicas in one test, say) are not affected.
pub(super) fn run(key: &Key, holder: &str) -> Option<Running> {
    let holding = (key.clone(), holder.to_owned());
    // The registry's guard ends with this statement: a `Running` made (and
    // dropped) under it would lock it again, and would remove the entry
    // of the run that holds it.
    let inserted = registry().running.insert(holding.clone());
    inserted.then(|| Running(holding))
}

/// Whether a task of `holder` runs under `key` in this process.
pub(super) fn is_running(key: &Key, holder: &str) -> bool {
    registry()
        .running
        .contains(&(key.clone(), holder.to_owned()))
}

/// The guard of [`run`].
#[derive(Debug)]
pub(super) struct Running(Holding);

impl Drop for Running {
    fn drop(&mut self) {
        registry().running.remove(&self.0);
    }
}

/// Remembers the lock `holder` tried to store as `key` when the acquire
/// got no answer: if the server stored it, no task ran under it.
pub(super) fn unanswered(key: &Key, holder: &str, locked: &Value) {
    registry()
        .unanswered
        .insert((key.clone(), holder.to_owned()), locked.clone());
}

/// Whether `entry` is a lock `holder` sent from this process without an
/// answer (and so ran no task under); forgets it either way.
pub(super) fn was_unanswered(key: &Key, holder: &str, entry: &Value) -> bool {
    registry()
        .unanswered
        .remove(&(key.clone(), holder.to_owned()))
        .is_some_and(|sent| sent == *entry)
}

/// Remembers that `holder` released its lock `id` on `key`.
pub(super) fn released(key: &Key, holder: &str, id: &str) {
    let mut registry = registry();
    if registry.released.len() >= PRUNE_ABOVE {
        // Forgetting costs at most one refused write per condition.
        registry.released.clear();
    }
    registry
        .released
        .insert((key.clone(), holder.to_owned()), id.to_owned());
}

/// Whether `holder` released its lock `id` on `key` from this process.
pub(super) fn was_released(key: &Key, holder: &str, id: &str) -> bool {
    registry()
        .released
        .get(&(key.clone(), holder.to_owned()))
        .is_some_and(|released| released == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_of_a_running_lock_is_refused_and_leaves_the_first_running() {
        let key = Key::new(
            format!("/apis/x/v1/things/running-{}", std::process::id()),
            Some("uid-r".into()),
            "Done",
        );
        let first = run(&key, "holder").expect("the first run");
        // Used to drop the refused guard under the registry's lock: a
        // deadlock, and the first run's entry removed.
        assert!(run(&key, "holder").is_none());
        assert!(is_running(&key, "holder"));
        drop(first);
        assert!(!is_running(&key, "holder"));
        assert!(run(&key, "holder").is_some());
    }

    #[test]
    fn a_full_registry_of_recent_observations_is_halved_not_scanned_on_every_insert() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        // A registry of its own: the process's is shared with other tests.
        let mut registry = Registry::default();
        let object = "/apis/x/v1/things".to_owned();
        for i in 0..=PRUNE_ABOVE {
            let at = start + SignedDuration::from_secs(i as i64);
            let key = Key::new(object.clone(), Some(format!("uid-{i}")), "Done");
            registry.first_seen(&key, &Value::from(i), at);
        }
        let len = registry.observed.len();
        assert!(len <= PRUNE_ABOVE / 2 + 1, "{len} observations kept");
        // The oldest went; the newest stays.
        let newest = Key::new(object.clone(), Some(format!("uid-{PRUNE_ABOVE}")), "Done");
        let later = start + SignedDuration::from_hours(2);
        assert_eq!(
            registry.first_seen(&newest, &Value::from(PRUNE_ABOVE), later),
            start + SignedDuration::from_secs(PRUNE_ABOVE as i64)
        );
    }
}
