//! konditionner's names, for code moving from the Go library: its lookups
//! and its `SetCondition` as methods of [`Conditions`], behind one import.
//! New code uses [`Conditions::find`], [`Conditions::is_true`],
//! [`Conditions::set`] and, on a resource,
//! [`ConditionalResource::set_condition`](crate::ConditionalResource::set_condition).
//!
//! ```
//! use konditions_core::{Condition, Conditions, KonditionnerStatus as K};
//! use konditions_core::konditionner::ConditionsExt;
//!
//! let mut conditions = Conditions::<String, K>::default();
//! let mut bucket = conditions.find_or_initialize("Bucket".into()); // FindOrInitializeFor
//! assert_eq!(bucket.status, K::Initialized);
//! bucket.status = K::Created;
//! bucket.reason = "BucketCreated".into();
//! conditions.insert(bucket).unwrap();                                  // SetCondition
//! assert!(conditions.type_has_status("Bucket", &K::Created));          // TypeHasStatus
//! assert!(conditions.any_with_status(&K::Created));                    // AnyWithStatus
//! assert_eq!(conditions.find_status(&K::Created).unwrap().type_, "Bucket"); // FindStatus
//! ```

use std::borrow::Borrow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::condition::truncate_to_second;
use crate::{
    Change, Clock, Condition, ConditionError, ConditionStatus, ConditionType, Conditions,
    INITIAL_REASON, SystemClock,
};

/// konditionner's methods on [`Conditions`] (see the [module documentation](self)).
pub trait ConditionsExt<T: ConditionType, S: ConditionStatus> {
    /// The first condition whose status is `status` (`FindStatus`).
    fn find_status(&self, status: &S) -> Option<&Condition<T, S>>;

    /// True when any condition has status `status` (`AnyWithStatus`).
    fn any_with_status(&self, status: &S) -> bool {
        self.find_status(status).is_some()
    }

    /// True when the condition `type_` exists with status `status`
    /// (`TypeHasStatus`, apimachinery's `IsStatusConditionPresentAndEqual`).
    fn type_has_status<Q>(&self, type_: &Q, status: &S) -> bool
    where
        T: Borrow<Q>,
        Q: PartialEq + ?Sized;

    /// A copy of the condition of type `type_`, or a new one with status
    /// `S::UNKNOWN`, reason [`INITIAL_REASON`], an empty message and the
    /// current time (`FindOrInitializeFor`). The list is not changed: insert
    /// the result to store it.
    fn find_or_initialize(&self, type_: T) -> Condition<T, S> {
        self.find_or_initialize_with(&SystemClock, type_)
    }

    /// [`find_or_initialize`](Self::find_or_initialize) with the time of a
    /// new condition taken from `clock`.
    ///
    /// ```
    /// use konditions_core::{Conditions, ManualClock};
    /// use konditions_core::konditionner::ConditionsExt;
    /// let clock = ManualClock::new(jiff::Timestamp::UNIX_EPOCH);
    /// let c = Conditions::<String>::default().find_or_initialize_with(&clock, "Ready".into());
    /// assert_eq!(c.last_transition_time.0, jiff::Timestamp::UNIX_EPOCH);
    /// ```
    fn find_or_initialize_with<C: Clock + ?Sized>(&self, clock: &C, type_: T) -> Condition<T, S>;

    /// Inserts or replaces `condition` by type (`SetCondition`,
    /// apimachinery's `SetStatusCondition`), with the rules of
    /// [`Conditions::set_with`]: its `last_transition_time` is used only
    /// when the status changes or the type is new; otherwise the stored one
    /// is kept.
    ///
    /// ```
    /// use konditions_core::{Change, Condition, Conditions, Status};
    /// use konditions_core::konditionner::ConditionsExt;
    /// let first: Condition = Condition::new("Ready".into(), Status::True, "Ok", "", "2024-01-01T00:00:00Z".parse().unwrap()).unwrap();
    /// let later = Condition { last_transition_time: jiff::Timestamp::now().into(), ..first.clone() };
    /// let mut list = Conditions::default();
    /// assert_eq!(list.insert(first.clone()).unwrap(), Change::Added);
    /// assert_eq!(list.insert(later).unwrap(), Change::Unchanged);
    /// assert_eq!(list.find("Ready"), Some(&first));
    /// ```
    fn insert(&mut self, condition: Condition<T, S>) -> Result<Change<S>, ConditionError>;
}

impl<T: ConditionType, S: ConditionStatus> ConditionsExt<T, S> for Conditions<T, S> {
    fn find_status(&self, status: &S) -> Option<&Condition<T, S>> {
        self.iter().find(|c| c.status == *status)
    }

    fn type_has_status<Q>(&self, type_: &Q, status: &S) -> bool
    where
        T: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.find(type_).is_some_and(|c| c.status == *status)
    }

    fn find_or_initialize_with<C: Clock + ?Sized>(&self, clock: &C, type_: T) -> Condition<T, S> {
        match self.find(&type_) {
            Some(c) => c.clone(),
            None => Condition {
                type_,
                status: S::UNKNOWN,
                observed_generation: None,
                last_transition_time: Time(truncate_to_second(clock.now())),
                reason: INITIAL_REASON.to_owned(),
                message: String::new(),
            },
        }
    }

    fn insert(&mut self, condition: Condition<T, S>) -> Result<Change<S>, ConditionError> {
        self.insert_condition(condition)
    }
}
