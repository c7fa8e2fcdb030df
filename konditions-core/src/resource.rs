//! The traits that connect a custom resource to its conditions.
//!
//! `#[derive(ConditionalResource)]` implements both; they can also be written
//! by hand. The lock and the status helpers only need these.
//!
//! The provided methods of [`ConditionalResource`] are the ones to use in a
//! reconciler: they fill `observedGeneration` from `metadata.generation`.

use std::borrow::Borrow;

use crate::merge::Summary;
use crate::{
    Change, Clock, Condition, ConditionError, ConditionStatus, ConditionType, Conditions,
    SummaryChange, SummaryError, SystemClock, Verdict,
};

/// A status object that holds a list of conditions.
///
/// ```
/// use konditions_core::{ConditionalStatus, Conditions, Status, Verdict};
///
/// #[derive(Default)]
/// struct MyStatus {
///     conditions: Conditions,
/// }
///
/// impl ConditionalStatus for MyStatus {
///     type Type = String;
///     type Status = Status;
///     fn conditions(&self) -> &Conditions { &self.conditions }
///     fn conditions_mut(&mut self) -> &mut Conditions { &mut self.conditions }
/// }
/// assert!(MyStatus::default().conditions().is_empty());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not hold conditions",
    label = "this status type has no conditions",
    note = "add a field `conditions: konditions_core::Conditions<YourConditionType>` to `{Self}` and `#[derive(ConditionalStatus)]` on it, or implement `konditions_core::ConditionalStatus` by hand"
)]
pub trait ConditionalStatus: Default {
    /// The condition types of this status.
    type Type: ConditionType;
    /// The status set of this status's conditions.
    type Status: ConditionStatus;

    /// The conditions.
    fn conditions(&self) -> &Conditions<Self::Type, Self::Status>;

    /// The conditions, mutably.
    fn conditions_mut(&mut self) -> &mut Conditions<Self::Type, Self::Status>;

    /// `status.observedGeneration`: the generation the controller last
    /// computed the summary for (kstatus, Flux and Argo CD read it). `None`
    /// when unset or when the status has no such field.
    fn observed_generation(&self) -> Option<i64> {
        None
    }

    /// `status.observedGeneration`, mutably; `None` when the status has no
    /// such field. `#[derive(ConditionalStatus)]` wires a field named
    /// `observed_generation`.
    fn observed_generation_mut(&mut self) -> Option<&mut Option<i64>> {
        None
    }
}

/// A resource (the root object of a CRD) whose status holds conditions.
///
/// ```
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
/// use konditions_core::{ConditionalResource, ConditionalStatus, Conditions, Status, Verdict};
///
/// #[derive(Default)]
/// struct WidgetStatus { conditions: Conditions }
/// impl ConditionalStatus for WidgetStatus {
///     type Type = String;
///     type Status = Status;
///     fn conditions(&self) -> &Conditions { &self.conditions }
///     fn conditions_mut(&mut self) -> &mut Conditions { &mut self.conditions }
/// }
///
/// struct Widget { metadata: ObjectMeta, status: Option<WidgetStatus> }
/// impl ConditionalResource for Widget {
///     type Type = String;
///     type Status = Status;
///     type ResourceStatus = WidgetStatus;
///     fn resource_status(&self) -> Option<&WidgetStatus> { self.status.as_ref() }
///     fn resource_status_mut(&mut self) -> &mut Option<WidgetStatus> { &mut self.status }
///     fn generation(&self) -> Option<i64> { self.metadata.generation }
/// }
///
/// let mut w = Widget { metadata: ObjectMeta::default(), status: None };
/// assert!(w.conditions().is_none());
/// assert!(w.conditions_mut().is_empty()); // creates the status
/// assert!(w.status.is_some());
/// ```
pub trait ConditionalResource {
    /// The condition types of this resource.
    type Type: ConditionType;
    /// The status set of this resource's conditions.
    type Status: ConditionStatus;
    /// The type of the resource's `status` field.
    type ResourceStatus: ConditionalStatus<Type = Self::Type, Status = Self::Status>;

    /// The `status` of the resource, if it has one.
    fn resource_status(&self) -> Option<&Self::ResourceStatus>;

    /// The `status` field of the resource, mutably.
    fn resource_status_mut(&mut self) -> &mut Option<Self::ResourceStatus>;

    /// `metadata.generation` of the resource.
    fn generation(&self) -> Option<i64>;

    /// The conditions, `None` when the resource has no status yet.
    fn conditions(&self) -> Option<&Conditions<Self::Type, Self::Status>> {
        self.resource_status().map(ConditionalStatus::conditions)
    }

    /// The conditions, mutably; creates a default status when there is none.
    fn conditions_mut(&mut self) -> &mut Conditions<Self::Type, Self::Status> {
        self.resource_status_mut()
            .get_or_insert_with(Default::default)
            .conditions_mut()
    }

    /// Sets a condition with `observedGeneration` = `metadata.generation`,
    /// using the system clock: see [`Conditions::set_with`].
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, Status, Verdict};
    /// use konditions_core::example::{Widget, WidgetCondition::*};
    /// let mut w = Widget::new("w", 5);
    /// w.set_condition(&DatabaseReady, Verdict::new(Status::True, "Connected")).unwrap();
    /// assert_eq!(w.conditions().unwrap().find(&DatabaseReady).unwrap().observed_generation, Some(5));
    /// ```
    fn set_condition<Q>(
        &mut self,
        type_: &Q,
        verdict: Verdict<'_, Self::Status>,
    ) -> Result<Change<Self::Status>, ConditionError>
    where
        Self::Type: Borrow<Q>,
        Q: PartialEq + ToOwned<Owned = Self::Type> + ?Sized,
    {
        self.set_condition_with(&SystemClock, type_, verdict)
    }

    /// [`set_condition`](Self::set_condition) with the time from `clock`.
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, ManualClock, Status, Verdict};
    /// use konditions_core::example::{Widget, WidgetCondition::*};
    /// let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
    /// let mut w = Widget::new("w", 2);
    /// w.set_condition_with(&clock, &DatabaseReady, Verdict::new(Status::False, "Waiting")).unwrap();
    /// let db = w.conditions().unwrap().find(&DatabaseReady).unwrap();
    /// assert_eq!(db.last_transition_time.0.to_string(), "2024-05-01T10:00:00Z");
    /// ```
    fn set_condition_with<Q, C>(
        &mut self,
        clock: &C,
        type_: &Q,
        verdict: Verdict<'_, Self::Status>,
    ) -> Result<Change<Self::Status>, ConditionError>
    where
        Self::Type: Borrow<Q>,
        Q: PartialEq + ToOwned<Owned = Self::Type> + ?Sized,
        C: Clock + ?Sized,
    {
        let generation = self.generation();
        self.conditions_mut()
            .set_with(clock, generation, type_, verdict)
    }

    /// Reports every declared condition that is missing as Unknown (kstatus'
    /// `Reconciling` as True; `Stalled` stays absent), with `observedGeneration` =
    /// `metadata.generation` (see [`Conditions::initialize_with`]). Returns
    /// how many were added.
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, Status};
    /// use konditions_core::example::{Widget, WidgetCondition::*};
    /// let mut w = Widget::new("w", 1);
    /// assert_eq!(w.initialize_conditions(), 5);
    /// let conditions = w.conditions().unwrap();
    /// assert!(conditions.iter().all(|c| c.observed_generation == Some(1)));
    /// assert_eq!(conditions.find(&Ready).unwrap().status, Status::Unknown);
    /// ```
    fn initialize_conditions(&mut self) -> usize {
        self.initialize_conditions_with(&SystemClock)
    }

    /// [`initialize_conditions`](Self::initialize_conditions) with the time from `clock`.
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, ManualClock};
    /// use konditions_core::example::Widget;
    /// let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
    /// let mut w = Widget::new("w", 1);
    /// assert_eq!(w.initialize_conditions_with(&clock), 5);
    /// assert!(w.conditions().unwrap().iter().all(|c| c.last_transition_time.0.to_string() == "2024-05-01T10:00:00Z"));
    /// ```
    fn initialize_conditions_with<C: Clock + ?Sized>(&mut self, clock: &C) -> usize {
        let generation = self.generation();
        self.conditions_mut().initialize_with(clock, generation)
    }

    /// Recomputes the summary condition for the current generation (stale
    /// dependents count as unknown): see [`Conditions::update_summary_with`].
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, Status, Verdict};
    /// use konditions_core::example::{Widget, WidgetCondition::*};
    /// let mut w = Widget::new("w", 1);
    /// w.set_condition(&DatabaseReady, Verdict::new(Status::True, "Up")).unwrap();
    /// w.set_condition(&BucketCreated, Verdict::new(Status::True, "Made")).unwrap();
    /// w.set_condition(&Degraded, Verdict::new(Status::False, "Full")).unwrap();
    /// w.update_summary().unwrap();
    /// assert!(w.conditions().unwrap().is_true(&Ready));
    /// w.metadata.generation = Some(2); // spec changed: dependents are stale
    /// w.update_summary().unwrap();
    /// assert_eq!(w.conditions().unwrap().find(&Ready).unwrap().status, Status::Unknown);
    /// ```
    fn update_summary(&mut self) -> Result<SummaryChange<Self::Status>, ConditionError> {
        self.update_summary_with(&SystemClock)
    }

    /// [`update_summary`](Self::update_summary) with the time from `clock`.
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, ManualClock, Status};
    /// use konditions_core::example::{Widget, WidgetCondition::*};
    /// let clock = ManualClock::new("2024-05-01T10:00:00Z".parse().unwrap());
    /// let mut w = Widget::new("w", 1);
    /// assert!(w.update_summary_with(&clock).unwrap().is_changed());
    /// let ready = w.conditions().unwrap().find(&Ready).unwrap();
    /// assert_eq!((ready.status, ready.last_transition_time.0.to_string().as_str()), (Status::Unknown, "2024-05-01T10:00:00Z"));
    /// ```
    fn update_summary_with<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
    ) -> Result<SummaryChange<Self::Status>, ConditionError> {
        let generation = self.generation();
        let mut change = self
            .conditions_mut()
            .update_summary_with(clock, generation)?;
        change.observed_generation |= observe_generation(self, generation);
        Ok(change)
    }

    /// [`update_summary`](Self::update_summary) with options (types ignored
    /// when missing, overrides for this summary only, another merge
    /// strategy): see [`Conditions::update_summary_by`].
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, Status, Verdict};
    /// use konditions_core::merge::Summary;
    /// use konditions_core::example::{Widget, WidgetCondition::*};
    /// let mut w = Widget::new("w", 1);
    /// w.set_condition(&DatabaseReady, Verdict::new(Status::True, "Up")).unwrap();
    /// w.set_condition(&Degraded, Verdict::new(Status::False, "Fine")).unwrap();
    /// w.update_summary_by(&Summary::options().ignore_if_missing(["BucketCreated"])).unwrap();
    /// assert!(w.conditions().unwrap().is_true(&Ready));
    /// ```
    fn update_summary_by(
        &mut self,
        options: &Summary<'_>,
    ) -> Result<SummaryChange<Self::Status>, SummaryError> {
        let generation = self.generation();
        let mut change =
            self.conditions_mut()
                .update_summary_by(&SystemClock, generation, options)?;
        change.observed_generation |= observe_generation(self, generation);
        Ok(change)
    }

    /// Sets the declared [`Paused`](ConditionType::paused) condition: True,
    /// reason [`PAUSED_REASON`](crate::PAUSED_REASON), with `Some(message)`
    /// (why, e.g. "the konditions.dev/paused annotation is set"); False,
    /// [`NOT_PAUSED_REASON`](crate::NOT_PAUSED_REASON), with `None`.
    /// Unchanged when the type set declares no `Paused`.
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, ConditionType, Status};
    /// # use konditions_core::Conditions;
    /// # #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    /// # enum T { Ready, Paused }
    /// # impl ConditionType for T {
    /// #     fn as_str(&self) -> &str { match self { T::Ready => "Ready", T::Paused => "Paused" } }
    /// #     fn parse(v: &str) -> Option<Self> { [T::Ready, T::Paused].into_iter().find(|t| t.as_str() == v) }
    /// #     fn declared() -> &'static [Self] { &[T::Ready, T::Paused] }
    /// #     fn summary() -> Option<Self> { Some(T::Ready) }
    /// #     fn paused() -> Option<Self> { Some(T::Paused) }
    /// # }
    /// # #[derive(Default)] struct S { conditions: Conditions<T> }
    /// # impl konditions_core::ConditionalStatus for S { type Type = T; type Status = Status;
    /// #     fn conditions(&self) -> &Conditions<T> { &self.conditions }
    /// #     fn conditions_mut(&mut self) -> &mut Conditions<T> { &mut self.conditions } }
    /// # struct R { status: Option<S> }
    /// # impl ConditionalResource for R { type Type = T; type Status = Status; type ResourceStatus = S;
    /// #     fn resource_status(&self) -> Option<&S> { self.status.as_ref() }
    /// #     fn resource_status_mut(&mut self) -> &mut Option<S> { &mut self.status }
    /// #     fn generation(&self) -> Option<i64> { Some(1) } }
    /// let mut r = R { status: None };
    /// r.set_paused(Some("the paused annotation is set")).unwrap();
    /// assert!(r.conditions().unwrap().is_true(&T::Paused));
    /// r.set_paused(None).unwrap();
    /// assert_eq!(r.conditions().unwrap().find(&T::Paused).unwrap().reason, "NotPaused");
    /// ```
    fn set_paused(&mut self, paused: Option<&str>) -> Result<Change<Self::Status>, ConditionError> {
        let Some(type_) = Self::Type::paused() else {
            return Ok(Change::Unchanged);
        };
        let verdict = match paused {
            Some(message) => {
                Verdict::new(Self::Status::TRUE, crate::PAUSED_REASON).message(message)
            }
            None => Verdict::new(Self::Status::FALSE, crate::NOT_PAUSED_REASON),
        };
        self.set_condition(&type_, verdict)
    }

    /// Sets the declared [`Deleting`](ConditionType::deleting) condition:
    /// True, reason [`DELETING_REASON`](crate::DELETING_REASON), with
    /// `Some(message)` (what the deletion waits for, e.g. "waiting for 2
    /// Deployments"); False, [`NOT_DELETING_REASON`](crate::NOT_DELETING_REASON),
    /// with `None`. While True the summary lists it as an issue. Unchanged
    /// when the type set declares no `Deleting`.
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, Status};
    /// use konditions_core::example::Widget;
    /// // Widget declares no Deleting condition: nothing to do.
    /// let mut w = Widget::new("w", 1);
    /// assert!(!w.set_deleting(Some("waiting for 2 Deployments")).unwrap().is_changed());
    /// ```
    fn set_deleting(
        &mut self,
        deleting: Option<&str>,
    ) -> Result<Change<Self::Status>, ConditionError> {
        let Some(type_) = Self::Type::deleting() else {
            return Ok(Change::Unchanged);
        };
        let verdict = match deleting {
            Some(message) => {
                Verdict::new(Self::Status::TRUE, crate::DELETING_REASON).message(message)
            }
            None => Verdict::new(Self::Status::FALSE, crate::NOT_DELETING_REASON),
        };
        self.set_condition(&type_, verdict)
    }

    /// The condition `type_` if it was computed for the current generation
    /// (or does not record one): a stale condition is not returned.
    ///
    /// ```
    /// use konditions_core::{ConditionalResource, Status, Verdict};
    /// use konditions_core::example::{Widget, WidgetCondition::*};
    /// let mut w = Widget::new("w", 1);
    /// w.set_condition(&DatabaseReady, Verdict::new(Status::True, "Up")).unwrap();
    /// assert!(w.fresh_condition(&DatabaseReady).is_some());
    /// w.metadata.generation = Some(2);
    /// assert!(w.fresh_condition(&DatabaseReady).is_none());
    /// assert_eq!(w.stale_conditions().count(), 1);
    /// ```
    fn fresh_condition<Q>(&self, type_: &Q) -> Option<&Condition<Self::Type, Self::Status>>
    where
        Self::Type: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let generation = self.generation();
        self.conditions()?
            .find(type_)
            .filter(|c| !c.is_stale(generation))
    }

    /// The conditions computed for an older generation than the object's.
    ///
    /// ```
    /// use konditions_core::ConditionalResource;
    /// use konditions_core::example::Widget;
    /// let w = Widget::new("w", 1);
    /// assert_eq!(w.stale_conditions().count(), 0);
    /// ```
    fn stale_conditions(&self) -> impl Iterator<Item = &Condition<Self::Type, Self::Status>> {
        let generation = self.generation();
        self.conditions()
            .into_iter()
            .flat_map(move |c| c.stale(generation))
    }
}

/// Sets `status.observedGeneration` (when the status has it) to
/// `generation`; whether that changed it.
fn observe_generation<K: ConditionalResource + ?Sized>(
    object: &mut K,
    generation: Option<i64>,
) -> bool {
    let status = object
        .resource_status_mut()
        .get_or_insert_with(Default::default);
    match status.observed_generation_mut() {
        Some(observed) if *observed != generation => {
            *observed = generation;
            true
        }
        _ => false,
    }
}
