//! What a reconciler remembers about each object between its reconciles:
//! its consecutive errors (for the error backoff), whether this process
//! removed its finalizer (a late copy of it has nothing left to do), the
//! resourceVersion of its last write until the cache shows it (read your
//! own writes), and whether its condition gauges are set.
//!
//! Bounded: past [`Memory::CAPACITY`] objects, the oldest remembered is
//! forgotten, which costs at most a shorter backoff, a reconcile on a copy
//! older than a write of ours (as without the guard), or a gauge set again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Per-object memory of one reconciler, keyed by UID.
#[derive(Debug, Default)]
pub(super) struct Memory {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    objects: HashMap<String, Entry>,
    /// The UIDs in the order they were first remembered.
    order: VecDeque<String>,
}

#[derive(Debug, Default)]
struct Entry {
    failures: u32,
    released: bool,
    /// This process's last write that the cache has not shown yet.
    written: Option<Written>,
    /// A digest of the conditions' statuses the gauges show.
    gauged: Option<u64>,
    /// The shard view at which the object, moved to this member, was read
    /// live.
    verified: Option<u64>,
}

#[derive(Debug)]
struct Written {
    resource_version: u64,
    at: Instant,
    /// When a reconcile was first deferred for it.
    deferred_since: Option<Instant>,
}

/// How a cached copy compares with this process's last write of the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Freshness {
    /// No write of ours the copy does not show.
    Current,
    /// The copy shows our last write, which it was `lag` after.
    CaughtUp { lag: Duration },
    /// The copy is older than our last write; reconciles have been
    /// deferred for it for `waited`.
    Behind { waited: Duration },
    /// The copy's resourceVersion is not a number: it cannot be compared.
    NotComparable,
}

impl Memory {
    /// How many objects are remembered.
    pub(super) const CAPACITY: usize = 4096;

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain data: a panic elsewhere leaves it consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update<R>(&self, uid: &str, change: impl FnOnce(&mut Entry) -> R) -> R {
        let mut inner = self.lock();
        // A known object (every reconcile's case) costs no allocation.
        if let Some(entry) = inner.objects.get_mut(uid) {
            return change(entry);
        }
        if inner.order.len() >= Self::CAPACITY
            && let Some(oldest) = inner.order.pop_front()
        {
            inner.objects.remove(&oldest);
        }
        inner.order.push_back(uid.to_owned());
        change(inner.objects.entry(uid.to_owned()).or_default())
    }

    fn read<R>(&self, uid: &str, read: impl FnOnce(&Entry) -> R) -> Option<R> {
        self.lock().objects.get(uid).map(read)
    }

    /// Counts one more consecutive error; how many there are now.
    pub(super) fn failed_again(&self, uid: &str) -> u32 {
        self.update(uid, |e| {
            e.failures = e.failures.saturating_add(1);
            e.failures
        })
    }

    /// A reconcile finished: the errors are over.
    pub(super) fn succeeded(&self, uid: &str) {
        let mut inner = self.lock();
        if let Some(entry) = inner.objects.get_mut(uid) {
            entry.failures = 0;
        }
    }

    /// This process removed the object's finalizer: what else it knew of
    /// the object is of no more use.
    pub(super) fn released(&self, uid: &str) {
        self.update(uid, |e| {
            *e = Entry {
                released: true,
                ..Entry::default()
            };
        });
    }

    pub(super) fn was_released(&self, uid: &str) -> bool {
        self.read(uid, |e| e.released).unwrap_or(false)
    }

    /// A write of this process stored the object at `resource_version`.
    pub(super) fn wrote(&self, uid: &str, resource_version: u64) {
        self.update(uid, |e| match &mut e.written {
            Some(w) if w.resource_version >= resource_version => {}
            written => {
                *written = Some(Written {
                    resource_version,
                    at: Instant::now(),
                    deferred_since: None,
                });
            }
        });
    }

    /// How a copy at `resource_version` compares with our last write; a
    /// copy that shows it ends the wait (the entry goes).
    pub(super) fn freshness(&self, uid: &str, resource_version: Option<u64>) -> Freshness {
        let mut inner = self.lock();
        let Some(entry) = inner.objects.get_mut(uid) else {
            return Freshness::Current;
        };
        let Some(written) = &mut entry.written else {
            return Freshness::Current;
        };
        let Some(seen) = resource_version else {
            return Freshness::NotComparable;
        };
        if seen >= written.resource_version {
            let lag = written.at.elapsed();
            entry.written = None;
            return Freshness::CaughtUp { lag };
        }
        let since = *written.deferred_since.get_or_insert_with(Instant::now);
        Freshness::Behind {
            waited: since.elapsed(),
        }
    }

    /// Whether the gauges must be set to show statuses of digest
    /// `statuses`; they are assumed set from now on.
    /// Whether the object, moved to this member at shard view `view`, is
    /// still to be read live; remembered as read from now on.
    pub(super) fn verify(&self, uid: &str, view: u64) -> bool {
        self.update(uid, |e| e.verified.replace(view) != Some(view))
    }

    pub(super) fn regauge(&self, uid: &str, statuses: u64) -> bool {
        self.update(uid, |e| e.gauged.replace(statuses) != Some(statuses))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_object_is_forgotten_past_the_capacity() {
        let memory = Memory::default();
        for i in 0..=Memory::CAPACITY {
            memory.released(&format!("uid-{i}"));
        }
        assert!(!memory.was_released("uid-0"), "forgotten");
        assert!(memory.was_released("uid-1"));
        assert!(memory.was_released(&format!("uid-{}", Memory::CAPACITY)));
        assert_eq!(memory.lock().objects.len(), Memory::CAPACITY);
        assert_eq!(memory.lock().order.len(), Memory::CAPACITY);
    }

    #[test]
    fn a_copy_is_behind_until_it_shows_our_last_write() {
        let memory = Memory::default();
        assert_eq!(memory.freshness("a", Some(5)), Freshness::Current);
        memory.wrote("a", 10);
        // An older write of ours does not lower the mark.
        memory.wrote("a", 8);
        assert!(matches!(
            memory.freshness("a", Some(9)),
            Freshness::Behind { .. }
        ));
        assert_eq!(memory.freshness("a", None), Freshness::NotComparable);
        assert!(matches!(
            memory.freshness("a", Some(10)),
            Freshness::CaughtUp { .. }
        ));
        // Caught up: forgotten, so the next copy is current.
        assert_eq!(memory.freshness("a", Some(9)), Freshness::Current);
    }

    #[test]
    fn errors_count_up_until_a_reconcile_succeeds() {
        let memory = Memory::default();
        assert_eq!(memory.failed_again("a"), 1);
        assert_eq!(memory.failed_again("a"), 2);
        memory.succeeded("a");
        assert_eq!(memory.failed_again("a"), 1);
        // Success of an object never seen failing remembers nothing.
        memory.succeeded("b");
        assert!(!memory.lock().objects.contains_key("b"));
    }
}
