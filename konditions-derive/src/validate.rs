//! Checks of a declaration against `metav1.Condition` and the Kubernetes API
//! conventions for conditions.
//!
//! - A type matches the `metav1.Condition` type pattern and is at most 316
//!   characters long (the API server rejects anything else).
//! - The name (after an optional `example.com/` prefix) is CamelCase.
//! - Conditions describe a state, not a state machine: progressive names
//!   (`Deploying`) are rejected unless opted out with `allow_progressive`.
//! - Names avoid double negatives: negated names (`NotReady`, `Unready`,
//!   `NoErrors`) are rejected unless opted out with `allow_negated`.
//! - No two types share a wire name or a variant; the summary is positive;
//!   dependents are declared types other than the summary, each given once.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::ext::IdentExt;

use crate::attr::{ResourceAttrs, TypeDecl};
use crate::diag::{self, Errors};

/// The maximum length of a condition type (`metav1.Condition`).
const MAX_TYPE_LEN: usize = 316;

/// Words ending in "-ing" that are not progressive verb forms.
const NOT_PROGRESSIVE: &[&str] = &[
    "Anything",
    "Bring",
    "Ceiling",
    "Everything",
    "King",
    "Missing",
    "Nothing",
    "Ping",
    "Ring",
    "Sibling",
    "Something",
    "Spring",
    "String",
    "Thing",
    "Wing",
];

/// Words starting with "Un" that are not a negation.
const NOT_NEGATED: &[&str] = &[
    "Unicast",
    "Unicode",
    "Unified",
    "Uniform",
    "Union",
    "Unique",
    "Unison",
    "Unit",
    "United",
    "Units",
    "Unity",
    "Universal",
    "Universe",
    "Unix",
    "Until",
];

/// A checked declaration: every type in declaration order, the summary
/// included.
pub(crate) struct Declaration {
    /// Every declared type.
    pub(crate) types: Vec<TypeDecl>,
    /// Index of the summary in `types`.
    pub(crate) summary: Option<usize>,
    /// Indices of the dependents in `types`, when given explicitly.
    pub(crate) dependents: Option<Vec<usize>>,
}

/// Checks the declaration of a resource. Returns `None` when it declares no
/// condition type (no `types(...)`, no `summary`).
pub(crate) fn declaration(attrs: ResourceAttrs, errors: &mut Errors) -> Option<Declaration> {
    let ResourceAttrs {
        types,
        summary,
        dependents,
        enum_name,
        ..
    } = attrs;
    if types.is_none() && summary.is_none() {
        if let Some((span, _)) = &dependents {
            errors.push(diag::error(
                *span,
                "`dependents` without a summary",
                "dependents are the conditions a summary is computed from: add `summary = Ready`",
            ));
        }
        if let Some(name) = &enum_name {
            errors.push(diag::error(
                name.span(),
                "`enum_name` without condition types",
                "declare the types the enum holds: `types(TableReady, RowWritten)`",
            ));
        }
        return None;
    }

    if let Some((span, types)) = &types
        && types.is_empty()
        && summary.is_none()
    {
        errors.push(diag::error(
            *span,
            "`types()` declares no condition type",
            "list the condition types of the resource: `types(TableReady, RowWritten)`",
        ));
        return None;
    }

    let mut all: Vec<TypeDecl> = types.map(|(_, types)| types).unwrap_or_default();
    let summary_index = summary.map(|summary| {
        let name = summary.unraw().to_string();
        match all.iter().position(|t| t.ident.unraw() == name) {
            Some(index) => index,
            None => {
                // The summary is declared by `summary = Name` alone: it comes
                // first, as `kubectl` users expect `Ready` to.
                all.insert(0, TypeDecl::plain(summary));
                0
            }
        }
    });

    for decl in &all {
        check_name(decl, errors);
    }
    check_duplicates(&all, errors);

    if let Some(index) = summary_index
        && let Some(span) = all[index].negative
    {
        errors.push(diag::error(
            span,
            format_args!(
                "the summary condition `{}` cannot be negative",
                all[index].wire
            ),
            "a summary is True when every dependent is in its good state: remove `negative`",
        ));
    }

    let dependents = dependents.map(|(span, names)| {
        let Some(summary_index) = summary_index else {
            errors.push(diag::error(
                span,
                "`dependents` without a summary",
                "dependents are the conditions a summary is computed from: add `summary = Ready`",
            ));
            return Vec::new();
        };
        let mut indices = Vec::new();
        for name in names {
            let text = name.unraw().to_string();
            match all.iter().position(|t| t.ident.unraw() == text) {
                None => errors.push(diag::error(
                    name.span(),
                    format_args!("`{text}` is not a declared condition type"),
                    "list it in `types(...)`, or remove it from `dependents(...)`",
                )),
                Some(index) if index == summary_index => errors.push(diag::error(
                    name.span(),
                    format_args!("the summary `{text}` cannot depend on itself"),
                    "remove it from `dependents(...)`",
                )),
                Some(index) if indices.contains(&index) => errors.push(diag::error(
                    name.span(),
                    format_args!("duplicate dependent `{text}`"),
                    "list each dependent once",
                )),
                Some(index) => indices.push(index),
            }
        }
        indices
    });

    Some(Declaration {
        types: all,
        summary: summary_index,
        dependents,
    })
}

/// Checks one wire name against the pattern and the conventions.
fn check_name(decl: &TypeDecl, errors: &mut Errors) {
    let wire = decl.wire.as_str();
    let span = decl.wire_span;
    let rename_hint = if decl.renamed {
        String::new()
    } else {
        format!(
            ", or give the wire name explicitly: `{}(rename = \"...\")`",
            decl.ident.unraw()
        )
    };

    if wire.len() > MAX_TYPE_LEN {
        errors.push(diag::error(
            span,
            format_args!(
                "condition type `{}...` is {} characters long; `metav1.Condition` allows at most {MAX_TYPE_LEN}",
                truncate(wire, 40),
                wire.len()
            ),
            format_args!("use a shorter name{rename_hint}"),
        ));
        return;
    }
    if let Err(problem) = check_pattern(wire) {
        errors.push(diag::error(
            span,
            format_args!("`{wire}` is not a valid condition type: {problem}"),
            format_args!(
                "a condition type is `CamelCase` or `example.com/CamelCase` (pattern of `metav1.Condition`: an optional lowercase DNS prefix and `/`, then ASCII letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit){rename_hint}"
            ),
        ));
        return;
    }
    let name = wire.rsplit('/').next().unwrap_or(wire);
    if !is_camel_case(name) {
        errors.push(diag::error(
            span,
            format_args!("condition type `{wire}` is not CamelCase"),
            format_args!(
                "the API conventions name condition types in CamelCase (`TableReady`): write `{}`",
                to_camel_case(name)
            ),
        ));
        return;
    }
    let words = camel_words(name);
    if !decl.allow_progressive
        && let Some(word) = progressive_word(&words)
    {
        errors.push(diag::error(
                span,
                format_args!(
                    "condition type `{wire}` is progressive (\"{word}\"): conditions describe a state, not a step of a state machine"
                ),
                format_args!(
                    "name the state reached, as an adjective or in the past tense (`Available`, `Deployed`, `Succeeded`); if `{wire}` is established API, keep it with `{}(allow_progressive)`",
                    decl.ident.unraw()
                ),
            ));
    }
    if !decl.allow_negated
        && let Some(positive) = negation(&words)
    {
        let positive = match positive {
            Some(positive) => format!("name the positive state (`{positive}`)"),
            None => "name the positive state".to_owned(),
        };
        errors.push(diag::error(
                span,
                format_args!(
                    "condition type `{wire}` is negated: `{wire}=False` is a double negative"
                ),
                format_args!(
                    "{positive} and report it `False` when it does not hold; if `{wire}` is established API, keep it with `{}(allow_negated)`",
                    decl.ident.unraw()
                ),
            ));
    }
}

/// Rejects two types with one wire name, or one variant name.
fn check_duplicates(types: &[TypeDecl], errors: &mut Errors) {
    let mut wires: HashMap<&str, Span> = HashMap::new();
    let mut variants: HashMap<String, Span> = HashMap::new();
    for decl in types {
        if wires.insert(decl.wire.as_str(), decl.wire_span).is_some() {
            errors.push(diag::error(
                decl.wire_span,
                format_args!("condition type `{}` is declared twice", decl.wire),
                "declare each condition type once",
            ));
            continue;
        }
        let variant = decl.ident.unraw().to_string();
        if variants
            .insert(variant.clone(), decl.ident.span())
            .is_some()
        {
            errors.push(diag::error(
                decl.ident.span(),
                format_args!("variant `{variant}` is declared twice (with different wire names)"),
                "give each condition type its own identifier",
            ));
        }
    }
}

/// Checks the `metav1.Condition` type pattern
/// `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`.
fn check_pattern(wire: &str) -> Result<(), String> {
    let (prefix, name) = match wire.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, wire),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("the prefix before `/` is empty".to_owned());
        }
        for label in prefix.split('.') {
            let ok = !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(format!(
                    "the prefix `{prefix}` is not a lowercase DNS subdomain (label `{label}`)"
                ));
            }
        }
    }
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("it contains {bad:?}"));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err("the name must start and end with a letter or digit".to_owned());
    }
    Ok(())
}

/// CamelCase: an uppercase ASCII letter, then ASCII letters and digits.
fn is_camel_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `table_ready` / `table-ready` / `tableReady` -> `TableReady`.
fn to_camel_case(name: &str) -> String {
    name.split(['_', '-', '.'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The words of a CamelCase name: `TLSCertReady` -> `TLS`, `Cert`, `Ready`.
fn camel_words(name: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = name.char_indices().collect();
    let mut words = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (at, c) = chars[i];
        let prev = chars[i - 1].1;
        let next_lower = chars
            .get(i + 1)
            .is_some_and(|(_, n)| n.is_ascii_lowercase());
        let boundary = c.is_ascii_uppercase()
            && (prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower));
        if boundary {
            words.push(&name[start..at]);
            start = at;
        }
    }
    words.push(&name[start..]);
    words
}

/// The progressive word of a name: its last word, when it is an "-ing" verb
/// form (`Deploying`, `ImagePulling`).
fn progressive_word<'a>(words: &[&'a str]) -> Option<&'a str> {
    let last = *words.last()?;
    let progressive = last.len() > 4 && last.ends_with("ing") && !NOT_PROGRESSIVE.contains(&last);
    progressive.then_some(last)
}

/// Whether a name is negated (`NotReady`, `NoErrors`, `NonCompliant`,
/// `Unready`). The inner `Option` is the positive name, when it can be
/// derived by dropping the negation.
fn negation(words: &[&str]) -> Option<Option<String>> {
    let first = *words.first()?;
    let rest: String = words[1..].concat();
    match first {
        "Not" | "Non" | "Never" if !rest.is_empty() => Some(Some(rest)),
        "No" if !rest.is_empty() => Some(None),
        _ if first.len() > 4
            && first.starts_with("Un")
            && first[2..].starts_with(|c: char| c.is_ascii_lowercase())
            && !first.starts_with("Under")
            && !NOT_NEGATED.contains(&first) =>
        {
            let positive = first[2..3].to_ascii_uppercase() + &first[3..] + &rest;
            Some(Some(positive))
        }
        _ => None,
    }
}

/// At most `max` characters of `s`.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_accepts_metav1_types() {
        for ok in [
            "Ready",
            "A",
            "Ready2",
            "example.com/Ready",
            "a-b.c/X_y.z-1",
            "9Lives",
        ] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn pattern_rejects_invalid_types() {
        for bad in [
            "",
            "_Ready",
            "Ready_",
            "Ready Now",
            "Prêt",
            "/Ready",
            "Example.com/Ready",
            "-a.com/Ready",
            "a..b/Ready",
            "example.com/",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_camel_case_words() {
        assert_eq!(camel_words("TLSCertReady"), ["TLS", "Cert", "Ready"]);
        assert_eq!(camel_words("NotReady"), ["Not", "Ready"]);
        assert_eq!(camel_words("Ready"), ["Ready"]);
        assert_eq!(camel_words("Http2Enabled"), ["Http2", "Enabled"]);
    }

    #[test]
    fn detects_progressive_names_by_last_word() {
        assert_eq!(
            progressive_word(&camel_words("Deploying")),
            Some("Deploying")
        );
        assert_eq!(
            progressive_word(&camel_words("ImagePulling")),
            Some("Pulling")
        );
        assert_eq!(progressive_word(&camel_words("ScalingActive")), None);
        assert_eq!(
            progressive_word(&camel_words("ConnectionStringValid")),
            None
        );
        assert_eq!(progressive_word(&camel_words("ConfigMissing")), None);
        assert_eq!(progressive_word(&camel_words("Ring")), None);
    }

    #[test]
    fn detects_negated_names_by_first_word() {
        assert_eq!(
            negation(&camel_words("NotReady")),
            Some(Some("Ready".to_owned()))
        );
        assert_eq!(
            negation(&camel_words("Unready")),
            Some(Some("Ready".to_owned()))
        );
        assert_eq!(
            negation(&camel_words("NonCompliant")),
            Some(Some("Compliant".to_owned()))
        );
        assert_eq!(negation(&camel_words("NoErrors")), Some(None));
        for fine in [
            "NodeReady",
            "UniqueNames",
            "UnitTested",
            "Ready",
            "No",
            "Not",
            "Understood",
        ] {
            assert_eq!(negation(&camel_words(fine)), None, "{fine}");
        }
    }

    #[test]
    fn camel_case_check_and_fix() {
        assert!(is_camel_case("TableReady"));
        assert!(!is_camel_case("tableReady"));
        assert!(!is_camel_case("Table_Ready"));
        assert_eq!(to_camel_case("table_ready"), "TableReady");
        assert_eq!(to_camel_case("tableReady"), "TableReady");
    }
}
