//! What a CRD author declares about its condition types: their names, their
//! polarity and the summary condition computed from them.
//!
//! `#[derive(ConditionalResource)]` generates an enum implementing
//! [`ConditionType`]; `String` implements it too for untyped use.

use std::fmt;

/// Whether `True` is the good state of a condition.
///
/// The API conventions prefer positive names (`Ready`), but some established
/// conditions are negative (`MemoryPressure`): for them `False` is good, and a
/// summary must read them inverted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Polarity {
    /// `True` is the good state (the default).
    #[default]
    Positive,
    /// `False` is the good state.
    Negative,
}

/// Who writes a condition of a type. Server-side apply and the lock must
/// not write the same condition: the apply helpers leave out the lock's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum WrittenBy {
    /// The controller, with server-side apply (the default).
    #[default]
    Apply,
    /// The [lock](crate::lock): a task's result. Never applied.
    Lock,
}

/// A condition type: the `type` field of a condition.
///
/// Types the implementation does not recognise ([`parse`](Self::parse)
/// returns `None`) are foreign: they are kept untouched by
/// [`Conditions`](crate::Conditions) and written back as they were read.
///
/// ```
/// use konditions_core::ConditionType;
/// // A plain String accepts any type name and declares none.
/// assert_eq!(<String as ConditionType>::parse("Ready"), Some("Ready".to_string()));
/// assert!(String::declared().is_empty());
/// ```
pub trait ConditionType: Clone + PartialEq + Eq + fmt::Debug + Send + Sync + 'static {
    /// The wire spelling of this type, e.g. `"Ready"`.
    fn as_str(&self) -> &str;

    /// Parses a wire spelling; `None` when the type is not one of ours.
    fn parse(value: &str) -> Option<Self>;

    /// Every declared type, in declaration order (the summary included).
    /// Empty for open sets such as `String`.
    fn declared() -> &'static [Self];

    /// The polarity of this type.
    fn polarity(&self) -> Polarity {
        Polarity::Positive
    }

    /// The summary condition (conventionally `Ready`), if one is declared.
    fn summary() -> Option<Self> {
        None
    }

    /// The conditions the summary is computed from, in the order that
    /// decides which one explains the summary. By default every declared
    /// type (the summary, `Reconciling` and `Stalled` are always skipped).
    fn dependents() -> &'static [Self] {
        Self::declared()
    }

    /// Who writes conditions of this type. Default [`WrittenBy::Apply`].
    fn written_by(&self) -> WrittenBy {
        WrittenBy::Apply
    }

    /// kstatus' `Reconciling` condition (True while a generation is being
    /// worked on and not finished), if this set declares it. The
    /// summary's setter maintains it; see [`kstatus`](crate::kstatus).
    fn reconciling() -> Option<Self> {
        None
    }

    /// kstatus' `Stalled` condition (True when progress needs a human), if
    /// this set declares it. The summary's setter maintains it.
    fn stalled() -> Option<Self> {
        None
    }

    /// Whether a dependent in its bad state with this reason needs a human
    /// (a retry will not fix it): then the summary is `Stalled`, not
    /// `Reconciling`. Default: no reason stalls.
    fn stalls(reason: &str) -> bool {
        let _ = reason;
        false
    }

    /// Cluster API's `Paused` condition (True while reconciliation is
    /// paused), if this set declares one (`types(Paused(paused))` in the
    /// derive). It is set with
    /// [`ConditionalResource::set_paused`](crate::ConditionalResource::set_paused),
    /// is never a dependent of the summary (it says what the controller
    /// does, not how the object is), and while it is True kstatus'
    /// `Reconciling` is absent: nobody is working on the object.
    fn paused() -> Option<Self> {
        None
    }

    /// Cluster API's `Deleting` condition (True while the object is being
    /// deleted), if this set declares one (`types(Deleting(deleting))`). It
    /// is set with
    /// [`ConditionalResource::set_deleting`](crate::ConditionalResource::set_deleting)
    /// and is a negative dependent of the summary: while it is True the
    /// summary is not good and lists it (`* Deleting: ...`).
    fn deleting() -> Option<Self> {
        None
    }

    /// Whether this type is one the summary's setter computes (the summary,
    /// `Reconciling`, `Stalled`), not a dependent.
    fn is_computed(&self) -> bool {
        Some(self) == Self::summary().as_ref() || abnormal_true::<Self>().any(|t| t == *self)
    }
}

/// kstatus' abnormal-true types `T` declares (`Reconciling`, `Stalled`):
/// present only while True, their absence reads as False.
pub(crate) fn abnormal_true<T: ConditionType>() -> impl Iterator<Item = T> {
    [T::reconciling(), T::stalled()].into_iter().flatten()
}

/// A condition type the [lock](crate::lock) may write: one declared
/// `(lock)`, which the apply helpers never send.
///
/// `Lock::new` takes this, not the condition enum: a condition that
/// `apply_status` also writes would be written back from stale copies,
/// undoing a lock another worker holds, and its task would run twice. So
/// locking a condition that is not declared `(lock)` does not compile.
///
/// `#[derive(ConditionalResource)]` implements it on a second enum holding
/// only the types declared `(lock)`: for `kind = "Transfer"` and
/// `types(Posted(lock), Notified(lock), Validated)`, `TransferLock::Posted`
/// and `TransferLock::Notified` (the condition enum's name with `Condition`
/// replaced by `Lock`). An open set (`Conditions<String>`) declares nothing:
/// lock it by name with [`lock::Untyped`](crate::lock::Untyped).
///
/// ```
/// use konditions_core::{ConditionType, LockedType, WrittenBy};
/// use konditions_core::example::{WidgetCondition, WidgetLock};
/// let locked = WidgetLock::BucketCreated;
/// assert_eq!(locked.condition_type(), WidgetCondition::BucketCreated);
/// assert_eq!(locked.condition_type().written_by(), WrittenBy::Lock);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a condition type the lock may write",
    label = "the lock takes only conditions declared `(lock)`",
    note = "a condition the lock writes must never be sent by `apply_status`: a status write from a stale copy would undo a lock another worker holds, and the task would run twice",
    note = "declare it `(lock)` in the derive, e.g. `#[konditions(types(Posted(lock)), summary = Ready)]`, and pass the generated lock enum's variant: `<Kind>Lock::Posted` (the condition enum's name with `Condition` replaced by `Lock`)",
    note = "for untyped conditions (`Conditions<String>`), lock by name with `konditions_core::lock::Untyped` and keep that type out of every apply"
)]
pub trait LockedType: Clone + Send + Sync + 'static {
    /// The condition type the lock writes.
    type Type: ConditionType;

    /// The condition type itself.
    fn condition_type(&self) -> Self::Type;
}

impl ConditionType for String {
    fn as_str(&self) -> &str {
        self
    }

    fn parse(value: &str) -> Option<Self> {
        Some(value.to_owned())
    }

    fn declared() -> &'static [Self] {
        &[]
    }
}
