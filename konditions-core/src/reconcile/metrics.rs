//! The runner's metric families (the table is in the [module
//! documentation](super#metrics)).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{ConditionStatus, ConditionType, ConditionalResource};

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
    conditions: ConditionGauges,
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
            conditions: ConditionGauges::default(),
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
        registry.register_collector(Box::new(metrics.conditions.clone()));
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
    /// objects is most of the registry), nor for a condition it no longer
    /// has.
    pub(super) fn conditions<K: ConditionalResource>(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        object: &K,
    ) {
        let statuses = object.conditions().into_iter().flat_map(|c| c.iter());
        self.conditions.set(
            kind,
            namespace,
            name,
            statuses.map(|c| (c.type_.as_str(), c.status.as_str())),
        );
    }

    /// Removes the condition gauges of an object that is gone.
    pub(super) fn forget(&self, kind: &str, namespace: &str, name: &str) {
        self.conditions
            .set(kind, namespace, name, std::iter::empty());
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

/// The `reconcile_condition` gauges: one entry per object, its conditions'
/// types and statuses, rendered as series when the registry is encoded.
/// A `Family` of gauges would keep five owned label strings and a gauge
/// per series, and allocate them for every lookup: at 10,000 objects of
/// three conditions, 13.6 MiB against 2.3 MiB here (measured with
/// `/proc/self/statm`).
#[derive(Clone, Debug, Default)]
struct ConditionGauges(Arc<Mutex<Gauges>>);

#[derive(Debug, Default)]
struct Gauges {
    /// By kind and `namespace/name` (neither may hold a `/`): the types
    /// and statuses.
    objects: HashMap<ObjectKey, Box<[Gauge]>>,
    /// Kinds and condition types, shared by every object's entry; as
    /// many as the kinds and types the runners write.
    names: HashSet<Arc<str>>,
}

/// An object's kind and `namespace/name`.
type ObjectKey = (Arc<str>, Box<str>);
/// A condition's type and status: a series of 1.
type Gauge = (Arc<str>, &'static str);

impl Gauges {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = name.into();
        self.names.insert(shared.clone());
        shared
    }
}

impl ConditionGauges {
    fn lock(&self) -> std::sync::MutexGuard<'_, Gauges> {
        // A panic while holding it leaves no half-written entry.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the entry of an object; no conditions removes it.
    fn set<'a>(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        conditions: impl Iterator<Item = (&'a str, &'static str)>,
    ) {
        let mut gauges = self.lock();
        let conditions: Box<[_]> = conditions
            .map(|(type_, status)| (gauges.intern(type_), status))
            .collect();
        let key = (gauges.intern(kind), format!("{namespace}/{name}").into());
        if conditions.is_empty() {
            gauges.objects.remove(&key);
        } else {
            gauges.objects.insert(key, conditions);
        }
    }
}

impl Collector for ConditionGauges {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let gauges = self.lock();
        // Like a family, no descriptor before the first series.
        if gauges.objects.is_empty() {
            return Ok(());
        }
        let one = ConstGauge::new(1i64);
        let mut family = encoder.encode_descriptor(
            "reconcile_condition",
            "1 for each condition's current status (one series per condition)",
            None,
            one.metric_type(),
        )?;
        for ((kind, object), conditions) in &gauges.objects {
            let (namespace, name) = object.split_once('/').unwrap_or(("", object));
            for (type_, status) in conditions {
                let labels = [
                    ("kind", &**kind),
                    ("namespace", namespace),
                    ("name", name),
                    ("type", &**type_),
                    ("status", *status),
                ];
                one.encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::Metrics;

    fn series(registry: &Registry) -> Vec<String> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("konditions_reconcile_condition"))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn an_objects_condition_gauges_follow_its_statuses_and_go_with_it() {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        let gauges = &metrics.conditions;
        gauges.set(
            "Parcel",
            "ns",
            "a",
            [("Ready", "False"), ("Shipped", "Unknown")].into_iter(),
        );
        gauges.set("Parcel", "", "b", [("Ready", "True")].into_iter());
        assert_eq!(
            series(&registry),
            [
                r#"konditions_reconcile_condition{kind="Parcel",namespace="",name="b",type="Ready",status="True"} 1"#,
                r#"konditions_reconcile_condition{kind="Parcel",namespace="ns",name="a",type="Ready",status="False"} 1"#,
                r#"konditions_reconcile_condition{kind="Parcel",namespace="ns",name="a",type="Shipped",status="Unknown"} 1"#,
            ]
        );
        // A status change replaces the series; a condition gone takes its own.
        gauges.set("Parcel", "ns", "a", [("Ready", "True")].into_iter());
        metrics.forget("Parcel", "", "b");
        assert_eq!(
            series(&registry),
            [
                r#"konditions_reconcile_condition{kind="Parcel",namespace="ns",name="a",type="Ready",status="True"} 1"#
            ]
        );
        // No conditions, no series and no descriptor.
        gauges.set("Parcel", "ns", "a", std::iter::empty());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert_eq!(text, "# EOF\n");
    }
}
