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

/// konditionner's extensible status set, for users migrating from it.
///
/// Opt-in and never the default: statuses other than `True`, `False` and
/// `Unknown` are invisible to `kubectl wait`, kstatus and most dashboards.
/// Each member maps onto the tri-state through [`truth`](ConditionStatus::truth)
/// so summaries and the lock still reason about it. The standard three are
/// members too, so conditions written by standard tools still parse.
///
/// | status | truth |
/// |---|---|
/// | `True`, `Completed`, `Created`, `Terminated` | `Some(true)` |
/// | `False`, `Error` | `Some(false)` |
/// | `Unknown`, `Initialized`, `Terminating`, `Locked` | `None` |
///
/// As in konditionner, a condition starts as `Initialized`, a task that
/// succeeds without saying more ends `Completed`, a failed one `Error`.
///
/// ```
/// use konditions_core::{ConditionStatus, KonditionnerStatus};
/// assert_eq!(KonditionnerStatus::UNKNOWN, KonditionnerStatus::Initialized);
/// assert_eq!(KonditionnerStatus::parse("Locked"), Some(KonditionnerStatus::Locked));
/// assert_eq!(KonditionnerStatus::Created.truth(), Some(true));
/// assert_eq!(KonditionnerStatus::Error.truth(), Some(false));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KonditionnerStatus {
    /// The standard `True`.
    True,
    /// The standard `False`.
    False,
    /// The standard `Unknown`.
    Unknown,
    /// Reported, nothing done yet (konditionner's initial status).
    Initialized,
    /// The work this condition tracks finished.
    Completed,
    /// The external object this condition tracks was created.
    Created,
    /// The external object is being torn down.
    Terminating,
    /// The external object is gone.
    Terminated,
    /// The work failed; the reason and message say why.
    Error,
    /// A task holds the advisory lock on this condition.
    Locked,
}

impl ConditionStatus for KonditionnerStatus {
    const ALL: &'static [Self] = &[
        Self::True,
        Self::False,
        Self::Unknown,
        Self::Initialized,
        Self::Completed,
        Self::Created,
        Self::Terminating,
        Self::Terminated,
        Self::Error,
        Self::Locked,
    ];
    const UNKNOWN: Self = Self::Initialized;
    const TRUE: Self = Self::Completed;
    const FALSE: Self = Self::Error;

    fn as_str(&self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
            Self::Initialized => "Initialized",
            Self::Completed => "Completed",
            Self::Created => "Created",
            Self::Terminating => "Terminating",
            Self::Terminated => "Terminated",
            Self::Error => "Error",
            Self::Locked => "Locked",
        }
    }

    fn truth(&self) -> Option<bool> {
        match self {
            Self::True | Self::Completed | Self::Created | Self::Terminated => Some(true),
            Self::False | Self::Error => Some(false),
            Self::Unknown | Self::Initialized | Self::Terminating | Self::Locked => None,
        }
    }
}

impl fmt::Display for KonditionnerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for KonditionnerStatus {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for KonditionnerStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::unknown_variant(
                &s,
                &[
                    "True",
                    "False",
                    "Unknown",
                    "Initialized",
                    "Completed",
                    "Created",
                    "Terminating",
                    "Terminated",
                    "Error",
                    "Locked",
                ],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<S: ConditionStatus>() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()).as_ref(), Some(s));
        }
        assert!(
            S::ALL.contains(&S::UNKNOWN) && S::ALL.contains(&S::TRUE) && S::ALL.contains(&S::FALSE)
        );
        assert_eq!(S::UNKNOWN.truth(), None);
        assert_eq!(S::TRUE.truth(), Some(true));
        assert_eq!(S::FALSE.truth(), Some(false));
    }

    #[test]
    fn status_sets_are_consistent() {
        round_trips::<Status>();
        round_trips::<KonditionnerStatus>();
        assert_eq!(Status::parse("true"), None);
    }

    #[test]
    fn konditionner_status_serde() {
        let s: KonditionnerStatus = serde_json::from_str("\"Terminating\"").unwrap();
        assert_eq!(s, KonditionnerStatus::Terminating);
        assert_eq!(
            serde_json::to_string(&KonditionnerStatus::Locked).unwrap(),
            "\"Locked\""
        );
        assert!(serde_json::from_str::<KonditionnerStatus>("\"Nope\"").is_err());
    }
}
