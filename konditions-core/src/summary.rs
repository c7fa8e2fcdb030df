//! The summary condition (conventionally `Ready`), computed from the
//! declared dependents ([`ConditionType::dependents`]).
//!
//! Rules, in order:
//! 1. a dependent in its bad state (see [`Polarity`](crate::Polarity)) makes
//!    the summary bad, with that dependent's reason and message; the first
//!    such dependent in declaration order decides, so the result is
//!    deterministic;
//! 2. otherwise a dependent that is missing, Unknown-like, or stale (computed
//!    for an older generation than the object's) makes the summary
//!    `S::UNKNOWN`, explained by the first such dependent;
//! 3. otherwise every dependent is good and so is the summary.
//!
//! "Good" for the summary is `S::TRUE`, or `S::FALSE` if the summary type
//! itself is declared negative.

use std::borrow::Cow;

use crate::{
    Change, Clock, ConditionError, ConditionStatus, ConditionType, Conditions, INITIAL_REASON,
    Polarity, SystemClock, Verdict,
};

/// The summary's reason when every dependent is good.
pub const SUMMARY_TRUE_REASON: &str = "AsExpected";
/// The summary's message when every dependent is good.
pub const SUMMARY_TRUE_MESSAGE: &str = "All dependent conditions are as expected";

fn is_good(polarity: Polarity, truth: bool) -> bool {
    truth == (polarity == Polarity::Positive)
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
    /// list.set(&DatabaseReady, Verdict::new(Status::True, "Connected")).unwrap();
    /// list.set(&BucketCreated, Verdict::new(Status::False, "QuotaExceeded").message("bucket quota is 10")).unwrap();
    /// let summary = list.compute_summary(None).unwrap();
    /// assert_eq!((summary.status, &*summary.reason, &*summary.message), (Status::False, "QuotaExceeded", "bucket quota is 10"));
    /// ```
    pub fn compute_summary(&self, generation: Option<i64>) -> Option<Verdict<'_, S>> {
        let summary_type = T::summary()?;
        let summary_polarity = summary_type.polarity();
        // A negative summary type reports "good" as False.
        let verdict = |good: bool| {
            if good == (summary_polarity == Polarity::Positive) {
                S::TRUE
            } else {
                S::FALSE
            }
        };
        let mut undecided: Option<Verdict<'_, S>> = None;
        for dependent in T::dependents() {
            if *dependent == summary_type {
                continue;
            }
            let explain = match self.find(dependent) {
                None => Some((
                    Cow::Borrowed(INITIAL_REASON),
                    Cow::Owned(format!("{} has not been reported yet", dependent.as_str())),
                )),
                Some(c) if c.is_stale(generation) => Some((
                    Cow::Borrowed(INITIAL_REASON),
                    Cow::Owned(format!(
                        "{} was computed for generation {}, the object is at generation {}",
                        dependent.as_str(),
                        c.observed_generation.unwrap_or_default(),
                        generation.unwrap_or_default()
                    )),
                )),
                Some(c) => match c.status.truth() {
                    None => Some((Cow::Borrowed(&*c.reason), Cow::Borrowed(&*c.message))),
                    Some(truth) if is_good(dependent.polarity(), truth) => None,
                    Some(_) => {
                        return Some(Verdict {
                            status: verdict(false),
                            reason: Cow::Borrowed(&c.reason),
                            message: Cow::Borrowed(&c.message),
                        });
                    }
                },
            };
            if let (None, Some((reason, message))) = (&undecided, explain) {
                undecided = Some(Verdict {
                    status: S::UNKNOWN,
                    reason,
                    message,
                });
            }
        }
        Some(undecided.unwrap_or(Verdict {
            status: verdict(true),
            reason: Cow::Borrowed(SUMMARY_TRUE_REASON),
            message: Cow::Borrowed(SUMMARY_TRUE_MESSAGE),
        }))
    }

    /// Sets the summary condition from [`compute_summary`](Self::compute_summary)
    /// with the system clock and no generation. `Ok(Change::Unchanged)` when
    /// `T` declares no summary.
    ///
    /// ```
    /// use konditions_core::{Change, Conditions, Status};
    /// use konditions_core::example::WidgetCondition::{self, *};
    /// let mut list = Conditions::<WidgetCondition>::default();
    /// assert_eq!(list.update_summary().unwrap(), Change::Added);
    /// assert_eq!(list.find(&Ready).unwrap().status, Status::Unknown);
    /// assert_eq!(list.update_summary().unwrap(), Change::Unchanged);
    /// ```
    pub fn update_summary(&mut self) -> Result<Change<S>, ConditionError> {
        self.update_summary_with(&SystemClock, None)
    }

    /// Sets the summary condition from [`compute_summary`](Self::compute_summary),
    /// with `observedGeneration` = `generation` and the transition time from
    /// `clock`. Fails only when a dependent's stored reason or message is
    /// invalid (written by someone else), leaving the list unchanged.
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
    /// ```
    pub fn update_summary_with<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
        generation: Option<i64>,
    ) -> Result<Change<S>, ConditionError> {
        let Some(summary_type) = T::summary() else {
            return Ok(Change::Unchanged);
        };
        let Some(summary) = self.compute_summary(generation) else {
            return Ok(Change::Unchanged);
        };
        let unchanged = self.find(&summary_type).is_some_and(|c| {
            c.status == summary.status
                && c.reason == summary.reason
                && c.message == summary.message
                && c.observed_generation == generation
        });
        if unchanged {
            return Ok(Change::Unchanged);
        }
        // The summary borrows from the list it is written to.
        let summary = summary.into_owned();
        self.set_with(clock, generation, &summary_type, summary)
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
            &Degraded,
            Verdict::new(Status::True, "HalfCapacity").message("2 of 4"),
        )
        .unwrap();
        let s = list.compute_summary(None).unwrap();
        assert_eq!(
            (s.status, &*s.reason, &*s.message),
            (Status::False, "HalfCapacity", "2 of 4")
        );
    }

    #[test]
    fn first_bad_in_declaration_order_wins_even_over_earlier_unknowns() {
        let mut list = List::default();
        // List order differs from declaration order on purpose.
        list.set(&Degraded, Verdict::new(Status::True, "Slow"))
            .unwrap();
        list.set(&BucketCreated, Verdict::new(Status::False, "NoQuota"))
            .unwrap();
        list.set(&DatabaseReady, Verdict::new(Status::Unknown, "Probing"))
            .unwrap();
        let s = list.compute_summary(None).unwrap();
        assert_eq!((s.status, &*s.reason), (Status::False, "NoQuota"));
    }

    #[test]
    fn unknown_missing_and_stale_make_unknown() {
        let mut list = all_good(None);
        list.set(
            &BucketCreated,
            Verdict::new(Status::Unknown, "Creating").message("in progress"),
        )
        .unwrap();
        let s = list.compute_summary(None).unwrap();
        assert_eq!(
            (s.status, &*s.reason, &*s.message),
            (Status::Unknown, "Creating", "in progress")
        );

        let mut list = all_good(None);
        list.remove(&DatabaseReady);
        let s = list.compute_summary(None).unwrap();
        assert_eq!((s.status, &*s.reason), (Status::Unknown, INITIAL_REASON));
        assert_eq!(s.message, "DatabaseReady has not been reported yet");

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
            list.update_summary_with(&clock, Some(3)).unwrap(),
            Change::Added
        );
        let ready = list.find(&Ready).unwrap();
        assert_eq!(ready.status, Status::True);
        assert_eq!(ready.observed_generation, Some(3));
        assert_eq!(
            list.update_summary_with(&clock, Some(3)).unwrap(),
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
            list.update_summary_with(&clock, Some(3)).unwrap(),
            Change::Transitioned { from: Status::True }
        );
        assert_eq!(list.find(&Ready).unwrap().reason, "Down");
    }

    #[test]
    fn no_summary_declared_is_a_no_op() {
        let mut list = Conditions::<String>::default();
        assert!(list.compute_summary(None).is_none());
        assert_eq!(list.update_summary().unwrap(), Change::Unchanged);
        assert!(list.is_empty());
    }
}
