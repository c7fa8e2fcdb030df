//! Building and collecting diagnostics.
//!
//! Every diagnostic of this crate is a `syn::Error` with the span of the
//! offending tokens. Stable Rust has no API for `help:` sub-diagnostics in a
//! proc macro, so the hint goes on its own line of the message, prefixed with
//! `help:` the way rustc prints them.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

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
#[derive(Default)]
pub(crate) struct Errors {
    errors: Option<syn::Error>,
}

impl Errors {
    /// Records an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// Records the error of a result and returns its value, if any.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// `Err` with every recorded error, `Ok` when there is none.
    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.errors {
            Some(errors) => Err(errors),
            None => Ok(()),
        }
    }
}

/// Turns the result of an expansion into the tokens a derive returns.
pub(crate) fn into_tokens(result: syn::Result<TokenStream>) -> TokenStream {
    result.unwrap_or_else(syn::Error::into_compile_error)
}

/// The closest candidate to a misspelt `word`, if one is close enough to be
/// a likely typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|candidate| (edit_distance(&word, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two ASCII-ish strings.
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
    fn edit_distance_counts_operations() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
