//! The runner's metric families (the table is in the [module
//! documentation](super#metrics)).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{ConditionStatus, ConditionType, ConditionalResource};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    kind: String,
    namespace: String,
    name: String,
    #[prometheus(flatten)]
    condition: TypeStatus,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeStatus {
    #[allow(clippy::struct_field_names)]
    r#type: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    kind: String,
    #[prometheus(flatten)]
    condition: TypeStatus,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    kind: String,
    condition: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LockLabels {
    kind: String,
    condition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

fn histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The runner's metrics, registered once on the registry the operator
/// serves; clones share them, and runners of several kinds can share one
/// (every series has a `kind` label). Give it to
/// [`Reconciler::metrics`](super::Reconciler::metrics).
///
/// ```
/// use konditions_core::reconcile::Metrics;
/// use prometheus_client::registry::Registry;
///
/// let mut registry = Registry::default(); // the one your `/metrics` encodes
/// let metrics = Metrics::new(&mut registry);
/// // A family shows in the text once it holds a series (after a reconcile).
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert_eq!(text, "# EOF\n");
/// # drop(metrics);
/// ```
#[derive(Clone, Debug)]
pub struct Metrics {
    conditions: Family<ConditionLabels, Gauge>,
    transitions: Family<TransitionLabels, Counter>,
    lock_outcomes: Family<OutcomeLabels, Counter>,
    lock_duration: Family<LockLabels, Histogram, fn() -> Histogram>,
    reconcile_duration: Family<KindLabel, Histogram, fn() -> Histogram>,
    errors: Family<KindLabel, Counter>,
    stale: Family<KindLabel, Counter>,
    live_reads: Family<KindLabel, Counter>,
    cache_lag: Family<KindLabel, Histogram, fn() -> Histogram>,
}

impl Metrics {
    /// The families, registered on `registry` under `konditions_`.
    /// Register once per registry: a name registered twice is encoded
    /// twice.
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            conditions: Family::default(),
            transitions: Family::default(),
            lock_outcomes: Family::default(),
            lock_duration: Family::new_with_constructor(histogram),
            reconcile_duration: Family::new_with_constructor(histogram),
            errors: Family::default(),
            stale: Family::default(),
            live_reads: Family::default(),
            cache_lag: Family::new_with_constructor(histogram),
        };
        let registry = registry.sub_registry_with_prefix("konditions");
        registry.register(
            "reconcile_condition",
            "1 for each condition's current status (one series per condition)",
            metrics.conditions.clone(),
        );
        registry.register(
            "condition_transitions",
            "Status changes written by the runner, by condition type and new status",
            metrics.transitions.clone(),
        );
        registry.register(
            "lock_outcomes",
            "Lock runs by outcome (ran, failed, done, busy, backing_off, stale, lost_lease, gone)",
            metrics.lock_outcomes.clone(),
        );
        registry.register(
            "lock_duration_seconds",
            "Lock runs whose task ran, from acquire to release",
            metrics.lock_duration.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconciles that finished, from start to finish",
            metrics.reconcile_duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed",
            metrics.errors.clone(),
        );
        registry.register(
            "stale_reconciles",
            "Reconciles deferred: the cached copy was older than this process's own last write",
            metrics.stale.clone(),
        );
        registry.register(
            "live_reads",
            "Reconciles that read the object from the API server after the cache lagged too long",
            metrics.live_reads.clone(),
        );
        registry.register(
            "cache_lag_seconds",
            "From a write of this process to the first reconcile whose cached copy shows it",
            metrics.cache_lag.clone(),
        );
        metrics
    }

    /// Sets the condition gauges of `object` from its conditions: 1 for
    /// each condition's status, and no series for its other statuses (a
    /// third of the series of 0/1 for every status, which at thousands of
    /// objects is most of the registry).
    pub(super) fn conditions<K: ConditionalResource>(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        object: &K,
    ) {
        for condition in object.conditions().into_iter().flat_map(|c| c.iter()) {
            for status in K::Status::ALL {
                let labels = condition_labels(
                    kind,
                    namespace,
                    name,
                    condition.type_.as_str(),
                    status.as_str(),
                );
                if *status == condition.status {
                    self.conditions.get_or_create(&labels).set(1);
                } else {
                    self.conditions.remove(&labels);
                }
            }
        }
    }

    /// Removes the condition gauges of an object that is gone.
    pub(super) fn forget<K: ConditionalResource>(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        object: &K,
    ) {
        for condition in object.conditions().into_iter().flat_map(|c| c.iter()) {
            for status in K::Status::ALL {
                let labels = condition_labels(
                    kind,
                    namespace,
                    name,
                    condition.type_.as_str(),
                    status.as_str(),
                );
                self.conditions.remove(&labels);
            }
        }
    }

    pub(super) fn transition(&self, kind: &str, type_: &str, status: &str) {
        self.transitions
            .get_or_create(&TransitionLabels {
                kind: kind.to_owned(),
                condition: TypeStatus {
                    r#type: type_.to_owned(),
                    status: status.to_owned(),
                },
            })
            .inc();
    }

    pub(super) fn lock_outcome(
        &self,
        kind: &str,
        condition: &str,
        outcome: &str,
        ran_for: Option<Duration>,
    ) {
        self.lock_outcomes
            .get_or_create(&OutcomeLabels {
                kind: kind.to_owned(),
                condition: condition.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        if let Some(elapsed) = ran_for {
            self.lock_duration
                .get_or_create(&LockLabels {
                    kind: kind.to_owned(),
                    condition: condition.to_owned(),
                })
                .observe(elapsed.as_secs_f64());
        }
    }

    pub(super) fn reconciled(&self, kind: &str, elapsed: Duration) {
        self.reconcile_duration
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub(super) fn stale(&self, kind: &str) {
        self.stale.get_or_create(&kind_label(kind)).inc();
    }

    pub(super) fn live_read(&self, kind: &str) {
        self.live_reads.get_or_create(&kind_label(kind)).inc();
    }

    pub(super) fn cache_lag(&self, kind: &str, lag: Duration) {
        self.cache_lag
            .get_or_create(&kind_label(kind))
            .observe(lag.as_secs_f64());
    }

    pub(super) fn failed(&self, kind: &str) {
        self.errors
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }
}

fn kind_label(kind: &str) -> KindLabel {
    KindLabel {
        kind: kind.to_owned(),
    }
}

fn condition_labels(
    kind: &str,
    namespace: &str,
    name: &str,
    type_: &str,
    status: &str,
) -> ConditionLabels {
    ConditionLabels {
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        condition: TypeStatus {
            r#type: type_.to_owned(),
            status: status.to_owned(),
        },
    }
}
