//! What a reconciler remembers about each object between its reconciles:
//! its consecutive errors (for the error backoff), whether this process
//! removed its finalizer (a late copy of it has nothing left to do), and
//! its last status write (a late copy must not write the same again).
//!
//! Bounded: past [`Memory::CAPACITY`] objects, the oldest remembered is
//! forgotten, which costs at most a shorter backoff or one refused write.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use super::Applied;

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
    /// The resourceVersion this process's last status write stored, and
    /// what it said.
    applied: Option<(u64, Applied)>,
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
        if !inner.objects.contains_key(uid) {
            if inner.order.len() >= Self::CAPACITY
                && let Some(oldest) = inner.order.pop_front()
            {
                inner.objects.remove(&oldest);
            }
            inner.order.push_back(uid.to_owned());
        }
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

    pub(super) fn applied(&self, uid: &str, resource_version: u64, applied: Applied) {
        self.update(uid, |e| e.applied = Some((resource_version, applied)));
    }

    pub(super) fn last_applied(&self, uid: &str) -> Option<(u64, Applied)> {
        self.read(uid, |e| e.applied.clone()).flatten()
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
