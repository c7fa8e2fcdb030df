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
    /// type (the summary itself is always skipped).
    fn dependents() -> &'static [Self] {
        Self::declared()
    }
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
