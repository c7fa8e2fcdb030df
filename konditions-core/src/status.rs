//! Condition statuses: the standard tri-state and the trait that lets a user
//! bring another status set (for example konditionner's).
//!
//! Kubernetes tools (`kubectl wait`, kstatus, printer columns) only understand
//! `True`, `False` and `Unknown`, so [`Status`] is the default everywhere. A
//! status set is any type implementing [`ConditionStatus`].

use std::fmt;

/// A set of values the `status` field of a condition can take.
///
/// Every status maps onto the standard tri-state through [`truth`](Self::truth),
/// which is what summaries and the lock reason about.
///
/// ```
/// use konditions_core::{ConditionStatus, Status};
/// assert_eq!(Status::parse("True"), Some(Status::True));
/// assert_eq!(Status::True.as_str(), "True");
/// assert_eq!(Status::Unknown.truth(), None);
/// ```
pub trait ConditionStatus: Clone + PartialEq + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every value of the set, in the order the CRD schema's `enum` lists them.
    const ALL: &'static [Self];
    /// The status a condition gets when it is reported before anything is known.
    const UNKNOWN: Self;
    /// The status a task's successful completion maps to when nothing more specific is given.
    const TRUE: Self;
    /// The status an error maps to (the lock releases with it when a task fails).
    const FALSE: Self;

    /// The wire spelling, e.g. `"True"`.
    fn as_str(&self) -> &'static str;

    /// Parses the wire spelling; `None` when it is not a member of this set.
    fn parse(value: &str) -> Option<Self> {
        Self::ALL.iter().find(|s| s.as_str() == value).cloned()
    }

    /// The tri-state meaning: `Some(true)` for True-like, `Some(false)` for
    /// False-like, `None` for Unknown-like statuses.
    fn truth(&self) -> Option<bool>;
}

/// The standard condition status of `metav1.Condition`.
///
/// ```
/// use konditions_core::Status;
/// let s: Status = serde_json::from_str("\"False\"").unwrap();
/// assert_eq!(s, Status::False);
/// assert_eq!(serde_json::to_string(&Status::Unknown).unwrap(), "\"Unknown\"");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell (yet).
    Unknown,
}

impl ConditionStatus for Status {
    const ALL: &'static [Self] = &[Status::True, Status::False, Status::Unknown];
    const UNKNOWN: Self = Status::Unknown;
    const TRUE: Self = Status::True;
    const FALSE: Self = Status::False;

    fn as_str(&self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }

    fn truth(&self) -> Option<bool> {
        match self {
            Status::True => Some(true),
            Status::False => Some(false),
            Status::Unknown => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
