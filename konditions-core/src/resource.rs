//! The traits that connect a custom resource to its conditions.
//!
//! `#[derive(ConditionalResource)]` implements both; they can also be written
//! by hand. The lock and the status helpers only need these.

use crate::{ConditionStatus, ConditionType, Conditions};

/// A status object that holds a list of conditions.
///
/// ```
/// use konditions_core::{ConditionalStatus, Conditions, Status};
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
}

/// A resource (the root object of a CRD) whose status holds conditions.
///
/// ```
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
/// use konditions_core::{ConditionalResource, ConditionalStatus, Conditions, Status};
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
}
