//! The fixture of this crate's documentation examples: an imaginary
//! `Widget` resource and its condition set, written by hand to show what
//! `#[derive(ConditionalResource)]` generates (`WidgetCondition`, and
//! `WidgetLock` for its type declared `(lock)`). Use it to try the API in
//! a doctest or a playground; your own resources use the derive.

use crate::{ConditionType, LockedType, Polarity, WrittenBy};

/// The conditions of an imaginary `Widget` resource: `Ready` summarises
/// `DatabaseReady`, `BucketCreated` and the negative-polarity `Degraded`;
/// kstatus' `Reconciling` and `Stalled` follow (`QuotaExceeded` stalls).
/// `BucketCreated` is declared `(lock)`: the lock writes it (see [`WidgetLock`]).
///
/// ```
/// use konditions_core::{ConditionType, Polarity};
/// use konditions_core::example::WidgetCondition;
/// assert_eq!(WidgetCondition::parse("Ready"), Some(WidgetCondition::Ready));
/// assert_eq!(WidgetCondition::parse("Other"), None); // foreign
/// assert_eq!(WidgetCondition::summary(), Some(WidgetCondition::Ready));
/// assert_eq!(WidgetCondition::Degraded.polarity(), Polarity::Negative);
/// assert_eq!(WidgetCondition::dependents().len(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WidgetCondition {
    /// The summary: the widget serves traffic.
    Ready,
    /// The widget's database accepts connections.
    DatabaseReady,
    /// The widget's bucket exists (written by the lock).
    BucketCreated,
    /// The widget runs with reduced capacity (`False` is good).
    Degraded,
    /// kstatus: a generation is being worked on and not finished.
    Reconciling,
    /// kstatus: progress needs a human.
    Stalled,
}

// The fixture is public: keep it out of "the trait is implemented for"
// hints in the errors of users' own types.
#[diagnostic::do_not_recommend]
impl ConditionType for WidgetCondition {
    fn as_str(&self) -> &str {
        match self {
            Self::Ready => "Ready",
            Self::DatabaseReady => "DatabaseReady",
            Self::BucketCreated => "BucketCreated",
            Self::Degraded => "Degraded",
            Self::Reconciling => "Reconciling",
            Self::Stalled => "Stalled",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Self::declared()
            .iter()
            .find(|t| t.as_str() == value)
            .copied()
    }

    fn declared() -> &'static [Self] {
        &[
            Self::Ready,
            Self::DatabaseReady,
            Self::BucketCreated,
            Self::Degraded,
            Self::Reconciling,
            Self::Stalled,
        ]
    }

    fn polarity(&self) -> Polarity {
        match self {
            Self::Degraded | Self::Reconciling | Self::Stalled => Polarity::Negative,
            _ => Polarity::Positive,
        }
    }

    fn summary() -> Option<Self> {
        Some(Self::Ready)
    }

    fn dependents() -> &'static [Self] {
        &[Self::DatabaseReady, Self::BucketCreated, Self::Degraded]
    }

    fn written_by(&self) -> WrittenBy {
        match self {
            Self::BucketCreated => WrittenBy::Lock,
            _ => WrittenBy::Apply,
        }
    }

    fn reconciling() -> Option<Self> {
        Some(Self::Reconciling)
    }

    fn stalled() -> Option<Self> {
        Some(Self::Stalled)
    }

    fn stalls(reason: &str) -> bool {
        // More quota takes a person.
        reason == "QuotaExceeded"
    }
}

/// The conditions of a `Widget` the lock writes: what the derive generates
/// for the types declared `(lock)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WidgetLock {
    /// [`WidgetCondition::BucketCreated`].
    BucketCreated,
}

// The fixture is public: keep it out of "the trait is implemented for"
// hints in the errors of users' own types.
#[diagnostic::do_not_recommend]
impl LockedType for WidgetLock {
    type Type = WidgetCondition;

    fn condition_type(&self) -> WidgetCondition {
        match self {
            Self::BucketCreated => WidgetCondition::BucketCreated,
        }
    }
}

/// The status of the imaginary `Widget`: its conditions.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WidgetStatus {
    /// The conditions.
    #[serde(default)]
    pub conditions: crate::Conditions<WidgetCondition>,
    /// `status.observedGeneration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

// The fixture is public: keep it out of "the trait is implemented for"
// hints in the errors of users' own types.
#[diagnostic::do_not_recommend]
impl crate::ConditionalStatus for WidgetStatus {
    type Type = WidgetCondition;
    type Status = crate::Status;

    fn conditions(&self) -> &crate::Conditions<WidgetCondition> {
        &self.conditions
    }

    fn conditions_mut(&mut self) -> &mut crate::Conditions<WidgetCondition> {
        &mut self.conditions
    }

    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }

    fn observed_generation_mut(&mut self) -> Option<&mut Option<i64>> {
        Some(&mut self.observed_generation)
    }
}

/// An imaginary namespaced custom resource `widgets.example.com/v1`, for
/// documentation examples.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Widget {
    /// The metadata.
    pub metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    /// The status.
    pub status: Option<WidgetStatus>,
}

impl Widget {
    /// A widget named `name` at generation `generation`, without status.
    pub fn new(name: &str, generation: i64) -> Self {
        Self {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("default".to_owned()),
                generation: Some(generation),
                ..Default::default()
            },
            status: None,
        }
    }
}

// The fixture is public: keep it out of "the trait is implemented for"
// hints in the errors of users' own types.
#[diagnostic::do_not_recommend]
impl crate::ConditionalResource for Widget {
    type Type = WidgetCondition;
    type Status = crate::Status;
    type ResourceStatus = WidgetStatus;

    fn resource_status(&self) -> Option<&WidgetStatus> {
        self.status.as_ref()
    }

    fn resource_status_mut(&mut self) -> &mut Option<WidgetStatus> {
        &mut self.status
    }

    fn generation(&self) -> Option<i64> {
        self.metadata.generation
    }
}

#[cfg(feature = "client")]
impl kube::Resource for Widget {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "Widget".into()
    }

    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "example.com".into()
    }

    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "widgets".into()
    }

    fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &mut self.metadata
    }
}
