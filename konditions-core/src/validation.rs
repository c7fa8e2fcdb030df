//! Run-time checks of the `metav1.Condition` field rules: the same patterns
//! and lengths the API server enforces, so a bad reason is a typed error at
//! the call site instead of a 422 at the end of a reconcile.
//!
//! Hand-written matchers rather than a regex engine: the patterns are tiny,
//! and [`Conditions::set`](crate::Conditions::set) must stay allocation-free.

use crate::ConditionError;

/// Longest `type` accepted by `metav1.Condition` (253-byte prefix, `/`, 62-byte name).
pub const MAX_TYPE_LEN: usize = 316;
/// Longest `reason` accepted by `metav1.Condition`.
pub const MAX_REASON_LEN: usize = 1024;
/// Longest `message` accepted by `metav1.Condition`, in characters.
pub const MAX_MESSAGE_LEN: usize = 32768;

/// `metav1.Condition`'s `type` pattern:
/// `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`.
pub const TYPE_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";
/// `metav1.Condition`'s `reason` pattern.
pub const REASON_PATTERN: &str = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";

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
    let problem = if type_.len() > MAX_TYPE_LEN {
        Some("longer than 316 characters")
    } else {
        let (prefix, name) = match type_.split_once('/') {
            Some((prefix, name)) => (Some(prefix), name),
            None => (None, type_),
        };
        if prefix.is_some_and(|p| !p.split('.').all(is_dns_label)) {
            Some("the prefix before `/` must be a lower-case DNS subdomain")
        } else if !is_qualified_name(name) {
            Some("the name must be alphanumeric (`-`, `_`, `.` allowed inside), e.g. `Ready`")
        } else {
            None
        }
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(ConditionError::InvalidType {
            type_: type_.to_owned(),
            problem,
        }),
    }
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
    let bytes = reason.as_bytes();
    let problem = match bytes {
        [] => Some("a reason is required"),
        _ if bytes.len() > MAX_REASON_LEN => Some("longer than 1024 characters"),
        [first, ..] if !first.is_ascii_alphabetic() => Some("must start with a letter"),
        [.., last] if !(last.is_ascii_alphanumeric() || *last == b'_') => {
            Some("must end with a letter, a digit or `_`")
        }
        _ if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b',' | b':')) =>
        {
            Some("only letters, digits, `_`, `,` and `:` are allowed (CamelCase, e.g. `PodsReady`)")
        }
        _ => None,
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(ConditionError::InvalidReason {
            reason: reason.to_owned(),
            problem,
        }),
    }
}

/// Checks that a message is at most [`MAX_MESSAGE_LEN`] characters.
///
/// ```
/// use konditions_core::validation::validate_message;
/// assert!(validate_message("all good").is_ok());
/// assert!(validate_message(&"x".repeat(32769)).is_err());
/// ```
pub fn validate_message(message: &str) -> Result<(), ConditionError> {
    // Byte length bounds the character count: skip counting in the common case.
    if message.len() <= MAX_MESSAGE_LEN {
        return Ok(());
    }
    let len = message.chars().count();
    if len <= MAX_MESSAGE_LEN {
        Ok(())
    } else {
        Err(ConditionError::MessageTooLong { len })
    }
}

/// All three checks, in wire order.
pub(crate) fn validate(type_: &str, reason: &str, message: &str) -> Result<(), ConditionError> {
    validate_type(type_)?;
    validate_reason(reason)?;
    validate_message(message)
}

fn is_dns_label(label: &str) -> bool {
    let b = label.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match b {
        [] => false,
        [only] => edge(only),
        [first, inner @ .., last] => {
            edge(first) && edge(last) && inner.iter().all(|c| edge(c) || *c == b'-')
        }
    }
}

fn is_qualified_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b {
        [] => false,
        [only] => only.is_ascii_alphanumeric(),
        [first, inner @ .., last] => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && inner
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        for ok in [
            "Ready",
            "A",
            "a1",
            "my-thing_v2.ok",
            "example.com/Ready",
            "a/B",
            "x-1.y/Z",
        ] {
            assert!(validate_type(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-Ready",
            "Ready-",
            "Re ady",
            "/Ready",
            "Ex.com/Ready",
            "a./B",
            "a//B",
            "a/B/C",
            "é",
        ] {
            assert!(validate_type(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}/{}", "a".repeat(253), "B".repeat(63));
        assert_eq!(long.len(), 317);
        assert!(validate_type(&long).is_err());
    }

    #[test]
    fn reasons() {
        for ok in ["A", "Ok", "Some_Reason", "A,B:C", "x9", "Trailing_"] {
            assert!(validate_reason(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "9Lives", "_x", "a b", "End,", "End:", "Ünicode", "dash-ed",
        ] {
            assert!(validate_reason(bad).is_err(), "{bad:?}");
        }
        assert!(validate_reason(&"A".repeat(1024)).is_ok());
        let err = validate_reason(&"A".repeat(1025)).unwrap_err();
        assert!(matches!(err, ConditionError::InvalidReason { .. }));
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
}
