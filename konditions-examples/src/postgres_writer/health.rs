//! Where the operator is in its life, for the readiness probe: starting,
//! ready (the controller runs and its watch has listed every
//! PostgresWriter once), or shutting down.
//!
//! [`controller::run`](super::controller::run) moves a [`Health`] forward;
//! the HTTP endpoints ([`endpoints`](super::endpoints)) read it. The phases
//! only move forward: once shutting down, a late "synced" does not make the
//! operator ready again.
//!
//! ```
//! use konditions_examples::postgres_writer::{Health, Phase};
//!
//! let health = Health::default();
//! assert_eq!(health.phase(), Phase::Starting);
//! health.mark_synced();
//! assert!(health.is_ready());
//! health.mark_shutting_down();
//! health.mark_synced(); // too late: stays shutting down
//! assert_eq!(health.phase(), Phase::ShuttingDown);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// A phase of the operator's life, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The controller is starting, or its watch has not listed the
    /// PostgresWriters yet: not ready.
    Starting = 0,
    /// The controller runs and its cache is synced: ready.
    Ready = 1,
    /// A shutdown was requested: no new reconciles start, the ones in flight
    /// get the shutdown grace to finish. Not ready.
    ShuttingDown = 2,
}

impl Phase {
    /// The phase as a word, for probe bodies and logs.
    ///
    /// ```
    /// use konditions_examples::postgres_writer::Phase;
    /// assert_eq!(Phase::ShuttingDown.as_str(), "shutting down");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::ShuttingDown => "shutting down",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Starting,
            1 => Self::Ready,
            _ => Self::ShuttingDown,
        }
    }
}

/// The operator's phase, shared by the controller and the probes (clones
/// share it).
#[derive(Clone, Debug, Default)]
pub struct Health(Arc<AtomicU8>);

impl Health {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Whether the readiness probe should succeed.
    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Ready
    }

    /// The watch has listed every PostgresWriter: ready, unless already
    /// shutting down.
    pub fn mark_synced(&self) {
        self.advance(Phase::Ready);
    }

    /// A shutdown was requested: not ready from now on.
    pub fn mark_shutting_down(&self) {
        self.advance(Phase::ShuttingDown);
    }

    fn advance(&self, to: Phase) {
        // `fetch_max`: phases never move backwards, whichever call comes last.
        self.0.fetch_max(to as u8, Ordering::AcqRel);
    }
}
