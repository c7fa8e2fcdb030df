//! What the operator counts, in Prometheus' data model: reconciles and
//! their results, lock outcomes, condition transitions, reconcile time.
//!
//! ```
//! use konditions_examples::postgres_writer::Metrics;
//! let metrics = Metrics::default();
//! metrics.reconciled("ok", std::time::Duration::from_millis(12));
//! assert!(metrics.encode().contains("postgres_writer_reconciles_total{result=\"ok\"} 1"));
//! ```

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    condition: String,
    status: String,
}

/// The operator's metrics, shareable across threads (clones share them).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<ResultLabel, Counter>,
    lock_outcomes: Family<OutcomeLabel, Counter>,
    transitions: Family<TransitionLabels, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("postgres_writer");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles, by result (ok, error)",
            reconciles.clone(),
        );
        let lock_outcomes = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "lock_outcomes",
            "Runs of the row lock, by outcome (ran, failed, done, busy, backing_off, stale, lost_lease, gone)",
            lock_outcomes.clone(),
        );
        let transitions = Family::<TransitionLabels, Counter>::default();
        registry.register(
            "condition_transitions",
            "Status changes of conditions this operator wrote, by condition and new status",
            transitions.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took",
            duration.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            lock_outcomes,
            transitions,
            duration,
        }
    }
}

impl Metrics {
    /// Counts one reconcile with `result` that took `took`.
    pub fn reconciled(&self, result: &str, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Counts one run of the row lock ending in `outcome`.
    pub fn lock_outcome(&self, outcome: &str) {
        self.lock_outcomes
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a condition that changed to `status`.
    pub fn transition(&self, condition: &str, status: &str) {
        self.transitions
            .get_or_create(&TransitionLabels {
                condition: condition.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    /// How many reconciles ended with `result` so far.
    pub fn reconciles(&self, result: &str) -> u64 {
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .get()
    }

    /// How many lock runs ended in `outcome` so far.
    pub fn lock_outcomes(&self, outcome: &str) -> u64 {
        self.lock_outcomes
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .get()
    }

    /// Everything, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            // Encoding into a String cannot fail; say so rather than panic.
            let _ = writeln!(out, "# metrics could not be encoded");
        }
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
