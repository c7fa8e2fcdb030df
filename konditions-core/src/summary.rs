//! The summary condition (conventionally `Ready`), computed from the
//! declared dependents ([`ConditionType::dependents`]), and kstatus'
//! `Reconciling` and `Stalled` conditions, computed from the same verdict.
//!
//! The summary follows Cluster API's summary (see [`merge`](crate::merge)
//! for the rules and every deliberate difference):
//! 1. a dependent in its bad state (see [`Polarity`](crate::Polarity)) makes
//!    the summary bad;
//! 2. otherwise a dependent that is missing, Unknown-like, or stale (computed
//!    for an older generation than the object's) makes the summary
//!    `S::UNKNOWN`;
//! 3. otherwise every dependent is good and so is the summary.
//!
//! The message lists every dependent that is not as expected, one
//! `* Type: message` line each, in declaration order; the reason is the
//! dependent's own when exactly one explains the summary, `IssuesReported`
//! (`UnknownReported`) when several do. A [`Paused`](ConditionType::paused)
//! condition is never a dependent; a missing
//! [`Deleting`](ConditionType::deleting) one is left out.
//!
//! "Good" for the summary is `S::TRUE`, or `S::FALSE` if the summary type
//! itself is declared negative.
//!
//! When the types declare them ([`ConditionType::reconciling`],
//! [`ConditionType::stalled`]), the same verdict sets kstatus' conditions:
//! `Stalled` is True when a bad dependent's reason
//! [stalls](ConditionType::stalls) (a retry will not fix it), `Reconciling`
//! is True when the summary is not decided yet or bad for reasons a retry
//! may fix, except while the object is paused. They are present only when
//! True and removed otherwise: kstatus' conditions are "abnormal-true", and
//! kstatus, Flux and Argo CD read an absent one as False (Flux's own status
//! checks warn about a False one). See [`kstatus`](crate::kstatus) for what
//! tools make of it.

use crate::merge::{
    DefaultMerge, MergeError, MergeStrategy, Object, Priority, Reported, Summary, bounded_lines,
    merge_summary,
};
use crate::{
    Change, Clock, ConditionError, ConditionStatus, ConditionType, Conditions, Polarity, Status,
    SystemClock, Verdict,
};

/// Why a summary with options could not be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryError {
    /// The options cannot mean anything (an override of a missing
    /// condition, the same type overridden twice).
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// A dependent's stored reason or message is invalid (written by
    /// someone else).
    #[error(transparent)]
    Condition(#[from] ConditionError),
}

/// The summary's reason when every dependent is good.
pub const SUMMARY_TRUE_REASON: &str = "AsExpected";
/// The summary's message when every dependent is good.
pub const SUMMARY_TRUE_MESSAGE: &str = "All dependent conditions are as expected";
/// The `Paused` condition's reason while paused.
pub const PAUSED_REASON: &str = "Paused";
/// The `Paused` condition's reason when not paused.
pub const NOT_PAUSED_REASON: &str = "NotPaused";
/// The `Deleting` condition's reason while the object is being deleted.
pub const DELETING_REASON: &str = "Deleting";
/// The `Deleting` condition's reason otherwise.
pub const NOT_DELETING_REASON: &str = "NotDeleting";

/// What [`Conditions::update_summary_with`] changed: the summary, kstatus'
/// conditions, and (on a resource) `status.observedGeneration`.
///
/// ```
/// use konditions_core::{Change, Conditions, Status};
/// use konditions_core::example::WidgetCondition;
/// let mut list = Conditions::<WidgetCondition>::default();
/// let change = list.update_summary(None).unwrap();
/// assert_eq!(change.summary, Change::Added);
/// assert!(change.is_changed());
/// assert!(!list.update_summary(None).unwrap().is_changed());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryChange<S> {
    /// The summary condition.
    pub summary: Change<S>,
    /// `Reconciling`.
    pub reconciling: Change<S>,
    /// `Stalled`.
    pub stalled: Change<S>,
    /// Whether `status.observedGeneration` changed.
    pub observed_generation: bool,
}

impl<S> SummaryChange<S> {
    /// Nothing changed.
    pub const UNCHANGED: Self = Self {
        summary: Change::Unchanged,
        reconciling: Change::Unchanged,
        stalled: Change::Unchanged,
        observed_generation: false,
    };

    /// True when anything changed, so the status must be written.
    pub fn is_changed(&self) -> bool {
        self.summary.is_changed()
            || self.reconciling.is_changed()
            || self.stalled.is_changed()
            || self.observed_generation
    }
}

/// The dependents' verdict, and the dependents that explain it.
struct Judgement<S> {
    verdict: Verdict<'static, S>,
    /// `Some(true)` good, `Some(false)` bad, `None` not decided.
    good: Option<bool>,
    /// The issues, then the unknowns, each in declaration order.
    explained_by: Vec<Reported<'static>>,
    /// How many of `explained_by` are issues.
    issues: usize,
}

/// The status set's member for a tri-state status.
fn member<S: ConditionStatus>(status: Status) -> S {
    match status {
        Status::True => S::TRUE,
        Status::False => S::FALSE,
        Status::Unknown => S::UNKNOWN,
    }
}

impl<T: ConditionType, S: ConditionStatus> Conditions<T, S> {
    /// The summary condition's state as computed from the dependents, or
    /// `None` when `T` declares no summary. `generation` is the object's
    /// `metadata.generation`, used to treat stale dependents as unknown.
    ///
    /// ```
    /// use konditions_core::{Conditions, Status, Verdict};
    /// use konditions_core::example::WidgetCondition::{self, *};
    /// let mut list = Conditions::<WidgetCondition>::default();
    /// list.set(None, &DatabaseReady, Verdict::new(Status::True, "Connected")).unwrap();
    /// list.set(None, &BucketCreated, Verdict::new(Status::False, "QuotaExceeded").message("bucket quota is 10")).unwrap();
    /// let summary = list.compute_summary(None).unwrap();
    /// assert_eq!(summary.status, Status::False);
    /// assert_eq!(summary.reason, "QuotaExceeded");
    /// assert_eq!(summary.message, "* BucketCreated: bucket quota is 10\n* Degraded: Condition not yet reported");
    /// ```
    pub fn compute_summary(&self, generation: Option<i64>) -> Option<Verdict<'static, S>> {
        // The default options name no type: nothing can be refused.
        self.summarize(generation, &Summary::options())
            .ok()
            .flatten()
    }

    /// [`compute_summary`](Self::compute_summary) with options: types
    /// ignored when missing, overrides for this summary only, another
    /// [merge strategy](crate::merge::MergeStrategy). Fails when an
    /// override names a condition the list does not have, or the same type
    /// twice, or when every dependent is missing and ignored (as Cluster
    /// API's summary does); the options' own type list is not used (the
    /// dependents are).
    ///
    /// ```
    /// use konditions_core::{Conditions, Status, Verdict};
    /// use konditions_core::merge::Summary;
    /// use konditions_core::example::WidgetCondition::{self, *};
    /// let mut list = Conditions::<WidgetCondition>::default();
    /// list.set(None, &DatabaseReady, Verdict::new(Status::True, "Connected")).unwrap();
    /// list.set(None, &Degraded, Verdict::new(Status::False, "Healthy")).unwrap();
    /// let options = Summary::options().ignore_if_missing([BucketCreated.as_str()]);
    /// let ready = list.summarize(None, &options).unwrap().unwrap();
    /// assert_eq!((ready.status, &*ready.reason), (Status::True, "AsExpected"));
    /// # use konditions_core::ConditionType;
    /// ```
    pub fn summarize(
        &self,
        generation: Option<i64>,
        options: &Summary<'_>,
    ) -> Result<Option<Verdict<'static, S>>, MergeError> {
        let Some(summary_type) = T::summary() else {
            return Ok(None);
        };
        Ok(Some(
            self.judge(summary_type.polarity(), generation, options)?
                .verdict,
        ))
    }

    fn judge(
        &self,
        summary_polarity: Polarity,
        generation: Option<i64>,
        options: &Summary<'_>,
    ) -> Result<Judgement<S>, MergeError> {
        let paused = T::paused();
        let dependents: Vec<&T> = T::dependents()
            .iter()
            .filter(|t| !t.is_computed() && Some(*t) != paused.as_ref())
            .collect();
        let dependents = || dependents.iter().copied();
        let object = Object {
            generation,
            conditions: dependents()
                .filter_map(|t| self.find(t))
                .map(|c| {
                    Reported::new(
                        c.type_.as_str().to_owned(),
                        match c.status.truth() {
                            Some(true) => Status::True,
                            Some(false) => Status::False,
                            None => Status::Unknown,
                        },
                        c.reason.clone(),
                        c.message.clone(),
                    )
                    .observed_generation(c.observed_generation)
                })
                .collect(),
            ..Object::default()
        };
        // An object not being deleted need not say so: a missing `Deleting`
        // is left out rather than unknown.
        let deleting = T::deleting().filter(|d| self.find(d).is_none());
        let types: Vec<&str> = dependents()
            .filter(|t| Some(*t) != deleting.as_ref())
            .map(ConditionType::as_str)
            .collect();
        if types.is_empty() {
            // Nothing depends: the summary is good, as it always was.
            let status = if summary_polarity == Polarity::Positive {
                Status::True
            } else {
                Status::False
            };
            return Ok(Judgement {
                verdict: Verdict::new(member(status), SUMMARY_TRUE_REASON)
                    .message(SUMMARY_TRUE_MESSAGE),
                good: Some(true),
                explained_by: Vec::new(),
                issues: 0,
            });
        }
        let negative = dependents()
            .filter(|t| t.polarity() == Polarity::Negative)
            .map(|t| t.as_str().to_owned());
        let default = DefaultMerge::default().negative(negative);
        let strategy: &dyn MergeStrategy = options.custom_strategy().unwrap_or(&default);
        let in_scope = options.in_scope(&object, &types)?;
        let verdict = merge_summary(&in_scope, strategy, summary_polarity);
        let (issues, unknowns): (Vec<_>, Vec<_>) = in_scope
            .iter()
            .filter_map(|c| match strategy.priority(c) {
                Priority::Info => None,
                p => Some((p, c.clone())),
            })
            .partition(|(p, _)| *p == Priority::Issue);
        let good = match (issues.is_empty(), unknowns.is_empty()) {
            (false, _) => Some(false),
            (true, false) => None,
            (true, true) => Some(true),
        };
        let issue_count = issues.len();
        Ok(Judgement {
            verdict: Verdict {
                status: member(verdict.status),
                reason: verdict.reason,
                message: verdict.message,
            },
            good,
            explained_by: issues.into_iter().chain(unknowns).map(|(_, c)| c).collect(),
            issues: issue_count,
        })
    }

    /// Sets the summary condition from [`compute_summary`](Self::compute_summary)
    /// for `generation` (and `Reconciling`, `Stalled` when declared), with
    /// the system clock: the list-level primitive under
    /// [`ConditionalResource::update_summary`](crate::ConditionalResource::update_summary).
    /// Unchanged when `T` declares none of them. See
    /// [`update_summary_with`](Self::update_summary_with) for the rules.
    ///
    /// ```
    /// use konditions_core::{Change, Conditions, Status};
    /// use konditions_core::example::WidgetCondition::{self, *};
    /// let mut list = Conditions::<WidgetCondition>::default();
    /// assert_eq!(list.update_summary(Some(1)).unwrap().summary, Change::Added);
    /// assert_eq!(list.find(&Ready).unwrap().status, Status::Unknown);
    /// assert!(!list.update_summary(Some(1)).unwrap().is_changed());
    /// ```
    pub fn update_summary(
        &mut self,
        generation: Option<i64>,
    ) -> Result<SummaryChange<S>, ConditionError> {
        self.update_summary_with(&SystemClock, generation)
    }

    /// Sets the summary condition from [`compute_summary`](Self::compute_summary),
    /// and kstatus' `Reconciling` and `Stalled` from the same verdict when
    /// they are declared, with `observedGeneration` = `generation` and the
    /// transition time from `clock`. Fails only when a dependent's stored
    /// reason or message is invalid (written by someone else), leaving the
    /// list unchanged.
    ///
    /// ```
    /// use konditions_core::{Change, Conditions, ManualClock, Status, Verdict};
    /// use konditions_core::example::WidgetCondition::{self, *};
    /// let clock = ManualClock::default();
    /// let mut list = Conditions::<WidgetCondition>::default();
    /// list.set_with(&clock, Some(1), &Degraded, Verdict::new(Status::True, "OneReplica").message("1/3 replicas")).unwrap();
    /// list.update_summary_with(&clock, Some(1)).unwrap();
    /// let ready = list.find(&Ready).unwrap();
    /// assert_eq!((ready.status, ready.reason.as_str()), (Status::False, "OneReplica"));
    /// // A retry may fix `OneReplica`: reconciling, not stalled (absent).
    /// assert!(list.is_true(&Reconciling));
    /// assert!(list.find(&Stalled).is_none());
    /// ```
    pub fn update_summary_with<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
        generation: Option<i64>,
    ) -> Result<SummaryChange<S>, ConditionError> {
        // The default options name no type and override nothing: the only
        // error left is an invalid stored reason or message.
        match self.update_summary_by(clock, generation, &Summary::options()) {
            Ok(change) => Ok(change),
            Err(SummaryError::Condition(e)) => Err(e),
            Err(SummaryError::Merge(e)) => unreachable!("default summary options refused: {e}"),
        }
    }

    /// [`update_summary_with`](Self::update_summary_with) with options (see
    /// [`summarize`](Self::summarize)): types ignored when missing,
    /// overrides for this summary only, another merge strategy. kstatus'
    /// conditions follow the summary computed with the options.
    ///
    /// ```
    /// use konditions_core::{Conditions, ManualClock, Status, Verdict};
    /// use konditions_core::merge::Summary;
    /// use konditions_core::example::WidgetCondition::{self, *};
    /// let clock = ManualClock::default();
    /// let mut list = Conditions::<WidgetCondition>::default();
    /// list.set_with(&clock, Some(1), &DatabaseReady, Verdict::new(Status::True, "Up")).unwrap();
    /// list.set_with(&clock, Some(1), &Degraded, Verdict::new(Status::True, "Slow").message("p99 2s")).unwrap();
    /// // Degraded does not count for this summary: read as fine.
    /// let options = Summary::options()
    ///     .ignore_if_missing(["BucketCreated"])
    ///     .override_with("Degraded", Verdict::new(Status::False, "Tolerated"));
    /// list.update_summary_by(&clock, Some(1), &options).unwrap();
    /// assert!(list.is_true(&Ready));
    /// assert!(list.is_true(&Degraded)); // the list itself is unchanged
    /// ```
    pub fn update_summary_by<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
        generation: Option<i64>,
        options: &Summary<'_>,
    ) -> Result<SummaryChange<S>, SummaryError> {
        let (summary, reconciling, stalled) = (T::summary(), T::reconciling(), T::stalled());
        if summary.is_none() && reconciling.is_none() && stalled.is_none() {
            return Ok(SummaryChange::UNCHANGED);
        }
        let polarity = summary
            .as_ref()
            .map_or(Polarity::Positive, |s| s.polarity());
        let judged = self.judge(polarity, generation, options)?;
        let (mut reconciling_verdict, stalled_verdict) = kstatus_verdicts::<T, S>(&judged);
        if let Some(paused) = T::paused().and_then(|p| self.find(&p))
            && paused.status.truth() == Some(true)
        {
            // Paused: nobody works on the object, whatever the summary says.
            reconciling_verdict = None;
        }
        let mut change = SummaryChange::UNCHANGED;
        if let Some(summary) = summary {
            change.summary = self.set_unless_same(clock, generation, &summary, judged.verdict)?;
        }
        if let Some(reconciling) = reconciling {
            change.reconciling =
                self.set_or_remove(clock, generation, &reconciling, reconciling_verdict)?;
        }
        if let Some(stalled) = stalled {
            change.stalled = self.set_or_remove(clock, generation, &stalled, stalled_verdict)?;
        }
        Ok(change)
    }

    /// An abnormal-true condition: set to `verdict`, or removed when there
    /// is none (its False is its absence).
    fn set_or_remove<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
        generation: Option<i64>,
        type_: &T,
        verdict: Option<Verdict<'_, S>>,
    ) -> Result<Change<S>, ConditionError> {
        match verdict {
            Some(verdict) => self.set_unless_same(clock, generation, type_, verdict),
            None => Ok(self
                .remove(type_)
                .map_or(Change::Unchanged, |c| Change::Removed { from: c.status })),
        }
    }

    /// `set_with`, with a fast path that neither validates nor allocates
    /// when the condition is already exactly that.
    fn set_unless_same<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
        generation: Option<i64>,
        type_: &T,
        verdict: Verdict<'_, S>,
    ) -> Result<Change<S>, ConditionError> {
        if self.holds(type_, generation, &verdict) {
            return Ok(Change::Unchanged);
        }
        self.set_with(clock, generation, type_, verdict)
    }

    /// Whether the condition of `type_` is already exactly `verdict` for
    /// `generation`.
    fn holds(&self, type_: &T, generation: Option<i64>, verdict: &Verdict<'_, S>) -> bool {
        self.find(type_).is_some_and(|c| {
            c.status == verdict.status
                && c.reason == verdict.reason
                && c.message == verdict.message
                && c.observed_generation == generation
        })
    }
}

/// One dependent explaining kstatus' conditions: `Type is Status (Reason): message`.
fn explain(c: &Reported<'_>) -> String {
    format!("{} is {} ({}): {}", c.type_, c.status, c.reason, c.message)
}

/// `Reconciling` and `Stalled` for a judgement of the dependents, `None`
/// for one that must be absent: the same rules as the summary. `Stalled`
/// is True when any issue's reason [stalls](ConditionType::stalls), with
/// the first such reason and every stalling issue in the message;
/// otherwise `Reconciling` is True while the summary is not good, with the
/// first issue's reason (else the first unknown's) and every issue and
/// unknown in the message.
fn kstatus_verdicts<T: ConditionType, S: ConditionStatus>(
    judged: &Judgement<S>,
) -> (Option<Verdict<'static, S>>, Option<Verdict<'static, S>>) {
    let stalling: Vec<&Reported<'_>> = judged.explained_by[..judged.issues]
        .iter()
        .filter(|c| T::stalls(&c.reason))
        .collect();
    let lines = |conditions: &mut dyn Iterator<Item = &Reported<'_>>| {
        bounded_lines(conditions.map(explain).collect())
    };
    match (judged.good, stalling.first()) {
        (Some(true), _) => (None, None),
        (_, Some(first)) => (
            None,
            Some(
                Verdict::new(S::TRUE, first.reason.to_string())
                    .message(lines(&mut stalling.iter().copied())),
            ),
        ),
        _ => {
            // The first issue's reason, else the first unknown's: kstatus
            // users read one cause there, the message has every one.
            let reason = judged.explained_by.first().map_or_else(
                || judged.verdict.reason.to_string(),
                |c| c.reason.to_string(),
            );
            (
                Some(Verdict::new(S::TRUE, reason).message(lines(&mut judged.explained_by.iter()))),
                None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::WidgetCondition::{self, *};
    use crate::{ManualClock, Status, Verdict};

    type List = Conditions<WidgetCondition>;

    fn all_good(generation: Option<i64>) -> List {
        let clock = ManualClock::default();
        let mut list = List::default();
        list.set_with(
            &clock,
            generation,
            &DatabaseReady,
            Verdict::new(Status::True, "Up").message("db up"),
        )
        .unwrap();
        list.set_with(
            &clock,
            generation,
            &BucketCreated,
            Verdict::new(Status::True, "Made"),
        )
        .unwrap();
        list.set_with(
            &clock,
            generation,
            &Degraded,
            Verdict::new(Status::False, "Full"),
        )
        .unwrap();
        list
    }

    #[test]
    fn all_good_is_true() {
        let list = all_good(None);
        let s = list.compute_summary(None).unwrap();
        assert_eq!(s.status, Status::True);
        assert_eq!(s.reason, SUMMARY_TRUE_REASON);
    }

    #[test]
    fn negative_polarity_true_is_bad() {
        let mut list = all_good(None);
        list.set(
            None,
            &Degraded,
            Verdict::new(Status::True, "HalfCapacity").message("2 of 4"),
        )
        .unwrap();
        let s = list.compute_summary(None).unwrap();
        assert_eq!(
            (s.status, &*s.reason, &*s.message),
            (Status::False, "HalfCapacity", "* Degraded: 2 of 4")
        );
    }

    #[test]
    fn every_issue_and_unknown_is_listed_in_declaration_order() {
        let mut list = List::default();
        // List order differs from declaration order on purpose.
        list.set(None, &Degraded, Verdict::new(Status::True, "Slow"))
            .unwrap();
        list.set(None, &BucketCreated, Verdict::new(Status::False, "NoQuota"))
            .unwrap();
        list.set(
            None,
            &DatabaseReady,
            Verdict::new(Status::Unknown, "Probing"),
        )
        .unwrap();
        let s = list.compute_summary(None).unwrap();
        assert_eq!(
            (s.status, &*s.reason),
            (Status::False, crate::merge::ISSUES_REPORTED_REASON)
        );
        assert_eq!(
            s.message,
            "* DatabaseReady: Probing\n* BucketCreated: NoQuota\n* Degraded: Slow"
        );
    }

    #[test]
    fn unknown_missing_and_stale_make_unknown() {
        let mut list = all_good(None);
        list.set(
            None,
            &BucketCreated,
            Verdict::new(Status::Unknown, "Creating").message("in progress"),
        )
        .unwrap();
        let s = list.compute_summary(None).unwrap();
        assert_eq!(
            (s.status, &*s.reason, &*s.message),
            (Status::Unknown, "Creating", "* BucketCreated: in progress")
        );

        let mut list = all_good(None);
        list.remove(&DatabaseReady);
        let s = list.compute_summary(None).unwrap();
        assert_eq!(
            (s.status, &*s.reason),
            (Status::Unknown, crate::merge::NOT_YET_REPORTED_REASON)
        );
        assert_eq!(s.message, "* DatabaseReady: Condition not yet reported");

        let list = all_good(Some(1));
        assert_eq!(list.compute_summary(Some(1)).unwrap().status, Status::True);
        let s = list.compute_summary(Some(2)).unwrap();
        assert_eq!(s.status, Status::Unknown);
        assert!(s.message.contains("generation 1"), "{}", s.message);
    }

    #[test]
    fn update_summary_writes_the_summary_condition() {
        let clock = ManualClock::default();
        let mut list = all_good(Some(3));
        assert_eq!(
            list.update_summary_with(&clock, Some(3)).unwrap().summary,
            Change::Added
        );
        let ready = list.find(&Ready).unwrap();
        assert_eq!(ready.status, Status::True);
        assert_eq!(ready.observed_generation, Some(3));
        assert_eq!(
            list.update_summary_with(&clock, Some(3)).unwrap().summary,
            Change::Unchanged
        );
        list.set_with(
            &clock,
            Some(3),
            &DatabaseReady,
            Verdict::new(Status::False, "Down").message("gone"),
        )
        .unwrap();
        assert_eq!(
            list.update_summary_with(&clock, Some(3)).unwrap().summary,
            Change::Transitioned { from: Status::True }
        );
        assert_eq!(list.find(&Ready).unwrap().reason, "Down");
    }

    #[test]
    fn any_stalling_issue_stalls_even_behind_another_issue() {
        let clock = ManualClock::default();
        let mut list = all_good(Some(1));
        list.set_with(
            &clock,
            Some(1),
            &DatabaseReady,
            Verdict::new(Status::False, "Down"),
        )
        .unwrap();
        list.set_with(
            &clock,
            Some(1),
            &BucketCreated,
            Verdict::new(Status::False, "QuotaExceeded").message("10/10 buckets"),
        )
        .unwrap();
        list.update_summary_with(&clock, Some(1)).unwrap();
        let ready = list.find(&Ready).unwrap();
        assert_eq!(ready.reason, crate::merge::ISSUES_REPORTED_REASON);
        assert_eq!(
            ready.message,
            "* DatabaseReady: Down\n* BucketCreated: 10/10 buckets"
        );
        let stalled = list.find(&Stalled).unwrap();
        assert_eq!(
            (stalled.status, stalled.reason.as_str()),
            (Status::True, "QuotaExceeded")
        );
        assert_eq!(
            stalled.message,
            "BucketCreated is False (QuotaExceeded): 10/10 buckets"
        );
        assert!(list.find(&Reconciling).is_none());
    }

    #[test]
    fn options_that_mean_nothing_are_refused_and_change_nothing() {
        let clock = ManualClock::default();
        let mut list = all_good(Some(1));
        let before = list.clone();
        let options = Summary::options().override_with("Ready", Verdict::new(Status::True, "X"));
        assert_eq!(
            list.update_summary_by(&clock, Some(1), &options),
            Err(SummaryError::Merge(MergeError::OverrideOfMissing(
                "Ready".into()
            )))
        );
        assert_eq!(list, before);
    }

    #[test]
    fn no_summary_declared_is_a_no_op() {
        let mut list = Conditions::<String>::default();
        assert!(list.compute_summary(None).is_none());
        assert!(!list.update_summary(None).unwrap().is_changed());
        assert!(list.is_empty());
    }

    #[test]
    fn kstatus_conditions_follow_the_verdict() {
        let clock = ManualClock::default();
        let state = |list: &List| {
            let status = |t: &WidgetCondition| list.find(t).map(|c| (c.status, c.reason.clone()));
            (status(&Ready), status(&Reconciling), status(&Stalled))
        };
        // Nothing reported yet: reconciling.
        let mut list = List::default();
        list.update_summary_with(&clock, Some(1)).unwrap();
        let (ready, reconciling, stalled) = state(&list);
        assert_eq!(ready.unwrap().0, Status::Unknown);
        assert_eq!(
            reconciling.unwrap(),
            (
                Status::True,
                crate::merge::NOT_YET_REPORTED_REASON.to_owned()
            )
        );
        assert_eq!(stalled, None);
        let message = &list.find(&Reconciling).unwrap().message;
        assert!(
            message.starts_with(
                "DatabaseReady is Unknown (NotYetReported): Condition not yet reported\n"
            ),
            "{message}"
        );

        // All good: neither, and Reconciling goes away.
        let mut list = all_good(Some(1));
        list.initialize_with(&clock, Some(1));
        let change = list.update_summary_with(&clock, Some(1)).unwrap();
        assert_eq!(change.reconciling, Change::Removed { from: Status::True });
        assert_eq!(
            state(&list),
            (
                Some((Status::True, SUMMARY_TRUE_REASON.to_owned())),
                None,
                None
            )
        );
        assert!(
            !list
                .update_summary_with(&clock, Some(1))
                .unwrap()
                .is_changed()
        );

        // A failure a retry may fix: reconciling.
        list.set_with(
            &clock,
            Some(1),
            &DatabaseReady,
            Verdict::new(Status::False, "Down"),
        )
        .unwrap();
        list.update_summary_with(&clock, Some(1)).unwrap();
        assert_eq!(state(&list).1.unwrap(), (Status::True, "Down".to_owned()));
        assert_eq!(state(&list).2, None);

        // One that needs a human: stalled, with the cause in the message.
        list.set_with(
            &clock,
            Some(1),
            &DatabaseReady,
            Verdict::new(Status::True, "Up"),
        )
        .unwrap();
        list.set_with(
            &clock,
            Some(1),
            &BucketCreated,
            Verdict::new(Status::False, "QuotaExceeded").message("10/10 buckets"),
        )
        .unwrap();
        let change = list.update_summary_with(&clock, Some(1)).unwrap();
        assert_eq!(change.stalled, Change::Added);
        assert_eq!(change.reconciling, Change::Removed { from: Status::True });
        assert_eq!(state(&list).1, None);
        let stalled = list.find(&Stalled).unwrap();
        assert_eq!(
            (stalled.status, stalled.reason.as_str()),
            (Status::True, "QuotaExceeded")
        );
        assert_eq!(
            stalled.message,
            "BucketCreated is False (QuotaExceeded): 10/10 buckets"
        );
        // A new generation is not judged yet: back to reconciling.
        list.update_summary_with(&clock, Some(2)).unwrap();
        assert_eq!(state(&list).1.unwrap().0, Status::True);
        assert_eq!(state(&list).2, None);
    }
}
