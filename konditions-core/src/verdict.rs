//! What a condition says: its status, reason and message, as one value.
//!
//! Every writer of a condition takes a [`Verdict`]: the setters of
//! [`Conditions`](crate::Conditions), the summary computation, and a task
//! run under the [lock](crate::lock) when it succeeds. Naming the reason
//! with a builder keeps it apart from the message, so the two cannot be
//! swapped by accident.

use std::borrow::Cow;
use std::fmt;

use crate::{ConditionStatus, Status};

/// A condition's status, reason and message.
///
/// The reason is a CamelCase identifier for programs; the message is for
/// people and may be empty. Both are validated when the verdict is set.
/// Borrowed text is kept borrowed, so setting a verdict that changes
/// nothing does not allocate.
///
/// ```
/// use konditions_core::{Status, Verdict};
///
/// let v = Verdict::new(Status::False, "TableMissing").message("table students does not exist");
/// assert_eq!(v.status, Status::False);
/// assert_eq!(v.reason, "TableMissing");
/// assert_eq!(v.message, "table students does not exist");
/// assert_eq!(v.to_string(), "False (TableMissing): table students does not exist");
///
/// // Owned text works too, e.g. from `format!`.
/// let row = 7;
/// let owned = Verdict::new(Status::True, "RowWritten").message(format!("row {row}"));
/// assert_eq!(owned.message, "row 7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verdict<'a, S = Status> {
    /// The status.
    pub status: S,
    /// The reason: a CamelCase identifier, e.g. `TableMissing`.
    pub reason: Cow<'a, str>,
    /// A human readable message; empty by default.
    pub message: Cow<'a, str>,
}

impl<'a, S: ConditionStatus> Verdict<'a, S> {
    /// A verdict with `status` and `reason` and an empty message.
    ///
    /// ```
    /// use konditions_core::{Status, Verdict};
    /// let v = Verdict::new(Status::True, "Deployed");
    /// assert!(v.message.is_empty());
    /// ```
    pub fn new(status: S, reason: impl Into<Cow<'a, str>>) -> Self {
        Self {
            status,
            reason: reason.into(),
            message: Cow::Borrowed(""),
        }
    }

    /// The same verdict with `message`.
    ///
    /// ```
    /// use konditions_core::{Status, Verdict};
    /// let v = Verdict::new(Status::Unknown, "Probing").message("waiting for the first probe");
    /// assert_eq!(v.message, "waiting for the first probe");
    /// ```
    #[must_use]
    pub fn message(mut self, message: impl Into<Cow<'a, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// A verdict with the status set's `TRUE` (`True`, or `Completed` for
    /// konditionner's set).
    ///
    /// ```
    /// use konditions_core::{KonditionnerStatus, Verdict};
    /// let v = Verdict::<KonditionnerStatus>::succeeded("Done");
    /// assert_eq!(v.status, KonditionnerStatus::Completed);
    /// ```
    pub fn succeeded(reason: impl Into<Cow<'a, str>>) -> Self {
        Self::new(S::TRUE, reason)
    }

    /// A verdict with the status set's `FALSE` (`False`, or `Error`).
    ///
    /// ```
    /// use konditions_core::{Status, Verdict};
    /// assert_eq!(Verdict::<Status>::failed("QuotaExceeded").status, Status::False);
    /// ```
    pub fn failed(reason: impl Into<Cow<'a, str>>) -> Self {
        Self::new(S::FALSE, reason)
    }

    /// The same verdict owning its text, to keep it beyond `'a` (for
    /// example to return it from a task).
    ///
    /// ```
    /// use konditions_core::{Status, Verdict};
    /// let reason = String::from("Ok");
    /// let v: Verdict<'static> = Verdict::new(Status::True, reason.as_str()).into_owned();
    /// drop(reason);
    /// assert_eq!(v.reason, "Ok");
    /// ```
    pub fn into_owned(self) -> Verdict<'static, S> {
        Verdict {
            status: self.status,
            reason: Cow::Owned(self.reason.into_owned()),
            message: Cow::Owned(self.message.into_owned()),
        }
    }

    /// The same verdict borrowing this one's text.
    ///
    /// ```
    /// use konditions_core::{Status, Verdict};
    /// let v = Verdict::new(Status::True, String::from("Ok"));
    /// assert_eq!(v.borrowed(), v);
    /// ```
    pub fn borrowed(&self) -> Verdict<'_, S> {
        Verdict {
            status: self.status.clone(),
            reason: Cow::Borrowed(&self.reason),
            message: Cow::Borrowed(&self.message),
        }
    }
}

impl<S: ConditionStatus> fmt::Display for Verdict<'_, S> {
    /// `Status (Reason): message`, without the `: message` when it is empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.status.as_str(), self.reason)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}
