//! A small hand-written condition set used by this crate's documentation
//! examples, showing what `#[derive(ConditionalResource)]` generates.

use crate::{ConditionType, Polarity};

/// The conditions of an imaginary `Widget` resource: `Ready` summarises
/// `DatabaseReady`, `BucketCreated` and the negative-polarity `Degraded`.
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
    /// The widget's bucket exists.
    BucketCreated,
    /// The widget runs with reduced capacity (`False` is good).
    Degraded,
}

impl ConditionType for WidgetCondition {
    fn as_str(&self) -> &str {
        match self {
            Self::Ready => "Ready",
            Self::DatabaseReady => "DatabaseReady",
            Self::BucketCreated => "BucketCreated",
            Self::Degraded => "Degraded",
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
        ]
    }

    fn polarity(&self) -> Polarity {
        match self {
            Self::Degraded => Polarity::Negative,
            _ => Polarity::Positive,
        }
    }

    fn summary() -> Option<Self> {
        Some(Self::Ready)
    }
}
