//! Building and collecting diagnostics.
//!
//! Every diagnostic of this crate is a `syn::Error` with the span of the
//! offending tokens. Stable Rust has no API for `help:` sub-diagnostics in a
//! proc macro, so the hint goes on its own line of the message, prefixed with
//! `help:` the way rustc prints them.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote_spanned};

/// An error at `span` with a `help:` line telling how to fix it.
pub(crate) fn error(span: Span, message: impl Display, help: impl Display) -> syn::Error {
    syn::Error::new(span, format!("{message}\nhelp: {help}"))
}

/// [`error`] spanning all of `tokens` (an attribute, a type).
pub(crate) fn error_spanned(
    tokens: impl ToTokens,
    message: impl Display,
    help: impl Display,
) -> syn::Error {
    syn::Error::new_spanned(tokens, format!("{message}\nhelp: {help}"))
}

/// Collects every error of an expansion, so the user sees all problems of a
/// declaration at once instead of one per compile.
///
/// It cannot be forgotten: [`Errors::check`] consumes it and turns the
/// errors into a `Result`, and dropping it unchecked panics (as
/// serde_derive's `Ctxt` does), so an error recorded on some path is never
/// silently lost. Recording takes `&self`, so the attribute holders of
/// [`crate::parse`] can keep a reference and report duplicates themselves.
pub(crate) struct Errors {
    /// `None` once checked.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Errors {
    /// An empty collector, to be [checked](Errors::check).
    pub(crate) fn new() -> Self {
        Self {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error.
    pub(crate) fn push(&self, error: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("errors are recorded before the collector is checked")
            .push(error);
    }

    /// Records the error of a result and returns its value, if any.
    pub(crate) fn ok<T>(&self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// `Err` with every recorded error (in the order recorded), `Ok` when
    /// there is none.
    pub(crate) fn check(self) -> syn::Result<()> {
        let errors = self
            .errors
            .borrow_mut()
            .take()
            .expect("the collector is checked once");
        let mut errors = errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }

    /// Checks, and returns the output of the derive: `items` alone, or the
    /// errors and then `items` (code that compiles despite the errors, so
    /// the user's code naming the generated items reports nothing more than
    /// the errors themselves).
    pub(crate) fn finish(self, items: TokenStream) -> TokenStream {
        match self.check() {
            Ok(()) => items,
            Err(error) => {
                let mut tokens = error.into_compile_error();
                tokens.extend(items);
                tokens
            }
        }
    }

    /// Checks, and returns the messages of the errors (for tests).
    #[cfg(test)]
    pub(crate) fn into_messages(self) -> Vec<String> {
        match self.check() {
            Ok(()) => Vec::new(),
            Err(combined) => combined.into_iter().map(|e| e.to_string()).collect(),
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        // Not while unwinding: a second panic would abort and hide the first.
        if self.errors.get_mut().is_some() && !std::thread::panicking() {
            panic!("konditions-derive: a diagnostics collector was dropped without being checked");
        }
    }
}

/// A deprecation warning at `span`, the key `name` of an attribute. Stable
/// Rust lets a proc macro emit errors only; the use of a `#[deprecated]`
/// item it generates, spanned at the key, is the warning it can raise (and
/// `#![deny(deprecated)]` or `#[allow(deprecated)]` apply to it as usual).
pub(crate) fn deprecated(span: Span, name: &str, note: &str) -> TokenStream {
    let item = Ident::new(name, span);
    quote_spanned! {span=>
        const _: () = {
            #[deprecated(note = #note)]
            #[allow(non_upper_case_globals)]
            const #item: () = ();
            #item
        };
    }
}

/// The closest candidate to a misspelt `word`, if one is close enough to be
/// a likely typo. Case is ignored (`Summary` finds `summary`, `rowwritten`
/// finds `RowWritten`); the candidate is returned as spelt. A word that is
/// a candidate with an inflection added (`locked`, `locking`, `negated`)
/// finds it too: a natural misreading, though too far for a typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|candidate| {
            let lower = candidate.to_lowercase();
            let inflected =
                lower.len() >= 4 && word.len() <= lower.len() + 3 && word.starts_with(&lower);
            let distance = if inflected {
                1
            } else {
                edit_distance(&word, &lower)
            };
            (distance, *candidate)
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two strings, by `char`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous[b.len()]
}

/// A sentence listing the accepted keys, for unknown-key errors.
pub(crate) fn one_of(candidates: &[&str]) -> String {
    let quoted: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["types", "summary", "dependents", "crate"];
        assert_eq!(did_you_mean("typs", &keys), Some("types"));
        assert_eq!(did_you_mean("Summary", &keys), Some("summary"));
        assert_eq!(did_you_mean("dependent", &keys), Some("dependents"));
        assert_eq!(did_you_mean("colour", &keys), None);
    }

    #[test]
    fn suggests_the_option_of_an_inflected_word() {
        let options = ["negative", "lock", "allow_progressive", "doc"];
        assert_eq!(did_you_mean("locked", &options), Some("lock"));
        assert_eq!(did_you_mean("locks", &options), Some("lock"));
        assert_eq!(did_you_mean("locking", &options), Some("lock"));
        assert_eq!(did_you_mean("docs", &options), Some("doc"));
        assert_eq!(did_you_mean("lockstep_mode", &options), None);
    }

    #[test]
    fn suggests_declared_names_whatever_their_case() {
        let types = ["Ready", "TableReady", "RowWritten"];
        assert_eq!(did_you_mean("RowWriten", &types), Some("RowWritten"));
        assert_eq!(did_you_mean("tableready", &types), Some("TableReady"));
        assert_eq!(did_you_mean("Deployed", &types), None);
    }

    #[test]
    fn edit_distance_counts_operations() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn check_returns_every_error_in_order() {
        let errors = Errors::new();
        assert!(errors.ok(Ok::<_, syn::Error>(1)) == Some(1));
        errors.push(syn::Error::new(Span::call_site(), "first"));
        let none: Option<()> = errors.ok(Err(syn::Error::new(Span::call_site(), "second")));
        assert!(none.is_none());
        assert_eq!(errors.into_messages(), ["first", "second"]);
    }

    #[test]
    fn check_without_errors_is_ok() {
        assert!(Errors::new().check().is_ok());
    }

    #[test]
    #[should_panic(expected = "dropped without being checked")]
    fn an_unchecked_collector_panics_on_drop() {
        let errors = Errors::new();
        errors.push(syn::Error::new(Span::call_site(), "lost"));
        drop(errors);
    }
}
