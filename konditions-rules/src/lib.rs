//! The rules of `metav1.Condition`'s `type`, `reason` and `message`, and
//! kstatus' condition names, written once for konditions.
//!
//! konditions checks conditions in three places, and all three must say
//! what the API server says:
//!
//! - `#[derive(ConditionalResource)]` checks the declared types and stalled
//!   reasons at compile time;
//! - `konditions_core::Conditions::set` checks types and reasons at run
//!   time, so a bad reason is a typed error at the call site instead of a
//!   422 at the end of a reconcile;
//! - the CRD schema of `konditions_core::Conditions` gives the API server
//!   [`TYPE_PATTERN`], [`REASON_PATTERN`] and the length limits.
//!
//! The first two call [`check_type`] and [`check_reason`] of this crate; the
//! patterns sit next to them. One table of cases (`cases/metav1.rs` in this
//! crate's repository) is run against these checks, the derive's and the
//! API server's.
//!
//! The checks are hand-written matchers, not a regex engine: the patterns
//! are tiny, the crate has no dependency (the derive's dependencies are
//! built for each of its users), and a check never allocates
//! (`Conditions::set` stays allocation-free).
//!
//! Users of konditions do not need this crate: konditions-core re-exports
//! the limits and patterns in `konditions_core::validation`.
//!
//! ```
//! use konditions_rules::{ReasonProblem, TypeProblem, check_reason, check_type};
//!
//! assert_eq!(check_type("example.com/DatabaseReady"), Ok(()));
//! assert_eq!(
//!     check_type("Example.com/Ready"),
//!     Err(TypeProblem::PrefixLabel { prefix: "Example.com", label: "Example" })
//! );
//! assert_eq!(check_reason("TableMissing"), Ok(()));
//! assert_eq!(check_reason("Trailing:"), Err(ReasonProblem::LastChar(':')));
//! ```

// No allocator needed, and none reachable: the tests alone use std.
#![cfg_attr(not(test), no_std)]

use core::fmt;

/// Longest `type` accepted by `metav1.Condition`, in characters (a
/// 253-character prefix, `/`, a 62-character name).
pub const MAX_TYPE_LEN: usize = 316;
/// Longest `reason` accepted by `metav1.Condition`, in characters.
pub const MAX_REASON_LEN: usize = 1024;
/// Longest `message` accepted by `metav1.Condition`, in characters.
pub const MAX_MESSAGE_LEN: usize = 32768;

/// `metav1.Condition`'s `type` pattern, as the CRD gives it to the API
/// server; [`check_type`] is its matcher.
pub const TYPE_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";
/// `metav1.Condition`'s `reason` pattern, as the CRD gives it to the API
/// server; [`check_reason`] is its matcher.
pub const REASON_PATTERN: &str = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";

pub mod kstatus {
    //! The condition names kstatus reads (Flux, kpt, Argo CD through the
    //! generated health script, `kubectl wait`).
    //!
    //! kstatus reads `Reconciling=True` as InProgress, `Stalled=True` as
    //! Failed, and `Ready` as the resource's health.

    /// The condition kstatus reads as the resource's health.
    pub const READY: &str = "Ready";
    /// `True` while the controller works on the current generation.
    pub const RECONCILING: &str = "Reconciling";
    /// `True` when progress needs a human.
    pub const STALLED: &str = "Stalled";
    /// The two conditions konditions' derive adds after the declared types,
    /// in that order (unless `kstatus = false`).
    pub const COMPUTED: [&str; 2] = [RECONCILING, STALLED];
}

/// Why a condition type does not match [`TYPE_PATTERN`] and
/// [`MAX_TYPE_LEN`]. [`fmt::Display`] says it in detail (the derive's
/// diagnostics); [`TypeProblem::summary`] in a fixed text (run-time
/// errors, which must not allocate to be built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypeProblem<'a> {
    /// Longer than [`MAX_TYPE_LEN`] characters.
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// A `/` with nothing before it.
    EmptyPrefix,
    /// A label of the prefix before `/` is not a lower-case DNS label.
    PrefixLabel {
        /// The prefix.
        prefix: &'a str,
        /// Its first label at fault.
        label: &'a str,
    },
    /// Nothing after the `/`, or an empty type.
    EmptyName,
    /// The name holds a character other than ASCII letters, digits, `-`,
    /// `_` and `.` (a second `/` included).
    NameChar(char),
    /// The name starts or ends with `-`, `_` or `.`.
    NameEdge,
}

impl TypeProblem<'_> {
    /// The problem in a fixed text, without the details.
    pub fn summary(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "longer than 316 characters",
            Self::EmptyPrefix | Self::PrefixLabel { .. } => {
                "the prefix before `/` must be a lower-case DNS subdomain"
            }
            Self::EmptyName | Self::NameChar(_) | Self::NameEdge => {
                "the name must be alphanumeric (`-`, `_`, `.` allowed inside), e.g. `Ready`"
            }
        }
    }
}

impl fmt::Display for TypeProblem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len } => write!(
                f,
                "it is {len} characters long; `metav1.Condition` allows at most {MAX_TYPE_LEN}"
            ),
            Self::EmptyPrefix => f.write_str("the prefix before `/` is empty"),
            Self::PrefixLabel { prefix, label } => write!(
                f,
                "the prefix `{prefix}` is not a lowercase DNS subdomain (label `{label}`)"
            ),
            Self::EmptyName => f.write_str("the name is empty"),
            Self::NameChar(c) => write!(f, "it contains {c:?}"),
            Self::NameEdge => f.write_str("the name must start and end with a letter or digit"),
        }
    }
}

/// Checks a condition type against [`TYPE_PATTERN`] and [`MAX_TYPE_LEN`]:
/// `Ok` exactly when the API server accepts it.
///
/// ```
/// use konditions_rules::{TypeProblem, check_type};
/// assert_eq!(check_type("Ready"), Ok(()));
/// assert_eq!(check_type("Not Ready"), Err(TypeProblem::NameChar(' ')));
/// assert_eq!(check_type("example.com/"), Err(TypeProblem::EmptyName));
/// ```
pub fn check_type(type_: &str) -> Result<(), TypeProblem<'_>> {
    if let Some(len) = chars_over(type_, MAX_TYPE_LEN) {
        return Err(TypeProblem::TooLong { len });
    }
    let (prefix, name) = match type_.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, type_),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(TypeProblem::EmptyPrefix);
        }
        if let Some(label) = prefix.split('.').find(|label| !is_dns_label(label)) {
            return Err(TypeProblem::PrefixLabel { prefix, label });
        }
    }
    if name.is_empty() {
        return Err(TypeProblem::EmptyName);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(TypeProblem::NameChar(c));
    }
    let edge = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    if !(edge(name.as_bytes().first()) && edge(name.as_bytes().last())) {
        return Err(TypeProblem::NameEdge);
    }
    Ok(())
}

/// Why a reason does not match [`REASON_PATTERN`] and [`MAX_REASON_LEN`].
/// [`fmt::Display`] says it in detail, [`ReasonProblem::summary`] in a fixed
/// text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReasonProblem {
    /// An empty reason (the API server requires one).
    Empty,
    /// Longer than [`MAX_REASON_LEN`] characters.
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// The first character is not an ASCII letter.
    FirstNotLetter,
    /// A character other than ASCII letters, digits, `_`, `,` and `:`.
    Char(char),
    /// The last character is `,` or `:`.
    LastChar(char),
}

impl ReasonProblem {
    /// The problem in a fixed text, without the details.
    pub fn summary(&self) -> &'static str {
        match self {
            Self::Empty => "a reason is required",
            Self::TooLong { .. } => "longer than 1024 characters",
            Self::FirstNotLetter => "must start with a letter",
            Self::Char(_) => {
                "only letters, digits, `_`, `,` and `:` are allowed (CamelCase, e.g. `PodsReady`)"
            }
            Self::LastChar(_) => "must end with a letter, a digit or `_`",
        }
    }
}

impl fmt::Display for ReasonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a reason is required"),
            Self::TooLong { len } => write!(
                f,
                "it is {len} characters long; `metav1.Condition` allows at most {MAX_REASON_LEN}"
            ),
            Self::FirstNotLetter => f.write_str("a reason starts with a letter"),
            Self::Char(c) => write!(
                f,
                "it contains {c:?}; a reason is ASCII letters, digits, `_`, `,` and `:`"
            ),
            Self::LastChar(c) => write!(
                f,
                "it ends with {c:?}; a reason ends with a letter, a digit or `_`"
            ),
        }
    }
}

/// Checks a reason against [`REASON_PATTERN`], non-empty and at most
/// [`MAX_REASON_LEN`] characters: `Ok` exactly when the API server accepts
/// it.
///
/// ```
/// use konditions_rules::{ReasonProblem, check_reason};
/// assert_eq!(check_reason("MinimumReplicasUnavailable"), Ok(()));
/// assert_eq!(check_reason(""), Err(ReasonProblem::Empty));
/// assert_eq!(check_reason("has spaces"), Err(ReasonProblem::Char(' ')));
/// ```
pub fn check_reason(reason: &str) -> Result<(), ReasonProblem> {
    if reason.is_empty() {
        return Err(ReasonProblem::Empty);
    }
    if let Some(len) = chars_over(reason, MAX_REASON_LEN) {
        return Err(ReasonProblem::TooLong { len });
    }
    if !reason.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(ReasonProblem::FirstNotLetter);
    }
    if let Some(c) = reason
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | ',' | ':')))
    {
        return Err(ReasonProblem::Char(c));
    }
    match reason.chars().next_back() {
        Some(last @ (',' | ':')) => Err(ReasonProblem::LastChar(last)),
        _ => Ok(()),
    }
}

/// A `message` longer than [`MAX_MESSAGE_LEN`] characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageTooLong {
    /// Its length in characters.
    pub len: usize,
}

impl fmt::Display for MessageTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it is {} characters long; `metav1.Condition` allows at most {MAX_MESSAGE_LEN}",
            self.len
        )
    }
}

/// Checks that a message is at most [`MAX_MESSAGE_LEN`] characters.
///
/// ```
/// use konditions_rules::{MessageTooLong, check_message};
/// assert_eq!(check_message("all good"), Ok(()));
/// assert_eq!(check_message(&"é".repeat(32769)), Err(MessageTooLong { len: 32769 }));
/// ```
pub fn check_message(message: &str) -> Result<(), MessageTooLong> {
    match chars_over(message, MAX_MESSAGE_LEN) {
        None => Ok(()),
        Some(len) => Err(MessageTooLong { len }),
    }
}

/// The length of `text` in characters, when that is over `max`. Counts only
/// when the byte length is over `max` (it bounds the character count), so
/// the common case costs nothing.
fn chars_over(text: &str, max: usize) -> Option<usize> {
    if text.len() <= max {
        return None;
    }
    let len = text.chars().count();
    (len > max).then_some(len)
}

/// A lower-case DNS label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_dns_label(label: &str) -> bool {
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match label.as_bytes() {
        [] => false,
        [only] => edge(only),
        [first, inner @ .., last] => {
            edge(first) && edge(last) && inner.iter().all(|c| edge(c) || *c == b'-')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod metav1_cases {
        include!("../cases/metav1.rs");
    }

    #[test]
    fn types_match_the_table() {
        for (type_, accepted) in metav1_cases::types() {
            let verdict = check_type(&type_);
            assert_eq!(verdict.is_ok(), accepted, "{type_:?}: {verdict:?}");
        }
    }

    #[test]
    fn reasons_match_the_table() {
        for (reason, accepted) in metav1_cases::reasons() {
            let verdict = check_reason(&reason);
            assert_eq!(verdict.is_ok(), accepted, "{reason:?}: {verdict:?}");
        }
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert_eq!(
            check_type(&"é".repeat(317)),
            Err(TypeProblem::TooLong { len: 317 })
        );
        assert_eq!(
            check_type(&"é".repeat(300)),
            Err(TypeProblem::NameChar('é'))
        );
        assert_eq!(
            check_reason(&"A".repeat(1025)),
            Err(ReasonProblem::TooLong { len: 1025 })
        );
        assert_eq!(check_message(&"é".repeat(MAX_MESSAGE_LEN)), Ok(()));
        assert_eq!(
            check_message(&"é".repeat(MAX_MESSAGE_LEN + 1)),
            Err(MessageTooLong {
                len: MAX_MESSAGE_LEN + 1
            })
        );
    }

    #[test]
    fn type_problems_name_the_part_at_fault() {
        let detail = |type_: &str| check_type(type_).unwrap_err().to_string();
        assert_eq!(detail("/Ready"), "the prefix before `/` is empty");
        assert_eq!(
            detail("a..b/Ready"),
            "the prefix `a..b` is not a lowercase DNS subdomain (label ``)"
        );
        assert_eq!(detail("example.com/"), "the name is empty");
        assert_eq!(detail("a/B/C"), "it contains '/'");
        assert_eq!(
            detail("Ready_"),
            "the name must start and end with a letter or digit"
        );
        assert_eq!(
            check_type("Ex.com/Ready").unwrap_err().summary(),
            "the prefix before `/` must be a lower-case DNS subdomain"
        );
    }

    #[test]
    fn reason_problems_name_the_character_at_fault() {
        let detail = |reason: &str| check_reason(reason).unwrap_err().to_string();
        assert_eq!(detail("_Gone"), "a reason starts with a letter");
        assert_eq!(
            detail("Aé"),
            "it contains 'é'; a reason is ASCII letters, digits, `_`, `,` and `:`"
        );
        assert_eq!(
            detail("End,"),
            "it ends with ','; a reason ends with a letter, a digit or `_`"
        );
        assert_eq!(
            check_reason("End:").unwrap_err().summary(),
            "must end with a letter, a digit or `_`"
        );
    }

    #[test]
    fn summaries_state_the_limits() {
        assert!(
            TypeProblem::TooLong { len: 0 }
                .summary()
                .contains(&MAX_TYPE_LEN.to_string())
        );
        assert!(
            ReasonProblem::TooLong { len: 0 }
                .summary()
                .contains(&MAX_REASON_LEN.to_string())
        );
    }
}
