//! A kstatus compliance check for your own resources: what kstatus
//! computes for an object, and which rules of the kstatus conventions its
//! status breaks, so a test of your controller can assert that tools
//! reading health (Flux, Argo CD with the script konditions generates,
//! `kubectl wait`) understand it.
//!
//! The rules are those of Flux's status checks
//! (`github.com/fluxcd/pkg/runtime/conditions/check`, which Flux's
//! controllers test themselves with) that hold for any reconciled object;
//! this crate's own tests run Flux's checks on the same objects and assert
//! the same verdicts. Each [`Rule`] names its Flux check. Two of Flux's
//! checks are not rules here, because kstatus allows what they forbid and
//! konditions does it: `FAIL0005` (Reconciling and Stalled never present
//! together: here only both `True` is a violation) and `FAIL0003` (Ready
//! `False` whenever Reconciling is `True`: Ready is `Unknown` while a
//! generation is being worked on). `WARN0002` (the summary copies the
//! first bad negative condition) is left out: konditions' summary follows
//! its declared dependents' order.
//!
//! ```no_run
//! use konditions_testing::ComplianceCheck;
//! use serde_json::json;
//!
//! let object = json!({
//!     "apiVersion": "example.com/v1", "kind": "Bucket",
//!     "metadata": {"name": "b", "generation": 2},
//!     "status": {"observedGeneration": 1, "conditions": [
//!         {"type": "Ready", "status": "True", "reason": "AsExpected", "message": "",
//!          "observedGeneration": 1, "lastTransitionTime": "2024-01-01T00:00:00Z"}]},
//! });
//! let report = ComplianceCheck::new("Ready").check(&object).unwrap();
//! assert_eq!(report.kstatus.status, "InProgress");
//! assert!(report.failures().any(|v| v.rule == konditions_testing::Rule::ReadyForOlderGeneration));
//! ```

use konditions_core::{ConditionType, Polarity};
use serde::Serialize;

use crate::{Error, KstatusResult};

/// How bad breaking a [`Rule`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Tools reading health are misled.
    Failure,
    /// A convention is not followed; tools still read the health right.
    Warning,
}

/// A rule of the kstatus conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The summary condition is absent.
    SummaryMissing,
    /// `Reconciling` and `Stalled` are both `True` (kstatus reads only
    /// `Reconciling` then, and hides that a human is needed).
    ReconcilingAndStalled,
    /// A negative-polarity condition is `True` while the summary is good.
    AbnormalWhileReady,
    /// `Stalled` is `True` but the summary is not `False`.
    StalledButNotFalse,
    /// `status.observedGeneration` is greater than `metadata.generation`.
    ObservedGenerationAhead,
    /// The summary is good (and neither `Reconciling` nor `Stalled` alone
    /// is `True`) but `status.observedGeneration` is absent or older than
    /// `metadata.generation` (a spec change not judged yet).
    ReadyForOlderGeneration,
    /// The summary is good but a condition was computed for an older
    /// generation (or has no `observedGeneration`).
    ReadyWithStaleCondition,
    /// The summary is good but a condition's `observedGeneration` is not
    /// `status.observedGeneration`.
    ReadyWithOtherGeneration,
    /// The summary is `Unknown` or absent while `Reconciling` is not
    /// `True` (kstatus then reads the object as Current or in progress
    /// for no reason it can show).
    UnknownWithoutReconciling,
    /// A negative-polarity condition is present while the summary is good
    /// (Flux removes them when normal).
    NegativePresentWhileReady,
    /// `Reconciling` is present and `False` (Flux removes it).
    ReconcilingFalse,
    /// `Stalled` is present and `False` (Flux removes it).
    StalledFalse,
    /// A condition has no `observedGeneration`.
    ConditionWithoutObservedGeneration,
}

impl Rule {
    /// How bad breaking it is.
    pub fn severity(self) -> Severity {
        match self {
            Self::NegativePresentWhileReady
            | Self::ReconcilingFalse
            | Self::StalledFalse
            | Self::ConditionWithoutObservedGeneration => Severity::Warning,
            _ => Severity::Failure,
        }
    }

    /// The check of Flux's `conditions/check` that states the same rule,
    /// e.g. `FAIL0002`. [`ReconcilingAndStalled`](Self::ReconcilingAndStalled)
    /// is narrower than its `FAIL0005` (both present).
    pub fn flux_check(self) -> &'static str {
        match self {
            Self::AbnormalWhileReady => "FAIL0001",
            Self::SummaryMissing => "FAIL0002",
            Self::StalledButNotFalse => "FAIL0004",
            Self::ReconcilingAndStalled => "FAIL0005",
            Self::ObservedGenerationAhead => "FAIL0006",
            Self::ReadyForOlderGeneration => "FAIL0007",
            Self::ReadyWithStaleCondition => "FAIL0008",
            Self::ReadyWithOtherGeneration => "FAIL0009",
            Self::UnknownWithoutReconciling => "FAIL0011",
            Self::NegativePresentWhileReady => "WARN0001",
            Self::ReconcilingFalse => "WARN0003",
            Self::StalledFalse => "WARN0004",
            Self::ConditionWithoutObservedGeneration => "WARN0005",
        }
    }
}

/// A rule an object breaks, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// What in the object breaks it.
    pub message: String,
}

/// What [`ComplianceCheck::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compliance {
    /// What kstatus computes for the object.
    pub kstatus: KstatusResult,
    /// The rules the object breaks, failures and warnings.
    pub violations: Vec<Violation>,
}

impl Compliance {
    /// The violations of [`Severity::Failure`] rules.
    pub fn failures(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.rule.severity() == Severity::Failure)
    }

    /// Whether no [`Severity::Failure`] rule is broken.
    pub fn is_compliant(&self) -> bool {
        self.failures().next().is_none()
    }
}

/// The compliance check of one kind: its summary condition and its
/// negative-polarity conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceCheck {
    summary: String,
    negative: Vec<String>,
}

/// One condition as read from the object.
#[derive(Debug)]
struct Seen<'a> {
    type_: &'a str,
    status: &'a str,
    observed_generation: Option<i64>,
}

impl ComplianceCheck {
    /// A check with summary condition `summary` (conventionally `Ready`)
    /// and no negative-polarity conditions besides `Reconciling` and
    /// `Stalled`.
    pub fn new(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            negative: vec!["Reconciling".into(), "Stalled".into()],
        }
    }

    /// The check for condition types `T` (the enum `#[derive(ConditionalResource)]`
    /// generates): its summary (`Ready` when it declares none) and its
    /// negative-polarity types.
    pub fn of<T: ConditionType>() -> Self {
        let mut check =
            Self::new(T::summary().map_or_else(|| "Ready".to_owned(), |s| s.as_str().to_owned()));
        for type_ in T::declared() {
            if type_.polarity() == Polarity::Negative
                && !check.negative.iter().any(|n| n == type_.as_str())
            {
                check.negative.push(type_.as_str().to_owned());
            }
        }
        check
    }

    /// Adds negative-polarity condition types (`True` is abnormal).
    pub fn negative<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        for type_ in types {
            let type_ = type_.into();
            if !self.negative.contains(&type_) {
                self.negative.push(type_);
            }
        }
        self
    }

    /// The negative-polarity condition types.
    pub fn negative_types(&self) -> &[String] {
        &self.negative
    }

    /// Checks `object`: a whole object (`apiVersion`, `kind`, `metadata`,
    /// `status`), as a `serde_json::Value`, a typed resource, or one just
    /// fetched from the API server.
    ///
    /// # Errors
    /// [`Error::NotAnObject`] when `object` does not serialize to a
    /// Kubernetes object; [`Error::Kstatus`] when kstatus cannot run (no
    /// Go to build it) or refuses the object.
    pub fn check(&self, object: &impl Serialize) -> Result<Compliance, Error> {
        let object = serde_json::to_value(object).map_err(|e| Error::NotAnObject(e.to_string()))?;
        for field in ["apiVersion", "kind", "metadata"] {
            if object.get(field).is_none() {
                return Err(Error::NotAnObject(format!("no `{field}`")));
            }
        }
        let kstatus = crate::try_kstatus(&object)?;
        Ok(Compliance {
            kstatus,
            violations: self.violations(&object),
        })
    }

    /// The rules `object` breaks (no kstatus).
    fn violations(&self, object: &serde_json::Value) -> Vec<Violation> {
        let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
        let status = &object["status"];
        let observed = status["observedGeneration"].as_i64();
        let conditions: Vec<Seen<'_>> = status["conditions"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| Seen {
                        type_: c["type"].as_str().unwrap_or_default(),
                        status: c["status"].as_str().unwrap_or_default(),
                        observed_generation: c["observedGeneration"].as_i64(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let find = |type_: &str| conditions.iter().find(|c| c.type_ == type_);
        let is = |type_: &str, value: &str| find(type_).is_some_and(|c| c.status == value);
        let names = |list: Vec<&str>| list.join(", ");
        let summary = self.summary.as_str();
        let ready = is(summary, "True");
        let negative = |c: &&Seen<'_>| self.negative.iter().any(|n| n == c.type_);
        let mut found = Vec::new();
        let mut add = |rule: Rule, message: String| found.push(Violation { rule, message });

        if find(summary).is_none() {
            add(
                Rule::SummaryMissing,
                format!("there is no {summary} condition"),
            );
        }
        if is("Reconciling", "True") && is("Stalled", "True") {
            add(
                Rule::ReconcilingAndStalled,
                "Reconciling and Stalled are both True".into(),
            );
        }
        if is("Stalled", "True") && find(summary).is_some() && !is(summary, "False") {
            add(
                Rule::StalledButNotFalse,
                format!("Stalled is True but {summary} is not False"),
            );
        }
        if observed.unwrap_or(0) > generation {
            add(
                Rule::ObservedGenerationAhead,
                format!(
                    "status.observedGeneration {} is greater than the generation {generation}",
                    observed.unwrap_or(0)
                ),
            );
        }
        if find(summary).is_none_or(|c| c.status == "Unknown") && !is("Reconciling", "True") {
            add(
                Rule::UnknownWithoutReconciling,
                format!("{summary} is Unknown or absent but Reconciling is not True"),
            );
        }
        // Good and settled: neither Reconciling nor Stalled alone True (the
        // generation rules do not hold while one of them is).
        let settled = ready && is("Reconciling", "True") == is("Stalled", "True");
        if ready {
            let abnormal: Vec<_> = conditions
                .iter()
                .filter(negative)
                .filter(|c| c.status == "True")
                .map(|c| c.type_)
                .collect();
            if !abnormal.is_empty() {
                add(
                    Rule::AbnormalWhileReady,
                    format!("{summary} is True while {} True", names(abnormal)),
                );
            }
        }
        if settled {
            if observed.unwrap_or(0) < generation {
                add(
                    Rule::ReadyForOlderGeneration,
                    format!(
                        "{summary} is True but status.observedGeneration is {} for generation {generation}",
                        observed.map_or_else(|| "absent".to_owned(), |g| g.to_string())
                    ),
                );
            }
            let stale: Vec<_> = conditions
                .iter()
                .filter(|c| c.observed_generation.unwrap_or(0) < generation)
                .map(|c| c.type_)
                .collect();
            if !stale.is_empty() {
                add(
                    Rule::ReadyWithStaleCondition,
                    format!(
                        "{summary} is True but {} computed for a generation before {generation}",
                        names(stale)
                    ),
                );
            }
            let other: Vec<_> = conditions
                .iter()
                .filter(|c| c.observed_generation.unwrap_or(0) != observed.unwrap_or(0))
                .map(|c| c.type_)
                .collect();
            if !other.is_empty() {
                add(
                    Rule::ReadyWithOtherGeneration,
                    format!(
                        "{summary} is True but {} not computed for status.observedGeneration {}",
                        names(other),
                        observed.unwrap_or(0)
                    ),
                );
            }
        }
        if ready {
            let present: Vec<_> = conditions
                .iter()
                .filter(negative)
                .map(|c| c.type_)
                .collect();
            if !present.is_empty() {
                add(
                    Rule::NegativePresentWhileReady,
                    format!("{summary} is True and {} present", names(present)),
                );
            }
        }
        if is("Reconciling", "False") {
            add(Rule::ReconcilingFalse, "Reconciling is False".into());
        }
        if is("Stalled", "False") {
            add(Rule::StalledFalse, "Stalled is False".into());
        }
        let without: Vec<_> = conditions
            .iter()
            .filter(|c| c.observed_generation.unwrap_or(0) < 1)
            .map(|c| c.type_)
            .collect();
        if !without.is_empty() {
            add(
                Rule::ConditionWithoutObservedGeneration,
                format!("{} without observedGeneration", names(without)),
            );
        }
        found
    }
}

#[cfg(test)]
mod flux;
