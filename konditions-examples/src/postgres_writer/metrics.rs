//! What the operator counts, in Prometheus' data model: its reconciles and
//! their results and time (`postgres_writer_*`), and on the same registry
//! what konditions' reconcile runner counts (`konditions_*`: each
//! condition's status per resource, transitions, lock outcomes and
//! durations).
//!
//! ```
//! use konditions_examples::postgres_writer::Metrics;
//! let metrics = Metrics::default();
//! metrics.reconciled("ok", std::time::Duration::from_millis(12));
//! let text = metrics.encode();
//! assert!(text.contains("postgres_writer_reconciles_total{result=\"ok\"} 1"));
//! // The runner's families show once they hold a series (after a reconcile).
//! assert!(!text.contains("konditions_lock_outcomes"));
//! ```

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use konditions_core::reconcile;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// The operator's metrics, shareable across threads (clones share them).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<ResultLabel, Counter>,
    duration: Histogram,
    runner: reconcile::Metrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let runner = reconcile::Metrics::new(&mut registry);
        let own = registry.sub_registry_with_prefix("postgres_writer");
        let reconciles = Family::<ResultLabel, Counter>::default();
        own.register(
            "reconciles",
            "Reconciles, by result (ok, error)",
            reconciles.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        own.register(
            "reconcile_duration_seconds",
            "How long a reconcile took",
            duration.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            duration,
            runner,
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

    /// How many reconciles ended with `result` so far.
    pub fn reconciles(&self, result: &str) -> u64 {
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .get()
    }

    /// The reconcile runner's metrics, on the same registry.
    pub fn runner(&self) -> &reconcile::Metrics {
        &self.runner
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
