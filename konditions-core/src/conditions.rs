//! The `conditions` list of a status and its utility API: lookups, the
//! transition-aware setter, removal, initialisation, and a serde form that
//! never loses a condition it cannot type.
//!
//! # What is kept, and how
//!
//! On deserialization every list entry is classified:
//!
//! * **known**: its `type` parses as `T`, its `status` as `S`, it has exactly
//!   the `metav1.Condition` fields with the right JSON types, and serializing
//!   the typed condition gives back the same JSON value. These are what the
//!   utility API sees.
//! * **raw** ([`RawCondition`]), everything else, kept as the JSON read and
//!   written back unchanged in its original position:
//!   [`Foreign`](RawKind::Foreign) (not our type: another controller's),
//!   [`Invalid`](RawKind::Invalid) (our type, malformed: unknown status,
//!   extra fields, sub-second timestamp ...), [`Duplicate`](RawKind::Duplicate)
//!   (a second entry of a type already seen: the **first valid entry wins**).
//!
//! Setting or removing a type replaces its invalid entry in place and drops
//! its duplicates, so after a write this controller owns exactly one entry
//! per type. Nothing else ever changes a raw entry, so JSON that
//! round-trips through `Conditions` is unchanged as a JSON value. Raw
//! entries also keep their key order and numeric values (serde_json's
//! `preserve_order` and `float_roundtrip` are enabled), but not their
//! spelling: whitespace, string escapes (`\u003c`) and number formatting
//! (`1.10`) come back normalised, as they do from the API server itself.
//! Known conditions are written with their keys in `metav1.Condition` order.
//!
//! A condition of one of our types whose `lastTransitionTime` has
//! sub-second digits is kept raw ([`RawKind::Invalid`]): metav1 writes
//! seconds, and typing it would truncate someone else's data. The next
//! `set` of that type replaces it.

use std::borrow::Borrow;
use std::fmt;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeSeq};
use serde_json::Value;

use crate::validation::{validate, validate_message, validate_reason, validate_type};
use crate::{
    Clock, Condition, ConditionError, ConditionStatus, ConditionType, RawCondition, RawKind,
    Status, SystemClock, Verdict, condition::truncate_to_second,
};

/// The fields a setter writes, borrowed from the caller.
struct Fields<'a, S> {
    status: S,
    reason: &'a str,
    message: &'a str,
    observed_generation: Option<i64>,
}

/// The reason given to conditions created by [`Conditions::initialize`] and
/// [`konditionner::ConditionsExt::find_or_initialize`](crate::konditionner::ConditionsExt::find_or_initialize).
pub const INITIAL_REASON: &str = "Reconciling";
/// The message given to conditions created by [`Conditions::initialize`].
pub const INITIAL_MESSAGE: &str = "The controller has not determined this condition yet";

/// What a setter did. Skip the status write when it is
/// [`Unchanged`](Change::Unchanged); a [`Transitioned`](Change::Transitioned)
/// change says what the status was, so a controller can record an Event
/// for it (see [`Change::event`]).
///
/// ```
/// use konditions_core::{Change, Conditions, Status, Verdict};
/// let mut c = Conditions::<String>::default();
/// assert_eq!(c.set(None, "Ready", Verdict::new(Status::False, "Starting")).unwrap(), Change::Added);
/// assert_eq!(c.set(None, "Ready", Verdict::new(Status::False, "Starting")).unwrap(), Change::Unchanged);
/// assert_eq!(c.set(None, "Ready", Verdict::new(Status::False, "Pulling")).unwrap(), Change::Updated);
/// assert_eq!(
///     c.set(None, "Ready", Verdict::new(Status::True, "Running")).unwrap(),
///     Change::Transitioned { from: Status::False }
/// );
/// ```
///
/// More kinds of change may come in a later release (this one added
/// [`Removed`](Change::Removed)): a `match` on it needs a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Change<S = Status> {
    /// Nothing changed; no write is needed.
    Unchanged,
    /// Same status; reason, message or observedGeneration changed (or stale
    /// duplicates of the type were dropped). `lastTransitionTime` kept.
    Updated,
    /// The status changed from `from`; `lastTransitionTime` is now.
    Transitioned {
        /// The status before.
        from: S,
    },
    /// There was no valid condition of this type; one was added.
    Added,
    /// The condition was removed: kstatus' abnormal-true conditions
    /// (`Reconciling`, `Stalled`) are absent rather than False.
    Removed {
        /// The status before.
        from: S,
    },
}

impl<S> Change<S> {
    /// True unless [`Unchanged`](Change::Unchanged).
    ///
    /// ```
    /// use konditions_core::Change;
    /// assert!(!Change::<konditions_core::Status>::Unchanged.is_changed());
    /// assert!(Change::<konditions_core::Status>::Added.is_changed());
    /// ```
    pub fn is_changed(&self) -> bool {
        !matches!(self, Change::Unchanged)
    }

    /// True when the status changed, or the condition is new or gone: what
    /// is worth an Event.
    ///
    /// ```
    /// use konditions_core::{Change, Status};
    /// assert!(Change::Transitioned { from: Status::Unknown }.is_transition());
    /// assert!(!Change::<Status>::Updated.is_transition());
    /// ```
    pub fn is_transition(&self) -> bool {
        matches!(
            self,
            Change::Transitioned { .. } | Change::Added | Change::Removed { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry<T: ConditionType, S: ConditionStatus> {
    Known(Condition<T, S>),
    Raw(RawCondition),
}

impl<T: ConditionType, S: ConditionStatus> Entry<T, S> {
    fn known(&self) -> Option<&Condition<T, S>> {
        match self {
            Entry::Known(c) => Some(c),
            Entry::Raw(_) => None,
        }
    }

    /// A raw entry this controller replaces when it writes `type_`.
    fn is_raw_of(&self, type_: &str) -> bool {
        matches!(self, Entry::Raw(r) if r.kind != RawKind::Foreign && r.type_name() == Some(type_))
    }
}

/// The list of conditions of a resource's status.
///
/// Serializes as a plain JSON array of `metav1.Condition`s. Entries that
/// cannot be typed are kept as they were read: see [`RawCondition`].
///
/// ```
/// use konditions_core::{Conditions, ManualClock, Status, Verdict};
/// use konditions_core::example::WidgetCondition::{self, *};
///
/// let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
/// let mut conditions = Conditions::<WidgetCondition>::default();
/// conditions.set_with(&clock, Some(1), &DatabaseReady, Verdict::new(Status::True, "Connected")).unwrap();
///
/// assert!(conditions.is_true(&DatabaseReady));
/// assert_eq!(conditions.find(&DatabaseReady).unwrap().reason, "Connected");
/// assert_eq!(
///     serde_json::to_string(&conditions).unwrap(),
///     r#"[{"type":"DatabaseReady","status":"True","observedGeneration":1,"lastTransitionTime":"2024-05-01T10:00:00Z","reason":"Connected","message":""}]"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Conditions<T: ConditionType = String, S: ConditionStatus = Status> {
    entries: Vec<Entry<T, S>>,
}

impl<T: ConditionType, S: ConditionStatus> Default for Conditions<T, S> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T: ConditionType, S: ConditionStatus> fmt::Debug for Conditions<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for entry in &self.entries {
            match entry {
                Entry::Known(c) => list.entry(c),
                Entry::Raw(r) => list.entry(r),
            };
        }
        list.finish()
    }
}

impl<T: ConditionType, S: ConditionStatus> Conditions<T, S> {
    /// An empty list.
    ///
    /// ```
    /// assert!(konditions_core::Conditions::<String>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// True when the list holds no entry at all, known or raw: the test to
    /// use for `skip_serializing_if`.
    ///
    /// ```
    /// use konditions_core::Conditions;
    /// assert!(Conditions::<String>::default().is_empty());
    /// let foreign: Conditions = serde_json::from_str("[{}]").unwrap();
    /// assert!(!foreign.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of entries on the wire, known and raw.
    ///
    /// ```
    /// use konditions_core::Conditions;
    /// let list: Conditions = serde_json::from_str(r#"[{"type":"A"},{"type":"B"}]"#).unwrap();
    /// assert_eq!(list.len(), 2);
    /// assert_eq!(list.iter().count(), 0); // both malformed, kept raw
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The known (typed) conditions, in list order, at most one per type.
    ///
    /// ```
    /// use konditions_core::{Conditions, Status, Verdict};
    /// let mut list = Conditions::<String>::default();
    /// list.set(None, "A", Verdict::new(Status::True, "Ok")).unwrap();
    /// list.set(None, "B", Verdict::new(Status::False, "No")).unwrap();
    /// let types: Vec<&str> = list.iter().map(|c| c.type_.as_str()).collect();
    /// assert_eq!(types, ["A", "B"]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T, S> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    /// The entries kept raw (foreign, invalid, duplicate), in list order.
    ///
    /// ```
    /// use konditions_core::{Conditions, RawKind};
    /// use konditions_core::example::WidgetCondition;
    /// let list: Conditions<WidgetCondition> = serde_json::from_str(
    ///     r#"[{"type":"example.com/Other","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z","reason":"X","message":""}]"#,
    /// ).unwrap();
    /// assert_eq!(list.unrecognized().map(|r| r.kind()).collect::<Vec<_>>(), [RawKind::Foreign]);
    /// ```
    pub fn unrecognized(&self) -> impl Iterator<Item = &RawCondition> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Raw(r) => Some(r),
            Entry::Known(_) => None,
        })
    }

    /// The foreign entries only: conditions of types `T` does not parse.
    ///
    /// ```
    /// use konditions_core::Conditions;
    /// use konditions_core::example::WidgetCondition;
    /// let list: Conditions<WidgetCondition> = serde_json::from_str(r#"[{"type":"Other"}]"#).unwrap();
    /// assert_eq!(list.foreign().next().unwrap()["type"], "Other");
    /// ```
    pub fn foreign(&self) -> impl Iterator<Item = &Value> {
        self.unrecognized()
            .filter(|r| r.kind == RawKind::Foreign)
            .map(RawCondition::value)
    }

    /// The condition of type `type_` (konditionner's `FindType`,
    /// apimachinery's `FindStatusCondition`). `type_` may be borrowed: a
    /// `&str` for `Conditions<String>`.
    ///
    /// ```
    /// use konditions_core::{Conditions, Status, Verdict};
    /// let mut list = Conditions::<String>::default();
    /// list.set(None, "Ready", Verdict::new(Status::True, "Ok")).unwrap();
    /// assert_eq!(list.find("Ready").unwrap().status, Status::True);
    /// assert!(list.find("Other").is_none());
    /// ```
    pub fn find<Q>(&self, type_: &Q) -> Option<&Condition<T, S>>
    where
        T: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.iter().find(|c| c.type_.borrow() == type_)
    }

    /// True when the condition `type_` exists and its status is True-like
    /// ([`ConditionStatus::truth`]), apimachinery's `IsStatusConditionTrue`.
    ///
    /// ```
    /// use konditions_core::{Conditions, Status, Verdict};
    /// let mut list = Conditions::<String>::default();
    /// list.set(None, "Ready", Verdict::new(Status::True, "Ok")).unwrap();
    /// assert!(list.is_true("Ready"));
    /// assert!(!list.is_true("Missing"));
    /// ```
    pub fn is_true<Q>(&self, type_: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.find(type_)
            .is_some_and(|c| c.status.truth() == Some(true))
    }

    /// True when the condition `type_` exists and its status is False-like,
    /// apimachinery's `IsStatusConditionFalse`.
    ///
    /// ```
    /// use konditions_core::{Conditions, Status, Verdict};
    /// let mut list = Conditions::<String>::default();
    /// list.set(None, "Ready", Verdict::new(Status::False, "Broken")).unwrap();
    /// assert!(list.is_false("Ready"));
    /// assert!(!list.is_false("Missing")); // absent is not False
    /// ```
    pub fn is_false<Q>(&self, type_: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.find(type_)
            .is_some_and(|c| c.status.truth() == Some(false))
    }

    /// The conditions computed from a generation older than `generation`
    /// (see [`Condition::is_stale`]).
    ///
    /// ```
    /// use konditions_core::{Conditions, ManualClock, Status, Verdict};
    /// let clock = ManualClock::default();
    /// let mut list = Conditions::<String>::default();
    /// list.set_with(&clock, Some(1), "A", Verdict::new(Status::True, "Ok")).unwrap();
    /// list.set_with(&clock, Some(2), "B", Verdict::new(Status::True, "Ok")).unwrap();
    /// assert_eq!(list.stale(Some(2)).map(|c| c.type_.as_str()).collect::<Vec<_>>(), ["A"]);
    /// ```
    pub fn stale(&self, generation: Option<i64>) -> impl Iterator<Item = &Condition<T, S>> {
        self.iter().filter(move |c| c.is_stale(generation))
    }

    /// The index of the condition `type_` in the serialized list (raw entries
    /// count), for JSON Patch paths such as `/status/conditions/3`.
    #[cfg(feature = "client")]
    pub(crate) fn wire_index(&self, type_: &T) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.known().is_some_and(|c| c.type_ == *type_))
    }

    /// Sets the condition `type_` to `verdict` with `observed_generation`
    /// (insert, or replace in place), with the system clock: the list-level
    /// primitive under [`ConditionalResource::set_condition`](crate::ConditionalResource::set_condition),
    /// which passes the object's generation. See [`set_with`](Self::set_with)
    /// for the rules.
    ///
    /// ```
    /// use konditions_core::{Change, Conditions, Status, Verdict};
    /// let mut list = Conditions::<String>::default();
    /// let up = Verdict::new(Status::True, "Ok").message("up");
    /// assert_eq!(list.set(Some(3), "Ready", up).unwrap(), Change::Added);
    /// assert_eq!(list.find("Ready").unwrap().observed_generation, Some(3));
    /// assert!(list.set(None, "Ready", Verdict::new(Status::True, "not ok")).is_err());
    /// ```
    pub fn set<Q>(
        &mut self,
        observed_generation: Option<i64>,
        type_: &Q,
        verdict: Verdict<'_, S>,
    ) -> Result<Change<S>, ConditionError>
    where
        T: Borrow<Q>,
        Q: PartialEq + ToOwned<Owned = T> + ?Sized,
    {
        self.set_with(&SystemClock, observed_generation, type_, verdict)
    }

    /// Sets the condition `type_` to `verdict` with `observed_generation`,
    /// following the API conventions:
    ///
    /// * at most one condition per type: an existing one is updated in
    ///   place, an invalid raw entry of the type is replaced in place, raw
    ///   duplicates are dropped, otherwise the condition is appended;
    /// * `lastTransitionTime` becomes `clock.now()` (truncated to the
    ///   second) only when the status changes or the condition is new;
    /// * the reason and message (and, for a new condition, the type) are
    ///   validated first ([`ConditionError`]); on error nothing changes;
    /// * a call that changes nothing, or changes only to text that fits the
    ///   stored strings' capacity, does not allocate: `type_` is borrowed
    ///   and copied only when the condition is new.
    ///
    /// ```
    /// use konditions_core::{Change, Conditions, ManualClock, Status, Verdict};
    /// use jiff::SignedDuration;
    ///
    /// let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
    /// let mut list = Conditions::<String>::default();
    /// list.set_with(&clock, Some(1), "Ready", Verdict::new(Status::False, "Starting")).unwrap();
    ///
    /// clock.advance(SignedDuration::from_secs(60));
    /// let change = list.set_with(&clock, Some(2), "Ready", Verdict::new(Status::False, "Starting")).unwrap();
    /// assert_eq!(change, Change::Updated); // generation moved, status did not
    /// assert_eq!(list.find("Ready").unwrap().last_transition_time.0.to_string(), "2024-05-01T10:00:00Z");
    ///
    /// let change = list.set_with(&clock, Some(2), "Ready", Verdict::new(Status::True, "Running")).unwrap();
    /// assert_eq!(change, Change::Transitioned { from: Status::False });
    /// assert_eq!(list.find("Ready").unwrap().last_transition_time.0.to_string(), "2024-05-01T10:01:00Z");
    /// ```
    pub fn set_with<Q, C>(
        &mut self,
        clock: &C,
        observed_generation: Option<i64>,
        type_: &Q,
        verdict: Verdict<'_, S>,
    ) -> Result<Change<S>, ConditionError>
    where
        T: Borrow<Q>,
        Q: PartialEq + ToOwned<Owned = T> + ?Sized,
        C: Clock + ?Sized,
    {
        validate_reason(&verdict.reason)?;
        validate_message(&verdict.message)?;
        let Verdict {
            status,
            reason,
            message,
        } = verdict;
        let fields = Fields {
            status,
            reason: &reason,
            message: &message,
            observed_generation,
        };
        if let Some(change) = self.update(type_, &fields, || clock.now()) {
            return Ok(change);
        }
        let type_ = type_.to_owned();
        validate_type(type_.as_str())?;
        Ok(self.add(type_, fields, clock.now()))
    }

    /// Inserts or replaces `condition` by type, with the rules of
    /// [`set_with`](Self::set_with) (see [`crate::konditionner::ConditionsExt::insert`]).
    pub(crate) fn insert_condition(
        &mut self,
        condition: Condition<T, S>,
    ) -> Result<Change<S>, ConditionError> {
        validate(
            condition.type_.as_str(),
            &condition.reason,
            &condition.message,
        )?;
        Ok(self.put(condition))
    }

    /// [`insert`](Self::insert) without validation.
    fn put(&mut self, condition: Condition<T, S>) -> Change<S> {
        let Condition {
            type_,
            status,
            observed_generation,
            last_transition_time,
            reason,
            message,
        } = condition;
        let at = last_transition_time.0;
        let fields = Fields {
            status,
            reason: &reason,
            message: &message,
            observed_generation,
        };
        match self.update(&type_, &fields, || at) {
            Some(change) => change,
            None => self.add(type_, fields, at),
        }
    }

    /// Updates the known condition of `type_` in place, dropping raw
    /// entries of the type; `None` when there is no known condition of it.
    /// Allocates only when a new text does not fit the stored string.
    fn update<Q>(
        &mut self,
        type_: &Q,
        fields: &Fields<'_, S>,
        now: impl FnOnce() -> Timestamp,
    ) -> Option<Change<S>>
    where
        T: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let index = self
            .entries
            .iter()
            .position(|e| e.known().is_some_and(|c| c.type_.borrow() == type_))?;
        // Only when raw entries of this type exist (rare) is its name
        // copied, to drop them once the typed condition is in place.
        let raw_of = self.entries[index]
            .known()
            .map(|c| c.type_.as_str())
            .filter(|wire| self.entries.iter().any(|e| e.is_raw_of(wire)))
            .map(str::to_owned);
        let Entry::Known(c) = &mut self.entries[index] else {
            unreachable!("the entry at {index} was found as a known condition");
        };
        let mut change = Change::Unchanged;
        if c.status != fields.status {
            let from = std::mem::replace(&mut c.status, fields.status.clone());
            c.last_transition_time = Time(truncate_to_second(now()));
            change = Change::Transitioned { from };
        }
        let mut updated = false;
        if c.reason != fields.reason {
            fields.reason.clone_into(&mut c.reason);
            updated = true;
        }
        if c.message != fields.message {
            fields.message.clone_into(&mut c.message);
            updated = true;
        }
        if c.observed_generation != fields.observed_generation {
            c.observed_generation = fields.observed_generation;
            updated = true;
        }
        if let Some(wire) = raw_of {
            self.entries.retain(|e| !e.is_raw_of(&wire));
            updated = true;
        }
        if updated && change == Change::Unchanged {
            change = Change::Updated;
        }
        Some(change)
    }

    /// Adds a condition of a type that has no known entry: in the place of
    /// an invalid entry of the type if there is one (so the list order is
    /// stable), else at the end; other raw entries of the type are dropped.
    fn add(&mut self, type_: T, fields: Fields<'_, S>, at: Timestamp) -> Change<S> {
        let wire = type_.as_str().to_owned();
        let condition = Entry::Known(Condition {
            type_,
            status: fields.status,
            observed_generation: fields.observed_generation,
            last_transition_time: Time(truncate_to_second(at)),
            reason: fields.reason.to_owned(),
            message: fields.message.to_owned(),
        });
        match self.entries.iter().position(|e| e.is_raw_of(&wire)) {
            Some(i) => {
                self.entries[i] = condition;
                self.entries.retain(|e| !e.is_raw_of(&wire));
            }
            None => self.entries.push(condition),
        }
        Change::Added
    }

    /// Removes the condition `type_`, with its invalid and duplicate raw
    /// entries (konditionner's `RemoveConditionWith`, apimachinery's
    /// `RemoveStatusCondition`). Returns the removed known condition.
    ///
    /// ```
    /// use konditions_core::{Conditions, Status, Verdict};
    /// let mut list = Conditions::<String>::default();
    /// list.set(None, "Ready", Verdict::new(Status::True, "Ok")).unwrap();
    /// assert_eq!(list.remove("Ready").unwrap().reason, "Ok");
    /// assert!(list.is_empty());
    /// assert!(list.remove("Ready").is_none());
    /// ```
    pub fn remove<Q>(&mut self, type_: &Q) -> Option<Condition<T, S>>
    where
        T: Borrow<Q>,
        Q: PartialEq + ToOwned<Owned = T> + ?Sized,
    {
        // Removal is rare: the owned type gives the wire name of raw entries.
        let owned = type_.to_owned();
        let wire = owned.as_str();
        let mut removed = None;
        let mut kept = Vec::with_capacity(self.entries.len());
        for entry in self.entries.drain(..) {
            match entry {
                Entry::Known(c) if c.type_ == owned && removed.is_none() => removed = Some(c),
                e if e.is_raw_of(wire) => {}
                e => kept.push(e),
            }
        }
        self.entries = kept;
        removed
    }

    /// Reports every declared type ([`ConditionType::declared`]) that has no
    /// entry yet as `S::UNKNOWN` with reason [`INITIAL_REASON`], for
    /// `generation`, using the system clock: the list-level primitive under
    /// [`ConditionalResource::initialize_conditions`](crate::ConditionalResource::initialize_conditions).
    /// See [`initialize_with`](Self::initialize_with).
    ///
    /// ```
    /// use konditions_core::Conditions;
    /// use konditions_core::example::WidgetCondition;
    /// let mut list = Conditions::<WidgetCondition>::default();
    /// assert_eq!(list.initialize(Some(1)), 5); // four, and kstatus' Reconciling
    /// assert_eq!(list.initialize(Some(1)), 0);
    /// ```
    pub fn initialize(&mut self, generation: Option<i64>) -> usize {
        self.initialize_with(&SystemClock, generation)
    }

    /// Reports every declared type that has no entry yet (neither a valid
    /// condition nor a malformed one, which is left for the controller to
    /// overwrite) as `S::UNKNOWN`, reason [`INITIAL_REASON`], message
    /// [`INITIAL_MESSAGE`], in declaration order; kstatus' `Reconciling` as
    /// `S::TRUE`, and `Stalled` not at all (it is present only when True).
    /// Existing conditions are not touched. Returns how many were added.
    ///
    /// The API conventions ask controllers to report their conditions on
    /// first reconcile, even when they are not known yet.
    ///
    /// ```
    /// use konditions_core::{Conditions, ManualClock, Status, Verdict};
    /// use konditions_core::example::WidgetCondition::{self, *};
    /// let clock = ManualClock::default();
    /// let mut list = Conditions::<WidgetCondition>::default();
    /// list.set_with(&clock, Some(1), &DatabaseReady, Verdict::new(Status::True, "Connected")).unwrap();
    /// assert_eq!(list.initialize_with(&clock, Some(1)), 4);
    /// assert!(list.is_true(&DatabaseReady));
    /// assert!(list.is_true(&Reconciling));
    /// assert!(list.find(&Stalled).is_none());
    /// assert_eq!(list.find(&Ready).unwrap().reason, "Reconciling");
    /// ```
    pub fn initialize_with<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
        observed_generation: Option<i64>,
    ) -> usize {
        let mut added = 0;
        for type_ in T::declared() {
            let wire_type = type_.as_str();
            let present = self.entries.iter().any(|e| match e {
                Entry::Known(c) => c.type_ == *type_,
                Entry::Raw(r) => r.type_name() == Some(wire_type),
            });
            // Stalled is abnormal-true: absent until something stalls.
            if !present && Some(type_) != T::stalled().as_ref() {
                // Reconciling starts as it reads before any verdict: True.
                let status = if Some(type_) == T::reconciling().as_ref() {
                    S::TRUE
                } else {
                    S::UNKNOWN
                };
                let fields = Fields {
                    status,
                    reason: INITIAL_REASON,
                    message: INITIAL_MESSAGE,
                    observed_generation,
                };
                self.add(type_.clone(), fields, clock.now());
                added += 1;
            }
        }
        added
    }

    fn classify(entries: Vec<Value>) -> Self {
        let mut out: Vec<Entry<T, S>> = Vec::with_capacity(entries.len());
        for value in entries {
            let ours = value.get("type").and_then(Value::as_str).and_then(T::parse);
            let entry = match ours {
                None => Entry::Raw(RawCondition {
                    value,
                    kind: RawKind::Foreign,
                }),
                Some(type_) => match Condition::<T, S>::deserialize(&value) {
                    // Only take it typed if writing it back changes nothing:
                    // otherwise a round-trip would rewrite someone's data.
                    Ok(c) if c.writes_back_as(&value) => {
                        if out
                            .iter()
                            .any(|e| e.known().is_some_and(|k| k.type_ == type_))
                        {
                            Entry::Raw(RawCondition {
                                value,
                                kind: RawKind::Duplicate,
                            })
                        } else {
                            Entry::Known(c)
                        }
                    }
                    _ => Entry::Raw(RawCondition {
                        value,
                        kind: RawKind::Invalid,
                    }),
                },
            };
            out.push(entry);
        }
        Self { entries: out }
    }
}

/// Iterator over the known conditions of a [`Conditions`], see [`Conditions::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a, T: ConditionType, S: ConditionStatus> {
    inner: std::slice::Iter<'a, Entry<T, S>>,
}

impl<'a, T: ConditionType, S: ConditionStatus> Iterator for Iter<'a, T, S> {
    type Item = &'a Condition<T, S>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.by_ref().find_map(Entry::known)
    }
}

impl<'a, T: ConditionType, S: ConditionStatus> IntoIterator for &'a Conditions<T, S> {
    type Item = &'a Condition<T, S>;
    type IntoIter = Iter<'a, T, S>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: ConditionType, S: ConditionStatus> FromIterator<Condition<T, S>> for Conditions<T, S> {
    /// Collects conditions as successive [`insert`](crate::konditionner::ConditionsExt::insert) calls
    /// would, without validation: a later condition of a type replaces the
    /// earlier one in its position.
    ///
    /// ```
    /// use konditions_core::{Condition, Conditions, Status};
    /// let at = jiff::Timestamp::UNIX_EPOCH;
    /// let list: Conditions = [
    ///     Condition::new("A".into(), Status::True, "Ok", "", at).unwrap(),
    ///     Condition::new("A".into(), Status::False, "No", "", at).unwrap(),
    /// ].into_iter().collect();
    /// assert_eq!(list.len(), 1);
    /// assert_eq!(list.find("A").unwrap().reason, "No");
    /// ```
    fn from_iter<I: IntoIterator<Item = Condition<T, S>>>(iter: I) -> Self {
        let mut out = Self::default();
        for c in iter {
            out.put(c);
        }
        out
    }
}

impl<T: ConditionType, S: ConditionStatus> Serialize for Conditions<T, S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let mut seq = serializer.serialize_seq(Some(self.entries.len()))?;
        for entry in &self.entries {
            match entry {
                Entry::Known(c) => seq.serialize_element(c)?,
                Entry::Raw(r) => seq.serialize_element(&r.value)?,
            }
        }
        seq.end()
    }
}

impl<'de, T: ConditionType, S: ConditionStatus> Deserialize<'de> for Conditions<T, S> {
    /// Accepts any JSON array (and `null`, as an empty list); entries that
    /// cannot be typed are kept raw rather than failing the whole object.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Option::<Vec<Value>>::deserialize(deserializer)?;
        Ok(Self::classify(entries.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::WidgetCondition::{self, *};
    use crate::konditionner::ConditionsExt;
    use crate::{ManualClock, Verdict};
    use jiff::SignedDuration;
    use serde_json::json;

    type List = Conditions<WidgetCondition>;

    fn clock() -> ManualClock {
        ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap())
    }

    fn wire(type_: &str, status: &str) -> Value {
        json!({"type": type_, "status": status, "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": "R", "message": "m"})
    }

    #[test]
    fn transition_time_changes_only_with_status() {
        let clock = clock();
        let mut list = List::default();
        assert_eq!(
            list.set_with(&clock, None, &Ready, Verdict::new(Status::Unknown, "A"))
                .unwrap(),
            Change::Added
        );
        let t0 = list.find(&Ready).unwrap().last_transition_time.clone();
        clock.advance(SignedDuration::from_secs(5));
        assert_eq!(
            list.set_with(
                &clock,
                Some(3),
                &Ready,
                Verdict::new(Status::Unknown, "B").message("msg")
            )
            .unwrap(),
            Change::Updated
        );
        assert_eq!(list.find(&Ready).unwrap().last_transition_time, t0);
        assert_eq!(
            list.set_with(
                &clock,
                Some(3),
                &Ready,
                Verdict::new(Status::Unknown, "B").message("msg")
            )
            .unwrap(),
            Change::Unchanged
        );
        clock.advance(SignedDuration::from_millis(1500));
        assert_eq!(
            list.set_with(
                &clock,
                Some(3),
                &Ready,
                Verdict::new(Status::True, "B").message("msg")
            )
            .unwrap(),
            Change::Transitioned {
                from: Status::Unknown
            }
        );
        let t1 = &list.find(&Ready).unwrap().last_transition_time;
        assert_eq!(t1.0.to_string(), "2024-05-01T10:00:06Z");
        assert_eq!(list.iter().count(), 1);
    }

    #[test]
    fn invalid_input_changes_nothing() {
        let mut list = List::default();
        list.set(None, &Ready, Verdict::new(Status::True, "Ok"))
            .unwrap();
        let before = list.clone();
        assert!(
            list.set(None, &Ready, Verdict::new(Status::False, ""))
                .is_err()
        );
        assert!(
            list.set(
                None,
                &Ready,
                Verdict::new(Status::False, "Ok").message("x".repeat(40_000))
            )
            .is_err()
        );
        assert_eq!(list, before);
        let mut untyped = Conditions::<String>::default();
        assert!(matches!(
            untyped.set(None, "not a type", Verdict::new(Status::True, "Ok")),
            Err(ConditionError::InvalidType { .. })
        ));
    }

    #[test]
    fn lookups() {
        let mut list = List::default();
        list.set(None, &DatabaseReady, Verdict::new(Status::True, "Up"))
            .unwrap();
        list.set(None, &Degraded, Verdict::new(Status::False, "Fine"))
            .unwrap();
        assert!(list.is_true(&DatabaseReady));
        assert!(list.is_false(&Degraded));
        assert!(!list.is_true(&Ready) && !list.is_false(&Ready));
        assert_eq!(list.find_status(&Status::False).unwrap().type_, Degraded);
        assert!(list.type_has_status(&DatabaseReady, &Status::True));
        assert!(list.any_with_status(&Status::True));
        assert!(!list.any_with_status(&Status::Unknown));
        let copy = list.find_or_initialize(DatabaseReady);
        assert_eq!(&copy, list.find(&DatabaseReady).unwrap());
        let fresh = list.find_or_initialize(Ready);
        assert_eq!(
            (fresh.status, fresh.reason.as_str()),
            (Status::Unknown, INITIAL_REASON)
        );
        assert!(list.find(&Ready).is_none());
        assert!(
            list.find(&DatabaseReady)
                .unwrap()
                .status_is_one_of(&[Status::True, Status::False])
        );
    }

    #[test]
    fn remove_takes_known_and_raw_of_the_type() {
        let input = json!([wire("Ready", "True"), wire("Other", "True"), wire("Ready", "False"), {"type": "Ready", "status": "Bogus"}]);
        let mut list: List = serde_json::from_value(input).unwrap();
        assert_eq!(list.len(), 4);
        let removed = list.remove(&Ready).unwrap();
        assert_eq!(removed.status, Status::True);
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!([wire("Other", "True")])
        );
    }

    #[test]
    fn foreign_and_invalid_round_trip_byte_for_byte() {
        let text = r#"[{"type":"Ready","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z","reason":"R","message":"m"},{"type":"other.io/Synced","status":"Maybe","lastTransitionTime":"2024-01-01T00:00:00.123456Z","reason":"X","message":"","extra":{"z":1,"a":[true,null]}},{"type":"DatabaseReady","status":"Sideways","reason":"R"},{"message":"no type"},{"type":"BucketCreated","status":"True","lastTransitionTime":"2024-01-01T00:00:00.5Z","reason":"R","message":""},{"status":"True","type":"Degraded","reason":"R","lastTransitionTime":"2024-01-01T00:00:00Z","message":"","lastHeartbeatTime":"x"},7,"s",null]"#;
        let list: List = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&list).unwrap(), text);
        let kinds: Vec<RawKind> = list.unrecognized().map(RawCondition::kind).collect();
        use RawKind::*;
        assert_eq!(
            kinds,
            [
                Foreign, Invalid, Foreign, Invalid, Invalid, Foreign, Foreign, Foreign
            ]
        );
        assert_eq!(list.iter().count(), 1);
    }

    #[test]
    fn known_conditions_round_trip_as_values_whatever_the_key_order() {
        let text = r#"[{"message":"m","reason":"R","lastTransitionTime":"2024-01-01T00:00:00Z","status":"True","type":"Ready"}]"#;
        let list: List = serde_json::from_str(text).unwrap();
        assert_eq!(list.iter().count(), 1);
        let back: Value = serde_json::to_value(&list).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn duplicates_first_valid_wins_and_writing_the_type_drops_the_rest() {
        let input = json!([{"type":"Ready","status":"Nope"}, wire("Ready", "False"), wire("Other", "True"), wire("Ready", "True")]);
        let mut list: List = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(list.find(&Ready).unwrap().status, Status::False);
        assert_eq!(
            list.unrecognized()
                .map(RawCondition::kind)
                .collect::<Vec<_>>(),
            [RawKind::Invalid, RawKind::Foreign, RawKind::Duplicate]
        );
        assert_eq!(list.wire_index(&Ready), Some(1));
        assert_eq!(serde_json::to_value(&list).unwrap(), input);
        // Same values as stored: the drop of the raw entries alone is a change.
        assert_eq!(
            list.set_with(
                &clock(),
                None,
                &Ready,
                Verdict::new(Status::False, "R").message("m")
            )
            .unwrap(),
            Change::Updated
        );
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!([wire("Ready", "False"), wire("Other", "True")])
        );
    }

    #[test]
    fn setting_a_type_replaces_its_invalid_entry_in_place() {
        let input =
            json!([wire("Other", "True"), {"type":"Ready","status":"Nope"}, wire("Foo", "True")]);
        let mut list: List = serde_json::from_value(input).unwrap();
        assert_eq!(
            list.set_with(
                &clock(),
                None,
                &Ready,
                Verdict::new(Status::True, "R").message("m")
            )
            .unwrap(),
            Change::Added
        );
        let out = serde_json::to_value(&list).unwrap();
        assert_eq!(out[1]["type"], "Ready");
        assert_eq!(out[1]["status"], "True");
        assert_eq!(out.as_array().unwrap().len(), 3);
    }

    #[test]
    fn null_and_empty_lists() {
        let list: List = serde_json::from_str("null").unwrap();
        assert!(list.is_empty());
        let list: List = serde_json::from_str("[]").unwrap();
        assert!(list.is_empty());
        assert!(serde_json::from_str::<List>("{}").is_err());
    }

    #[test]
    fn initialize_reports_declared_types_in_order_and_keeps_existing_ones() {
        let input = json!([{"type":"BucketCreated","status":"Nope"}]);
        let mut list: List = serde_json::from_value(input).unwrap();
        list.set(None, &Degraded, Verdict::new(Status::True, "Slow"))
            .unwrap();
        assert_eq!(list.initialize_with(&clock(), Some(4)), 3);
        let types: Vec<_> = list.iter().map(|c| c.type_).collect();
        // Stalled is abnormal-true: nothing stalled yet, so absent.
        assert_eq!(types, [Degraded, Ready, DatabaseReady, Reconciling]);
        assert!(list.is_true(&Reconciling));
        assert_eq!(list.find(&Ready).unwrap().observed_generation, Some(4));
        assert_eq!(list.find(&Degraded).unwrap().status, Status::True);
        assert_eq!(list.unrecognized().count(), 1);
    }

    #[test]
    fn set_condition_keeps_stored_time_without_transition() {
        let mut list = List::default();
        let c1 = Condition::new(
            Ready,
            Status::True,
            "A",
            "",
            "2024-01-01T00:00:00Z".parse().unwrap(),
        )
        .unwrap();
        list.insert(c1.clone()).unwrap();
        let c2 = Condition {
            reason: "B".into(),
            last_transition_time: Time("2025-01-01T00:00:00Z".parse().unwrap()),
            ..c1.clone()
        };
        assert_eq!(list.insert(c2).unwrap(), Change::Updated);
        assert_eq!(
            list.find(&Ready).unwrap().last_transition_time,
            c1.last_transition_time
        );
        let c3 = Condition {
            status: Status::False,
            last_transition_time: Time("2025-01-01T00:00:00.9Z".parse().unwrap()),
            ..c1
        };
        assert_eq!(
            list.insert(c3).unwrap(),
            Change::Transitioned { from: Status::True }
        );
        assert_eq!(
            list.find(&Ready)
                .unwrap()
                .last_transition_time
                .0
                .to_string(),
            "2025-01-01T00:00:00Z"
        );
    }
}
