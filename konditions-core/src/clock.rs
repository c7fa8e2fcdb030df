//! Where "now" comes from when a condition transitions.
//!
//! Production code uses [`SystemClock`]; tests inject a [`ManualClock`] so
//! `lastTransitionTime` is predictable.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// A source of the current time.
///
/// ```
/// use konditions_core::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now > jiff::Timestamp::UNIX_EPOCH);
/// ```
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
///
/// ```
/// use konditions_core::{Clock, SystemClock};
/// let a = SystemClock.now();
/// assert!(SystemClock.now() >= a);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that says what it is told: fixed until [`set`](Self::set) or
/// [`advance`](Self::advance) moves it. Shareable across threads.
///
/// ```
/// use konditions_core::{Clock, ManualClock};
/// let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
/// assert_eq!(clock.now().to_string(), "2024-05-01T10:00:00Z");
/// clock.advance(jiff::SignedDuration::from_secs(90));
/// assert_eq!(clock.now().to_string(), "2024-05-01T10:01:30Z");
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    ///
    /// ```
    /// use konditions_core::{Clock, ManualClock};
    /// assert_eq!(ManualClock::new(jiff::Timestamp::UNIX_EPOCH).now(), jiff::Timestamp::UNIX_EPOCH);
    /// ```
    pub fn new(now: Timestamp) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Moves the clock to `now`.
    ///
    /// ```
    /// use konditions_core::{Clock, ManualClock};
    /// let clock = ManualClock::new(jiff::Timestamp::UNIX_EPOCH);
    /// let later = "2030-01-01T00:00:00Z".parse().unwrap();
    /// clock.set(later);
    /// assert_eq!(clock.now(), later);
    /// ```
    pub fn set(&self, now: Timestamp) {
        *self.lock() = now;
    }

    /// Moves the clock by `by` (saturating at the ends of `Timestamp`'s range).
    ///
    /// ```
    /// use konditions_core::{Clock, ManualClock};
    /// let clock = ManualClock::new(jiff::Timestamp::UNIX_EPOCH);
    /// clock.advance(jiff::SignedDuration::from_secs(1));
    /// assert_eq!(clock.now().as_second(), 1);
    /// ```
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.lock();
        *now = now.saturating_add(by).unwrap_or(*now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A panic while holding this lock cannot leave a Timestamp half
        // written, so a poisoned lock is still good.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for ManualClock {
    /// A clock stopped at the Unix epoch.
    fn default() -> Self {
        Self::new(Timestamp::UNIX_EPOCH)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::default();
        assert_eq!(clock.now(), Timestamp::UNIX_EPOCH);
        clock.advance(SignedDuration::from_millis(1500));
        assert_eq!(clock.now().as_millisecond(), 1500);
        let shared: std::sync::Arc<dyn Clock> = std::sync::Arc::new(clock);
        assert_eq!(shared.now().as_millisecond(), 1500);
    }
}
