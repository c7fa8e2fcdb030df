//! Kubernetes Events for condition transitions: what a controller records
//! for `kubectl describe` when a condition changes status.
//!
//! [`Change::event`] turns the [`Change`] a setter returned into a
//! [`TransitionEvent`]; with the `runtime` feature it converts into
//! kube-runtime's `Event` for its `Recorder`.

use crate::{Change, Condition, ConditionStatus, ConditionType};

/// The longest note the API server accepts on an Event (`events.k8s.io/v1`).
const MAX_NOTE_BYTES: usize = 1024;

/// Cuts `note` to the longest an Event accepts, at a character boundary.
pub(crate) fn fit_note(note: &mut String) {
    if note.len() > MAX_NOTE_BYTES {
        let mut end = MAX_NOTE_BYTES;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
}

/// Whether an Event reports something expected or something to look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The condition reached its good state.
    Normal,
    /// The condition left its good state, or is not known.
    Warning,
}

/// An Event describing a condition's transition.
///
/// ```
/// use konditions_core::{Change, Condition, Status, event::EventKind};
/// let at = "2024-05-01T10:00:00Z".parse().unwrap();
/// let ready: Condition = Condition::new("Ready".into(), Status::False, "TableMissing", "table students does not exist", at).unwrap();
/// let event = Change::Transitioned { from: Status::True }.event(&ready).unwrap();
/// assert_eq!(event.kind, EventKind::Warning);
/// assert_eq!(event.reason, "ReadyFalse");
/// assert_eq!(event.note, "Ready: True -> False (TableMissing): table students does not exist");
/// assert!(Change::<Status>::Updated.event(&ready).is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionEvent {
    /// Normal when the condition is in its good state, else Warning.
    pub kind: EventKind,
    /// `<Type><Status>`, e.g. `ReadyTrue`: CamelCase, as Event reasons are.
    pub reason: String,
    /// What changed, for people: `Ready: Unknown -> True (Reason): message`
    /// (`Ready: True (Reason)` for a new condition).
    pub note: String,
    /// What the controller was doing: `Reconcile`.
    pub action: String,
}

impl<S: ConditionStatus> Change<S> {
    /// The Event for this change of `condition` (the condition as set):
    /// `Some` when its status changed or it is new, `None` otherwise (a
    /// removed condition included).
    ///
    /// ```
    /// use konditions_core::{Conditions, Status, Verdict};
    /// let mut list = Conditions::<String>::default();
    /// let change = list.set(None, "Ready", Verdict::new(Status::True, "AsExpected")).unwrap();
    /// let event = change.event(list.find("Ready").unwrap()).unwrap();
    /// assert_eq!(event.reason, "ReadyTrue");
    /// assert_eq!(event.note, "Ready: True (AsExpected)");
    /// ```
    pub fn event<T: ConditionType>(&self, condition: &Condition<T, S>) -> Option<TransitionEvent> {
        let from = match self {
            Change::Transitioned { from } => Some(from.as_str()),
            Change::Added => None,
            // kstatus' abnormal-true conditions go away without an Event:
            // the summary's tells what happened.
            Change::Unchanged | Change::Updated | Change::Removed { .. } => return None,
        };
        let type_ = condition.type_.as_str();
        // `example.com/Ready` -> `Ready`: an Event reason is one identifier.
        let name = type_.rsplit('/').next().unwrap_or(type_);
        let reason: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .chain(condition.status.as_str().chars())
            .collect();
        let to = condition.status.as_str();
        let mut note = match from {
            Some(from) => format!("{type_}: {from} -> {to} ({})", condition.reason),
            None => format!("{type_}: {to} ({})", condition.reason),
        };
        if !condition.message.is_empty() {
            note.push_str(": ");
            note.push_str(&condition.message);
        }
        fit_note(&mut note);
        Some(TransitionEvent {
            kind: if condition.is_good() {
                EventKind::Normal
            } else {
                EventKind::Warning
            },
            reason,
            note,
            action: "Reconcile".to_owned(),
        })
    }
}

#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
impl From<TransitionEvent> for kube::runtime::events::Event {
    /// For kube-runtime's `Recorder::publish`.
    fn from(event: TransitionEvent) -> Self {
        use kube::runtime::events::EventType;
        kube::runtime::events::Event {
            type_: match event.kind {
                EventKind::Normal => EventType::Normal,
                EventKind::Warning => EventType::Warning,
            },
            reason: event.reason,
            note: Some(event.note),
            action: event.action,
            secondary: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn condition(type_: &str, status: Status, message: &str) -> Condition {
        Condition::new(
            type_.to_owned(),
            status,
            "Why",
            message,
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap()
    }

    #[test]
    fn prefixed_types_give_plain_reasons_and_long_notes_are_cut() {
        let c = condition("backup.example.com/Done", Status::True, &"é".repeat(2000));
        let event = Change::Transitioned {
            from: Status::Unknown,
        }
        .event(&c)
        .unwrap();
        assert_eq!(event.reason, "DoneTrue");
        assert_eq!(event.kind, EventKind::Normal);
        assert!(event.note.len() <= MAX_NOTE_BYTES);
        assert!(
            event
                .note
                .starts_with("backup.example.com/Done: Unknown -> True (Why): é")
        );
    }

    #[test]
    fn only_transitions_and_additions_make_events() {
        let c = condition("Ready", Status::Unknown, "");
        assert!(Change::<Status>::Unchanged.event(&c).is_none());
        assert!(Change::<Status>::Updated.event(&c).is_none());
        let added = Change::Added.event(&c).unwrap();
        assert_eq!(added.kind, EventKind::Warning);
        assert_eq!(added.note, "Ready: Unknown (Why)");
    }
}
