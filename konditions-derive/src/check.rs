//! Checks of what a derive was given, against `metav1.Condition` and the
//! Kubernetes API conventions for conditions; builds the checked form
//! ([`crate::ast`]) the generators read.
//!
//! One function per rule, as serde_derive's `check.rs`; [`resource`] runs
//! them in order.
//!
//! - A type matches the `metav1.Condition` type pattern and is at most 316
//!   characters long (the API server rejects anything else): the check of
//!   konditions-rules, which konditions-core runs at run time.
//! - The name (after an optional `example.com/` prefix) is CamelCase.
//! - Conditions describe a state, not a state machine: progressive names
//!   (`Deploying`) are rejected unless opted out with `allow_progressive`.
//! - Names avoid double negatives: negated names (`NotReady`, `Unready`,
//!   `NoErrors`) are rejected unless opted out with `allow_negated`.
//! - No two types share a wire name or a variant; the summary is positive
//!   and not `lock`; dependents are declared types other than the summary,
//!   each given once.
//! - kstatus (`kstatus = true`, the default): `Reconciling` and `Stalled`
//!   are added by the derive, so a declaration may not name them; they are
//!   never dependents. `stalled_reasons` are metav1 reasons in CamelCase,
//!   each given once, and need kstatus and declared types.
//! - At most one type is `paused` and one `deleting`; neither is the
//!   summary, `lock`, or both at once. Both are negative (True is the
//!   abnormal state, as for kstatus' conditions).
//!
//! A new rule is a function here, called from [`declaration`] (or from
//! [`type_name`] for a rule about one name).

use std::collections::HashSet;

use konditions_rules::{MAX_REASON_LEN, MAX_TYPE_LEN, ReasonProblem, TypeProblem, kstatus};
use proc_macro2::Span;
use quote::format_ident;
use syn::Ident;
use syn::ext::IdentExt;

use crate::ast::{self, ConditionEnum, ConditionTypeSource, Declaration, DeprecatedKey, Paths};
use crate::diag::{self, Errors, did_you_mean};
use crate::parse::{self, Dependents, Flag, ResourceAttrs, StalledReasons, TypeDecl, Types};

/// Checks what `#[derive(ConditionalResource)]` was given: its checked
/// form, complete enough to generate code that compiles even when a check
/// failed (the errors are in `errors`).
pub(crate) fn resource(parsed: parse::Resource<'_>, errors: &Errors) -> ast::Resource {
    let parse::Resource {
        vis,
        attrs,
        kind,
        root,
    } = parsed;
    let paths = Paths::new(
        attrs.krate.as_ref(),
        attrs.serde.as_ref().map(|(_, path)| path),
        attrs.schemars.as_ref().map(|(_, path)| path),
    );
    let deprecated = deprecated_keys(&attrs);
    let enum_name = attrs.enum_name.clone().or_else(|| {
        let kind = kind.as_ref()?;
        Some(format_ident!("{}Condition", kind.name, span = kind.span))
    });
    let condition_type = match (declaration(attrs, errors), enum_name) {
        (Some(declaration), Some(name)) => {
            ConditionTypeSource::Generated(Box::new(ConditionEnum {
                kind: kind.map_or_else(|| name.to_string(), |kind| kind.name),
                name,
                vis: vis.clone(),
                declaration,
            }))
        }
        // Types are declared, but the kind that names their enum is not
        // known (reported by `parse`).
        (Some(_), None) => ConditionTypeSource::Unnamed,
        (None, _) => ConditionTypeSource::OfStatus,
    };
    ast::Resource {
        paths,
        deprecated,
        condition_type,
        root,
    }
}

/// Checks what `#[derive(ConditionalStatus)]` was given (its fields were
/// checked as they were found): `None` without a conditions field, which
/// is reported.
pub(crate) fn status(parsed: parse::Status<'_>) -> Option<ast::Status<'_>> {
    Some(ast::Status {
        input: parsed.input,
        krate: Paths::core(parsed.krate.as_ref()),
        conditions: parsed.conditions?,
        observed_generation: parsed.observed_generation,
    })
}

/// `serde = "..."` and `schemars = "..."`: the generated code reaches both
/// through konditions-core, so the keys have no use left.
fn deprecated_keys(attrs: &ResourceAttrs) -> Vec<DeprecatedKey> {
    [(&attrs.serde, "serde"), (&attrs.schemars, "schemars")]
        .into_iter()
        .filter_map(|(given, key)| {
            let (span, _) = given.as_ref()?;
            Some(DeprecatedKey { span: *span, key })
        })
        .collect()
}

/// kstatus' conditions, which the derive adds after the declared types.
pub(crate) const KSTATUS_TYPES: [&str; 2] = kstatus::COMPUTED;

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

/// Checks the declaration of a resource. Returns `None` when it declares no
/// condition type (no `types(...)`, no `summary`).
fn declaration(attrs: ResourceAttrs, errors: &Errors) -> Option<Declaration> {
    let ResourceAttrs {
        types,
        summary,
        dependents,
        enum_name,
        kstatus,
        stalled_reasons,
        ..
    } = attrs;
    dependents_need_summary(dependents.as_ref(), summary.as_ref(), errors);
    if types.is_none() && summary.is_none() {
        enum_name_needs_types(enum_name.as_ref(), errors);
        kstatus_needs_types(kstatus, stalled_reasons.as_ref(), errors);
        return None;
    }
    types_not_empty(types.as_ref(), summary.as_ref(), errors);
    let kstatus = kstatus.is_none_or(|flag| flag.value);
    let stalled_reasons = stalled_reasons
        .map(|reasons| reason_names(&reasons, kstatus, errors))
        .unwrap_or_default();

    let mut all: Vec<TypeDecl> = types.map(|types| types.decls).unwrap_or_default();
    if let Some(summary) = &summary
        && !all.iter().any(|t| t.ident.unraw() == summary.unraw())
    {
        // The summary is declared by `summary = Name` alone: it comes
        // first, as `kubectl` users expect `Ready` to.
        all.insert(0, TypeDecl::plain(summary.clone()));
    }
    if kstatus {
        all = without_kstatus_types(all, errors);
    }
    for decl in &mut all {
        decl.name_reported = !type_name(decl, errors);
    }
    let mut all = declared_once(all, errors);

    let summary =
        summary.and_then(|summary| all.iter().position(|t| t.ident.unraw() == summary.unraw()));
    if let Some(index) = summary {
        summary_positive(&all[index], errors);
        summary_not_locked(&mut all[index], errors);
    }
    let dependents = dependents.zip(summary).map(|(dependents, summary)| {
        dependent_indices(&dependents, &all, summary, kstatus, errors)
    });
    let paused = marked_once(&mut all, summary, "paused", |t| &mut t.paused, errors);
    let deleting = marked_once(&mut all, summary, "deleting", |t| &mut t.deleting, errors);
    let kstatus = kstatus.then(|| {
        let first = all.len();
        all.extend(
            KSTATUS_TYPES.map(|name| TypeDecl::kstatus(Ident::new(name, Span::call_site()))),
        );
        [first, first + 1]
    });

    Some(Declaration {
        types: all,
        summary,
        dependents,
        kstatus,
        stalled_reasons,
        paused,
        deleting,
    })
}

/// The one type marked `option` (`paused`, `deleting`): not the summary,
/// not `lock`, not marked with the other option; a second one is reported
/// at its option and loses the mark. The type becomes negative.
fn marked_once(
    all: &mut [TypeDecl],
    summary: Option<usize>,
    option: &'static str,
    mark: fn(&mut TypeDecl) -> &mut Option<Span>,
    errors: &Errors,
) -> Option<usize> {
    let mut found: Option<usize> = None;
    for index in 0..all.len() {
        let Some(span) = *mark(&mut all[index]) else {
            continue;
        };
        let decl = &all[index];
        let problem = if let Some(first) = found {
            Some((
                format!(
                    "a second `{option}` type: `{}` is already `{option}`",
                    all[first].wire
                ),
                format!(
                    "one condition says it; remove `{option}` from `{}`",
                    decl.wire
                ),
            ))
        } else if summary == Some(index) {
            Some((
                format!("the summary condition `{}` cannot be `{option}`", decl.wire),
                format!(
                    "the summary is computed from the dependents: declare `{option}` on a type of its own, e.g. `types({}({option}))`",
                    if option == "paused" {
                        "Paused"
                    } else {
                        "Deleting"
                    }
                ),
            ))
        } else if decl.lock.is_some() {
            Some((
                format!("`{}` cannot be both `{option}` and `lock`", decl.wire),
                format!(
                    "the `{option}` condition is set by its helper and sent with server-side apply, the lock writes a task's condition: remove `lock`"
                ),
            ))
        } else if option == "deleting" && decl.paused.is_some() {
            Some((
                format!("`{}` cannot be both `paused` and `deleting`", decl.wire),
                "an object may be paused and being deleted at once: declare two types, `Paused(paused)` and `Deleting(deleting)`".to_owned(),
            ))
        } else {
            None
        };
        match problem {
            Some((message, help)) => {
                errors.push(diag::error(span, message, help));
                *mark(&mut all[index]) = None;
            }
            None => {
                found = Some(index);
                let decl = &mut all[index];
                decl.negative.get_or_insert(span);
            }
        }
    }
    found
}

/// `dependents(...)` needs `summary = ...`.
fn dependents_need_summary(
    dependents: Option<&Dependents>,
    summary: Option<&Ident>,
    errors: &Errors,
) {
    if let Some(dependents) = dependents
        && summary.is_none()
    {
        errors.push(diag::error(
            dependents.key,
            "`dependents` without a summary",
            "dependents are the conditions a summary is computed from: add `summary = Ready`",
        ));
    }
}

/// `enum_name = ...` needs condition types to name.
fn enum_name_needs_types(enum_name: Option<&Ident>, errors: &Errors) {
    if let Some(name) = enum_name {
        errors.push(diag::error(
            name.span(),
            "`enum_name` without condition types",
            "declare the types the enum holds: `types(TableReady, RowWritten)`",
        ));
    }
}

/// `kstatus` and `stalled_reasons` need condition types: without them no
/// enum is generated.
fn kstatus_needs_types(
    kstatus: Option<Flag>,
    stalled_reasons: Option<&StalledReasons>,
    errors: &Errors,
) {
    if let Some(flag) = kstatus {
        errors.push(diag::error(
            flag.key,
            "`kstatus` without condition types",
            "kstatus' `Reconciling` and `Stalled` are added to the generated enum: declare its types, `types(TableReady, RowWritten)`, or remove `kstatus`",
        ));
    }
    if let Some(reasons) = stalled_reasons {
        errors.push(diag::error(
            reasons.key,
            "`stalled_reasons` without condition types",
            "stalled reasons decide kstatus' `Stalled`, which the generated enum holds: declare its types, `types(TableReady, RowWritten)` and `summary = Ready`",
        ));
    }
}

/// The reasons of `stalled_reasons(...)` that are valid, each once.
/// Refused altogether with `kstatus = false`: nothing would read them.
fn reason_names(reasons: &StalledReasons, kstatus: bool, errors: &Errors) -> Vec<String> {
    if !kstatus {
        errors.push(diag::error(
            reasons.key,
            "`stalled_reasons` with `kstatus = false` does nothing",
            "stalled reasons decide kstatus' `Stalled` condition, which `kstatus = false` leaves out: remove `kstatus = false`, or remove `stalled_reasons(...)`",
        ));
        return Vec::new();
    }
    let mut names: Vec<String> = Vec::new();
    for name in &reasons.names {
        let text = name.unraw().to_string();
        if !valid_reason(name, &text, errors) {
            continue;
        }
        if names.contains(&text) {
            errors.push(diag::error(
                name.span(),
                format_args!("duplicate stalled reason `{text}`"),
                "list each reason once",
            ));
            continue;
        }
        names.push(text);
    }
    names
}

/// A reason is what `metav1.Condition` accepts (pattern
/// `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`, at most 1024 characters:
/// konditions-rules' check, the one konditions-core runs), and CamelCase
/// (API conventions), as the type names.
fn valid_reason(name: &Ident, text: &str, errors: &Errors) -> bool {
    if let Err(problem) = konditions_rules::check_reason(text) {
        let shown = match problem {
            ReasonProblem::TooLong { .. } => format!("{}...", truncate(text, 40)),
            _ => text.to_owned(),
        };
        errors.push(diag::error(
            name.span(),
            format_args!("`{shown}` is not a valid condition reason: {problem}"),
            format_args!(
                "{}: a reason matches `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$` (pattern of `metav1.Condition`) and is CamelCase (API conventions)",
                reason_fix(text, problem)
            ),
        ));
        return false;
    }
    if !is_camel_case(text) {
        errors.push(diag::error(
            name.span(),
            format_args!("stalled reason `{text}` is not CamelCase"),
            format_args!(
                "the API conventions write reasons in CamelCase, as the condition types: write `{}`",
                to_camel_case(text)
            ),
        ));
        return false;
    }
    true
}

/// How to write an invalid reason: its CamelCase form when that is valid.
fn reason_fix(text: &str, problem: ReasonProblem) -> String {
    if matches!(problem, ReasonProblem::TooLong { .. }) {
        return format!("shorten it to {MAX_REASON_LEN} characters or fewer");
    }
    let fixed = to_camel_case(text.trim_start_matches(|c: char| !c.is_ascii_alphabetic()));
    if is_camel_case(&fixed) && konditions_rules::check_reason(&fixed).is_ok() {
        format!("write `{fixed}`")
    } else {
        "write it in CamelCase ASCII, as `TableMissing`".to_owned()
    }
}

/// With kstatus on, the derive declares `Reconciling` and `Stalled`
/// itself: a type of the declaration with either name (as variant or on
/// the wire) is reported and left out.
fn without_kstatus_types(types: Vec<TypeDecl>, errors: &Errors) -> Vec<TypeDecl> {
    types
        .into_iter()
        .filter(|decl| {
            let variant = decl.name();
            let (name, span) = if KSTATUS_TYPES.contains(&variant.as_str()) {
                (variant, decl.ident.span())
            } else if KSTATUS_TYPES.contains(&decl.wire.as_str()) {
                (decl.wire.clone(), decl.wire_span)
            } else {
                return true;
            };
            errors.push(diag::error(
                span,
                format_args!("`{name}` is one of kstatus' conditions, which the derive adds itself"),
                format_args!(
                    "remove it from the declaration: the enum has `Reconciling` and `Stalled` after the declared types, computed by `update_summary` (not set by hand); or set `kstatus = false` to declare your own `{name}`"
                ),
            ));
            false
        })
        .collect()
}

/// `types()` with nothing in it, and no summary either, declares nothing.
fn types_not_empty(types: Option<&Types>, summary: Option<&Ident>, errors: &Errors) {
    if let Some(types) = types
        && types.empty
        && summary.is_none()
    {
        errors.push(diag::error(
            types.key,
            "`types()` declares no condition type",
            "list the condition types of the resource: `types(TableReady, RowWritten)`",
        ));
    }
}

/// The rules about one wire name; `false` when one failed. The first is
/// what the API server enforces; once it fails, the conventions after it
/// have nothing to say.
fn type_name(decl: &TypeDecl, errors: &Errors) -> bool {
    if !(metav1_type(decl, errors) && camel_case(decl, errors)) {
        return false;
    }
    let name = decl.wire.rsplit('/').next().unwrap_or(&decl.wire);
    let words = camel_words(name);
    // Both conventions are checked, so both problems are reported at once.
    let state = not_progressive(decl, &words, errors);
    not_negated(decl, &words, errors) && state
}

/// How to give a wire name explicitly, when the type does not already.
fn rename_hint(decl: &TypeDecl) -> String {
    if decl.renamed {
        String::new()
    } else {
        format!(
            ", or give the wire name explicitly: `{}(rename = \"...\")`",
            decl.name()
        )
    }
}

/// The type pattern and length of `metav1.Condition`: konditions-rules'
/// check, the one konditions-core runs.
fn metav1_type(decl: &TypeDecl, errors: &Errors) -> bool {
    let wire = decl.wire.as_str();
    let error = match konditions_rules::check_type(wire) {
        Ok(()) => return true,
        Err(TypeProblem::TooLong { len }) => diag::error(
            decl.wire_span,
            format_args!(
                "condition type `{}...` is {len} characters long; `metav1.Condition` allows at most {MAX_TYPE_LEN}",
                truncate(wire, 40),
            ),
            format_args!("use a shorter name{}", rename_hint(decl)),
        ),
        Err(problem) => diag::error(
            decl.wire_span,
            format_args!("`{wire}` is not a valid condition type: {problem}"),
            format_args!(
                "a condition type is `CamelCase` or `example.com/CamelCase` (pattern of `metav1.Condition`: an optional lowercase DNS prefix and `/`, then ASCII letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit){}",
                rename_hint(decl)
            ),
        ),
    };
    errors.push(error);
    false
}

/// The name after the prefix is CamelCase (API conventions).
fn camel_case(decl: &TypeDecl, errors: &Errors) -> bool {
    let wire = decl.wire.as_str();
    let name = wire.rsplit('/').next().unwrap_or(wire);
    if is_camel_case(name) {
        return true;
    }
    errors.push(diag::error(
        decl.wire_span,
        format_args!("condition type `{wire}` is not CamelCase"),
        format_args!(
            "the API conventions name condition types in CamelCase (`TableReady`): write `{}`",
            to_camel_case(name)
        ),
    ));
    false
}

/// A state, not a step of a state machine, unless `allow_progressive`.
fn not_progressive(decl: &TypeDecl, words: &[&str], errors: &Errors) -> bool {
    if decl.allow_progressive {
        return true;
    }
    let Some(word) = progressive_word(words) else {
        return true;
    };
    let wire = &decl.wire;
    errors.push(diag::error(
        decl.wire_span,
        format_args!(
            "condition type `{wire}` is progressive (\"{word}\"): conditions describe a state, not a step of a state machine"
        ),
        format_args!(
            "name the state reached, as an adjective or in the past tense (`Available`, `Deployed`, `Succeeded`); if `{wire}` is established API, keep it with `{}(allow_progressive)`",
            decl.name()
        ),
    ));
    false
}

/// No double negative, unless `allow_negated`.
fn not_negated(decl: &TypeDecl, words: &[&str], errors: &Errors) -> bool {
    if decl.allow_negated {
        return true;
    }
    let Some(positive) = negation(words) else {
        return true;
    };
    let wire = &decl.wire;
    let positive = match positive {
        Some(positive) => format!("name the positive state (`{positive}`)"),
        None => "name the positive state".to_owned(),
    };
    errors.push(diag::error(
        decl.wire_span,
        format_args!("condition type `{wire}` is negated: `{wire}=False` is a double negative"),
        format_args!(
            "{positive} and report it `False` when it does not hold; if `{wire}` is established API, keep it with `{}(allow_negated)`",
            decl.name()
        ),
    ));
    false
}

/// Each wire name and each variant once. Returns the types without the
/// repeated ones.
fn declared_once(types: Vec<TypeDecl>, errors: &Errors) -> Vec<TypeDecl> {
    let mut wires: HashSet<String> = HashSet::new();
    let mut variants: HashSet<String> = HashSet::new();
    let mut once = Vec::with_capacity(types.len());
    for decl in types {
        if !wires.insert(decl.wire.clone()) {
            errors.push(diag::error(
                decl.wire_span,
                format_args!("condition type `{}` is declared twice", decl.wire),
                "declare each condition type once",
            ));
            continue;
        }
        let variant = decl.name();
        if !variants.insert(variant.clone()) {
            errors.push(diag::error(
                decl.ident.span(),
                format_args!("variant `{variant}` is declared twice (with different wire names)"),
                "give each condition type its own identifier",
            ));
            continue;
        }
        once.push(decl);
    }
    once
}

/// The summary is positive: it is `True` when every dependent is good.
fn summary_positive(summary: &TypeDecl, errors: &Errors) {
    if let Some(span) = summary.negative {
        errors.push(diag::error(
            span,
            format_args!(
                "the summary condition `{}` cannot be negative",
                summary.wire
            ),
            "a summary is True when every dependent is in its good state: remove `negative`",
        ));
    }
}

/// The summary is written with server-side apply, never by the lock.
fn summary_not_locked(summary: &mut TypeDecl, errors: &Errors) {
    if let Some(span) = summary.lock.take() {
        errors.push(diag::error(
            span,
            format_args!("the summary condition `{}` cannot be `lock`", summary.wire),
            "a summary is computed by `update_summary` and sent with server-side apply; the lock writes a task's own condition: remove `lock`",
        ));
    }
}

/// Each dependent is a declared type other than the summary (and, with
/// kstatus, other than `Reconciling` and `Stalled`), listed once. Returns
/// the indices of those that are.
fn dependent_indices(
    dependents: &Dependents,
    types: &[TypeDecl],
    summary: usize,
    kstatus: bool,
    errors: &Errors,
) -> Vec<usize> {
    let mut indices = Vec::new();
    for name in &dependents.names {
        let text = name.unraw().to_string();
        if kstatus && KSTATUS_TYPES.contains(&text.as_str()) {
            errors.push(diag::error(
                name.span(),
                format_args!("kstatus' `{text}` cannot be a dependent"),
                "`update_summary` computes `Reconciling` and `Stalled` from the dependents, with the summary: remove it from `dependents(...)`",
            ));
            continue;
        }
        match types.iter().position(|t| t.name() == text) {
            None => errors.push(undeclared_dependent(name, &text, types, summary)),
            Some(index) if index == summary => errors.push(diag::error(
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
}

/// The error for a dependent that is not declared, with the declared type
/// it most likely means.
fn undeclared_dependent(
    name: &Ident,
    text: &str,
    types: &[TypeDecl],
    summary: usize,
) -> syn::Error {
    let names: Vec<String> = types
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != summary)
        .map(|(_, t)| t.name())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let help = match did_you_mean(text, &names) {
        Some(close) => format!(
            "did you mean `{close}`? Otherwise list `{text}` in `types(...)`, or remove it from `dependents(...)`"
        ),
        None => "list it in `types(...)`, or remove it from `dependents(...)`".to_owned(),
    };
    diag::error(
        name.span(),
        format_args!("`{text}` is not a declared condition type"),
        help,
    )
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

    /// The declaration of `attr` and the messages of the failed checks.
    fn declared(attr: syn::Attribute) -> (Option<Declaration>, Vec<String>) {
        let errors = Errors::new();
        let declaration = declaration(parse::resource_attrs(attr, &errors), &errors);
        (declaration, errors.into_messages())
    }

    #[test]
    fn an_invalid_declaration_still_declares_each_type_once() {
        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(types(A, B, A, C(rename = "B"), D), summary = Ready, dependents(B, Dd, D))]
        ));
        let declaration = declaration.expect("types are declared");
        let names: Vec<String> = declaration.types.iter().map(TypeDecl::name).collect();
        assert_eq!(names, ["Ready", "A", "B", "D", "Reconciling", "Stalled"]);
        assert_eq!(declaration.summary, Some(0));
        assert_eq!(
            declaration.dependents,
            Some(vec![2, 3]),
            "B and D; Dd is left out"
        );
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[2].contains("did you mean `D`?"), "{messages:?}");
    }

    #[test]
    fn a_valid_declaration_reports_nothing() {
        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(types(TableReady, DiskPressure(negative)), summary = Ready, dependents(DiskPressure))]
        ));
        assert!(messages.is_empty(), "{messages:?}");
        let declaration = declaration.expect("types are declared");
        assert_eq!(declaration.types.len(), 5, "with kstatus' two");
        assert!(declaration.types.iter().all(|t| !t.name_reported));
    }

    /// The names of the declared types of `attr`, and the messages.
    fn declared_names(attr: syn::Attribute) -> (Vec<String>, Vec<String>) {
        let (declaration, messages) = declared(attr);
        let names = declaration
            .map(|d| d.types.iter().map(TypeDecl::name).collect())
            .unwrap_or_default();
        (names, messages)
    }

    #[test]
    fn paused_and_deleting_are_marked_once_and_negative() {
        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(types(TableReady, Paused(paused), Deleting(deleting)), summary = Ready)]
        ));
        assert!(messages.is_empty(), "{messages:?}");
        let declaration = declaration.expect("types are declared");
        assert_eq!(declaration.paused, Some(2));
        assert_eq!(declaration.deleting, Some(3));
        assert!(declaration.types[2..4].iter().all(|t| t.negative.is_some()));

        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(types(Paused(paused), Held(paused), Gone(deleting, lock), Ready(deleting)), summary = Ready)]
        ));
        assert_eq!(declaration.expect("declared").paused, Some(0));
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("a second `paused` type: `Paused` is already `paused`"));
        assert!(messages[1].starts_with("`Gone` cannot be both `deleting` and `lock`"));
        assert!(messages[2].starts_with("the summary condition `Ready` cannot be `deleting`"));

        let (_, messages) = declared(syn::parse_quote!(
            #[konditions(types(Both(paused, deleting)), summary = Ready)]
        ));
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].starts_with("`Both` cannot be both `paused` and `deleting`"));
    }

    #[test]
    fn kstatus_adds_its_conditions_last_and_negative() {
        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(types(TableReady), summary = Ready, stalled_reasons(TableMissing))]
        ));
        assert!(messages.is_empty(), "{messages:?}");
        let declaration = declaration.expect("types are declared");
        assert_eq!(declaration.kstatus, Some([2, 3]));
        assert_eq!(declaration.types[2].wire, "Reconciling");
        assert!(declaration.types[2..].iter().all(|t| t.negative.is_some()));
        assert!(declaration.is_computed(0) && !declaration.is_computed(1));
        assert!(declaration.is_computed(2) && declaration.is_computed(3));
        assert_eq!(declaration.stalled_reasons, ["TableMissing"]);

        let (names, messages) =
            declared_names(syn::parse_quote!(#[konditions(types(TableReady), kstatus = false)]));
        assert_eq!(names, ["TableReady"]);
        assert!(messages.is_empty(), "{messages:?}");
    }

    #[test]
    fn kstatus_names_are_the_derives_unless_kstatus_is_off() {
        let (names, messages) = declared_names(syn::parse_quote!(
            #[konditions(types(Stalled, Stuck(rename = "Reconciling"), Done), summary = Reconciling)]
        ));
        assert_eq!(names, ["Done", "Reconciling", "Stalled"]);
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(
            messages
                .iter()
                .all(|m| m.contains("is one of kstatus' conditions")
                    && m.contains("kstatus = false")),
            "{messages:?}"
        );

        let (names, messages) = declared_names(syn::parse_quote!(
            #[konditions(types(Stalled, Reconciling(allow_progressive)), kstatus = false)]
        ));
        assert_eq!(names, ["Stalled", "Reconciling"]);
        assert!(messages.is_empty(), "{messages:?}");
    }

    #[test]
    fn kstatus_conditions_are_never_dependents() {
        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(types(A, B), summary = Ready, dependents(A, Stalled))]
        ));
        assert_eq!(declaration.unwrap().dependents, Some(vec![1]));
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].starts_with("kstatus' `Stalled` cannot be a dependent"),
            "{messages:?}"
        );
    }

    #[test]
    fn stalled_reasons_are_checked() {
        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(types(A), stalled_reasons(TableMissing, table_missing, _Gone, TableMissing, r#Raw))]
        ));
        assert_eq!(
            declaration.unwrap().stalled_reasons,
            ["TableMissing", "Raw"]
        );
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("write `TableMissing`"), "{messages:?}");
        assert!(messages[1].contains("starts with a letter"), "{messages:?}");
        assert!(
            messages[2].starts_with("duplicate stalled reason"),
            "{messages:?}"
        );
    }

    #[test]
    fn stalled_reasons_need_kstatus_and_types() {
        let (_, messages) = declared(syn::parse_quote!(
            #[konditions(types(A), kstatus = false, stalled_reasons(TableMissing))]
        ));
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].contains("with `kstatus = false` does nothing"));

        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(kstatus = true, stalled_reasons(TableMissing))]
        ));
        assert!(declaration.is_none());
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("`kstatus` without condition types"));
        assert!(messages[1].starts_with("`stalled_reasons` without condition types"));
    }

    #[test]
    fn the_summary_cannot_be_lock() {
        let (declaration, messages) = declared(syn::parse_quote!(
            #[konditions(types(Ready(lock), Written(lock)), summary = Ready)]
        ));
        let declaration = declaration.unwrap();
        assert!(
            declaration.types[0].lock.is_none(),
            "the reported lock is dropped"
        );
        assert!(declaration.types[1].lock.is_some());
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].starts_with("the summary condition `Ready` cannot be `lock`"));
    }

    #[test]
    fn no_types_and_no_summary_declare_no_enum() {
        let (declaration, messages) = declared(syn::parse_quote!(#[konditions(crate = "x")]));
        assert!(declaration.is_none());
        assert!(messages.is_empty(), "{messages:?}");
    }

    /// konditions-rules' table of `metav1.Condition` cases, which
    /// konditions-core's tests also run against the API server.
    mod metav1_cases {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../konditions-rules/cases/metav1.rs"
        ));
    }

    #[test]
    fn declared_types_are_refused_exactly_when_metav1_refuses_them() {
        for (wire, accepted) in metav1_cases::types() {
            let wire_lit = syn::LitStr::new(&wire, Span::call_site());
            let (_, messages) = declared(syn::parse_quote!(
                #[konditions(types(T(rename = #wire_lit)), kstatus = false)]
            ));
            let refused = messages.iter().any(|m| {
                m.contains("is not a valid condition type")
                    || m.contains("characters long; `metav1.Condition` allows at most 316")
            });
            assert_eq!(refused, !accepted, "{wire:?}: {messages:?}");
        }
    }

    #[test]
    fn stalled_reasons_are_refused_exactly_when_metav1_refuses_them() {
        let mut checked = 0;
        for (reason, accepted) in metav1_cases::reasons() {
            // `stalled_reasons(...)` takes identifiers: the cases that are.
            // (`parse_str` skips surrounding whitespace: compare.)
            let Ok(ident) = syn::parse_str::<Ident>(&reason) else {
                continue;
            };
            if ident != reason {
                continue;
            }
            let (_, messages) = declared(syn::parse_quote!(
                #[konditions(types(A), stalled_reasons(#ident))]
            ));
            let refused = messages
                .iter()
                .any(|m| m.contains("is not a valid condition reason"));
            assert_eq!(refused, !accepted, "{reason:?}: {messages:?}");
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} cases are identifiers");
    }

    #[test]
    fn a_type_too_long_is_reported_with_its_length_in_characters() {
        let wire = format!("{}/{}", "a".repeat(253), "B".repeat(63));
        let wire_lit = syn::LitStr::new(&wire, Span::call_site());
        let (_, messages) = declared(syn::parse_quote!(
            #[konditions(types(T(rename = #wire_lit)))]
        ));
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].starts_with(&format!(
                "condition type `{}...` is 317 characters long",
                "a".repeat(40)
            )),
            "{messages:?}"
        );
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
