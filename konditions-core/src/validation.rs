//! Run-time checks of the `metav1.Condition` field rules: the same patterns
//! and lengths the API server enforces, so a bad reason is a typed error at
//! the call site instead of a 422 at the end of a reconcile.
//!
//! The rules are konditions-rules', the crate the derive checks declarations
//! with at compile time: one matcher per pattern, next to the pattern the
//! CRD schema gives the API server. They never allocate:
//! [`Conditions::set`](crate::Conditions::set) stays allocation-free.

use crate::ConditionError;

/// Longest `type` accepted by `metav1.Condition` (253-byte prefix, `/`, 62-byte name).
pub const MAX_TYPE_LEN: usize = konditions_rules::MAX_TYPE_LEN;
/// Longest `reason` accepted by `metav1.Condition`.
pub const MAX_REASON_LEN: usize = konditions_rules::MAX_REASON_LEN;
/// Longest `message` accepted by `metav1.Condition`, in characters.
pub const MAX_MESSAGE_LEN: usize = konditions_rules::MAX_MESSAGE_LEN;

/// `metav1.Condition`'s `type` pattern:
/// `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`.
pub const TYPE_PATTERN: &str = konditions_rules::TYPE_PATTERN;
/// `metav1.Condition`'s `reason` pattern.
pub const REASON_PATTERN: &str = konditions_rules::REASON_PATTERN;

/// Checks a condition type against [`TYPE_PATTERN`] and [`MAX_TYPE_LEN`].
///
/// ```
/// use konditions_core::validation::validate_type;
/// assert!(validate_type("Ready").is_ok());
/// assert!(validate_type("example.com/DatabaseReady").is_ok());
/// assert!(validate_type("Not Ready").is_err());
/// assert!(validate_type("Example.com/Ready").is_err()); // the prefix is lower case
/// ```
pub fn validate_type(type_: &str) -> Result<(), ConditionError> {
    konditions_rules::check_type(type_).map_err(|problem| ConditionError::InvalidType {
        type_: type_.to_owned(),
        problem: problem.summary(),
    })
}

/// Checks a reason against [`REASON_PATTERN`], non-empty and at most [`MAX_REASON_LEN`].
///
/// ```
/// use konditions_core::validation::validate_reason;
/// assert!(validate_reason("MinimumReplicasUnavailable").is_ok());
/// assert!(validate_reason("").is_err());
/// assert!(validate_reason("has spaces").is_err());
/// assert!(validate_reason("Trailing:").is_err());
/// ```
pub fn validate_reason(reason: &str) -> Result<(), ConditionError> {
    konditions_rules::check_reason(reason).map_err(|problem| ConditionError::InvalidReason {
        reason: reason.to_owned(),
        problem: problem.summary(),
    })
}

/// Checks that a message is at most [`MAX_MESSAGE_LEN`] characters.
///
/// ```
/// use konditions_core::validation::validate_message;
/// assert!(validate_message("all good").is_ok());
/// assert!(validate_message(&"x".repeat(32769)).is_err());
/// ```
pub fn validate_message(message: &str) -> Result<(), ConditionError> {
    konditions_rules::check_message(message)
        .map_err(|too_long| ConditionError::MessageTooLong { len: too_long.len })
}

/// All three checks, in wire order.
pub(crate) fn validate(type_: &str, reason: &str, message: &str) -> Result<(), ConditionError> {
    validate_type(type_)?;
    validate_reason(reason)?;
    validate_message(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Which types and reasons are valid is konditions-rules' table
    // (konditions-rules/cases/metav1.rs), run here against the API server in
    // tests/apiserver_conditions.rs. These tests pin what the errors carry.

    #[test]
    fn an_invalid_type_is_returned_with_its_problem() {
        assert_eq!(
            validate_type("Ex.com/Ready"),
            Err(ConditionError::InvalidType {
                type_: "Ex.com/Ready".to_owned(),
                problem: "the prefix before `/` must be a lower-case DNS subdomain",
            })
        );
        let long = format!("{}/{}", "a".repeat(253), "B".repeat(63));
        assert_eq!(long.len(), MAX_TYPE_LEN + 1);
        assert!(matches!(
            validate_type(&long),
            Err(ConditionError::InvalidType {
                problem: "longer than 316 characters",
                ..
            })
        ));
    }

    #[test]
    fn an_invalid_reason_is_returned_with_its_problem() {
        assert_eq!(
            validate_reason("End:"),
            Err(ConditionError::InvalidReason {
                reason: "End:".to_owned(),
                problem: "must end with a letter, a digit or `_`",
            })
        );
        assert!(validate_reason(&"A".repeat(MAX_REASON_LEN)).is_ok());
        assert!(matches!(
            validate_reason(&"A".repeat(MAX_REASON_LEN + 1)),
            Err(ConditionError::InvalidReason {
                problem: "longer than 1024 characters",
                ..
            })
        ));
    }

    #[test]
    fn messages_count_characters_not_bytes() {
        assert!(validate_message(&"é".repeat(MAX_MESSAGE_LEN)).is_ok());
        assert_eq!(
            validate_message(&"é".repeat(MAX_MESSAGE_LEN + 1)),
            Err(ConditionError::MessageTooLong {
                len: MAX_MESSAGE_LEN + 1
            })
        );
    }

    #[test]
    fn validate_checks_type_then_reason_then_message() {
        assert!(matches!(
            validate("bad type", "bad reason", ""),
            Err(ConditionError::InvalidType { .. })
        ));
        assert!(matches!(
            validate("Ready", "bad reason", ""),
            Err(ConditionError::InvalidReason { .. })
        ));
        assert!(validate("Ready", "Fine", "").is_ok());
    }
}
