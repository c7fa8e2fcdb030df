//! Reading the `#[kube(...)]` attribute of kube's `#[derive(CustomResource)]`.
//!
//! A derive listed next to `CustomResource` sees `#[kube(...)]` as an inert
//! attribute. Only `kind`, `root` and `status` matter here; every other key
//! (and kube has many, with values that are expressions or nested lists) is
//! skipped without being interpreted, so this module never rejects what kube
//! accepts.

use proc_macro2::{TokenStream, TokenTree};
use syn::{Attribute, Ident, LitStr, Meta, Type};

use crate::diag::{self, Errors};

/// What `#[derive(ConditionalResource)]` needs from `#[kube(...)]`; what is
/// missing or malformed is `None`, and reported.
pub(crate) struct KubeAttrs {
    /// The `kind` (for the enum's default name and docs).
    pub(crate) kind: Option<String>,
    /// The root struct kube generates: `root`, else `kind`; spanned at the
    /// literal that named it.
    pub(crate) root: Option<Ident>,
    /// The status type, spanned at the `status` value.
    pub(crate) status: Option<Type>,
}

/// The `#[kube(...)]` attributes of the input, if any.
pub(crate) fn kube_attrs(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("kube")).collect()
}

/// Reads `kind`, `root` and `status` from the `#[kube(...)]` attributes
/// (kube accepts them split over several attributes).
pub(crate) fn parse(attrs: &[&Attribute], errors: &Errors) -> KubeAttrs {
    // Outer `None`: not given; inner `None`: given, malformed, reported.
    let mut kind: Option<Option<LitStr>> = None;
    let mut root: Option<Option<LitStr>> = None;
    let mut status: Option<Option<Type>> = None;
    for attr in attrs {
        let Meta::List(list) = &attr.meta else {
            continue;
        };
        for item in split_items(list.tokens.clone()) {
            let mut tokens = item.into_iter();
            let Some(TokenTree::Ident(key)) = tokens.next() else {
                continue;
            };
            let Some(TokenTree::Punct(eq)) = tokens.next() else {
                continue;
            };
            if eq.as_char() != '=' {
                continue;
            }
            let value: TokenStream = tokens.collect();
            match key.to_string().as_str() {
                "kind" => kind = Some(errors.ok(string_value(&key, value))),
                "root" => root = Some(errors.ok(string_value(&key, value))),
                "status" => status = Some(errors.ok(status_value(value))),
                _ => {}
            }
        }
    }
    if kind.is_none() {
        errors.push(diag::error_spanned(
            attrs.first().copied(),
            "`#[kube(...)]` has no `kind`",
            "add `kind = \"MyKind\"` to `#[kube(...)]`",
        ));
    }
    if status.is_none() {
        let kind = kind
            .iter()
            .flatten()
            .next()
            .map_or_else(|| "My".to_owned(), LitStr::value);
        errors.push(diag::error_spanned(
            attrs.first().copied(),
            "`#[derive(ConditionalResource)]` needs a status: `#[kube(...)]` has no `status`",
            format_args!(
                "conditions live in the status subresource: add `status = \"{kind}Status\"` to `#[kube(...)]`, naming a struct that derives `ConditionalStatus`"
            ),
        ));
    }
    let kind = kind.flatten();
    let root = match root {
        Some(root) => root,
        None => kind.clone(),
    };
    let root = root.and_then(|literal| {
        let ident = syn::parse_str::<Ident>(&literal.value()).map_err(|_| {
            diag::error(
                literal.span(),
                format_args!("`{}` is not a Rust identifier", literal.value()),
                "kube names the root struct after `kind` (or `root`): give an identifier",
            )
        });
        errors
            .ok(ident)
            .map(|ident| Ident::new(&ident.to_string(), literal.span()))
    });
    KubeAttrs {
        kind: kind.map(|kind| kind.value()),
        root,
        status: status.flatten(),
    }
}

/// Splits the tokens of an attribute list at its top-level commas.
pub(crate) fn split_items(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut items = vec![Vec::new()];
    for token in tokens {
        match &token {
            TokenTree::Punct(p) if p.as_char() == ',' => items.push(Vec::new()),
            _ => {
                if let Some(last) = items.last_mut() {
                    last.push(token);
                }
            }
        }
    }
    items.retain(|item| !item.is_empty());
    items
}

/// The string literal of `key = "..."`.
fn string_value(key: &Ident, value: TokenStream) -> syn::Result<LitStr> {
    syn::parse2::<LitStr>(value).map_err(|e| {
        diag::error(
            e.span(),
            format_args!("`{key}` in `#[kube(...)]` must be a string"),
            format_args!("write `{key} = \"...\"`"),
        )
    })
}

/// The type of `status = "Type"` (kube's form) or `status = Type`.
fn status_value(value: TokenStream) -> syn::Result<Type> {
    if let Ok(lit) = syn::parse2::<LitStr>(value.clone()) {
        // `LitStr::parse` gives every token the literal's span, so errors
        // about the status type point at the `status = "..."` value.
        return lit.parse::<Type>().map_err(|_| {
            diag::error(
                lit.span(),
                format_args!("`{}` is not a type", lit.value()),
                "write `status = \"MyStatus\"`",
            )
        });
    }
    syn::parse2::<Type>(value).map_err(|e| {
        diag::error(
            e.span(),
            "`status` in `#[kube(...)]` must name a type",
            "write `status = \"MyStatus\"`",
        )
    })
}
