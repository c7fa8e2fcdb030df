//! Reading serde's naming of a field from `#[serde(...)]`, to check that a
//! field the derive wires is serialized under the name Kubernetes tools
//! read (`status.observedGeneration`).
//!
//! A derive sees the `#[serde(...)]` attributes but not whether serde's
//! derive (or schemars', which follows the same attributes) is used. So the
//! name is checked only when a `#[serde(...)]` is on the struct or one of
//! its fields: then serde's rules name the field. Without any, the struct
//! may be serialized by hand, and nothing is checked. Only the keys that
//! decide a field's name are read (`rename_all`, `rename`, `skip`,
//! `skip_serializing`, `skip_deserializing`); everything else is serde's
//! to check.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::{Attribute, DataStruct, DeriveInput, Field, LitStr, Meta};

use super::kube_attr::split_items;
use crate::diag;

/// A value of serde's that may differ by direction
/// (`rename(serialize = "...", deserialize = "...")`).
#[derive(Default)]
struct Directed {
    serialize: Option<LitStr>,
    deserialize: Option<LitStr>,
}

impl Directed {
    /// Sets both directions (`key = "..."`) or those listed
    /// (`key(serialize = "...")`).
    fn read(&mut self, rest: &[TokenTree]) {
        match rest {
            [TokenTree::Punct(eq), value @ ..] if eq.as_char() == '=' => {
                if let Some(lit) = string(value) {
                    self.serialize = Some(lit.clone());
                    self.deserialize = Some(lit);
                }
            }
            [TokenTree::Group(group)] => {
                for item in split_items(group.stream()) {
                    if let [TokenTree::Ident(key), TokenTree::Punct(eq), value @ ..] = &item[..]
                        && eq.as_char() == '='
                    {
                        match key.to_string().as_str() {
                            "serialize" => self.serialize = string(value),
                            "deserialize" => self.deserialize = string(value),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Both directions, serialization first.
    fn both(&self) -> [(&'static str, Option<&LitStr>); 2] {
        [
            ("serializes", self.serialize.as_ref()),
            ("deserializes", self.deserialize.as_ref()),
        ]
    }
}

/// What `#[serde(...)]` says about naming, on a struct or a field.
#[derive(Default)]
struct Naming {
    /// `rename_all` (struct) or `rename` (field).
    rename: Directed,
    /// `skip` or `skip_serializing` (field), with the key's span.
    skip_serializing: Option<Span>,
    /// `skip` or `skip_deserializing` (field), with the key's span.
    skip_deserializing: Option<Span>,
}

/// The naming of `#[serde(...)]` among `attrs`, reading `rename_key`
/// (`rename_all` on a struct, `rename` on a field).
fn naming(attrs: &[Attribute], rename_key: &str) -> Naming {
    let mut naming = Naming::default();
    for attr in serde_attrs(attrs) {
        let Meta::List(list) = &attr.meta else {
            continue;
        };
        for item in split_items(list.tokens.clone()) {
            let Some((TokenTree::Ident(key), rest)) = item.split_first() else {
                continue;
            };
            let span = key.span();
            match key.to_string().as_str() {
                name if name == rename_key => naming.rename.read(rest),
                "skip" => {
                    naming.skip_serializing = Some(span);
                    naming.skip_deserializing = Some(span);
                }
                "skip_serializing" => naming.skip_serializing = Some(span),
                "skip_deserializing" => naming.skip_deserializing = Some(span),
                _ => {}
            }
        }
    }
    naming
}

fn serde_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("serde"))
}

/// The string literal of `value`, if it is one.
fn string(value: &[TokenTree]) -> Option<LitStr> {
    syn::parse2(value.iter().cloned().collect::<TokenStream>()).ok()
}

/// Whether a `#[serde(...)]` is on the struct or one of its fields: then
/// serde's (or schemars') derive names the fields.
pub(crate) fn in_use(input: &DeriveInput, data: &DataStruct) -> bool {
    serde_attrs(&input.attrs).next().is_some()
        || data
            .fields
            .iter()
            .any(|f| serde_attrs(&f.attrs).next().is_some())
}

/// `field` (a snake_case Rust name) under serde's `rename_all = rule`;
/// `None` for a rule serde does not have (serde reports it).
fn apply_rule(rule: &str, field: &str) -> Option<String> {
    let capitalized = |first_upper: bool| {
        let mut out = String::with_capacity(field.len());
        let mut upper = first_upper;
        for c in field.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    };
    Some(match rule {
        "lowercase" | "snake_case" => field.to_owned(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_ascii_uppercase(),
        "PascalCase" => capitalized(true),
        "camelCase" => {
            // serde lowercases the first character of the PascalCase form.
            let pascal = capitalized(true);
            let mut chars = pascal.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_lowercase().to_string() + chars.as_str()
            })
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.to_ascii_uppercase().replace('_', "-"),
        _ => return None,
    })
}

/// Whether the struct's `rename_all` (or its absence) names a field
/// `field` as `expected`, in both directions.
pub(crate) fn renames_to(input: &DeriveInput, field: &str, expected: &str) -> bool {
    let container = naming(&input.attrs, "rename_all");
    container.rename.both().iter().all(|(_, rule)| {
        let name = match rule {
            Some(rule) => apply_rule(&rule.value(), field),
            None => Some(field.to_owned()),
        };
        name.as_deref() == Some(expected)
    })
}

/// Checks that serde names `field` `expected` in both directions and does
/// not skip it, when serde's naming is visible (see the module docs).
/// Fields of a tuple struct have no name to check.
pub(crate) fn check_name(
    input: &DeriveInput,
    data: &DataStruct,
    field: &Field,
    expected: &str,
) -> syn::Result<()> {
    let Some(ident) = &field.ident else {
        return Ok(());
    };
    if !in_use(input, data) {
        return Ok(());
    }
    let rust = ident.unraw().to_string();
    let own = naming(&field.attrs, "rename");
    let container = naming(&input.attrs, "rename_all");
    if let Some(span) = own.skip_serializing.or(own.skip_deserializing) {
        return Err(diag::error(
            span,
            format_args!("serde skips `{rust}`, so `status.{expected}` is never written or read"),
            "remove the `skip`: `update_summary` sets the field, and the apply sends it",
        ));
    }
    for ((direction, renamed), (_, rule)) in
        own.rename.both().into_iter().zip(container.rename.both())
    {
        let (name, span) = match (renamed, rule) {
            (Some(lit), _) => (lit.value(), lit.span()),
            (None, Some(rule)) => match apply_rule(&rule.value(), &rust) {
                Some(name) => (name, ident.span()),
                None => continue,
            },
            (None, None) => (rust.clone(), ident.span()),
        };
        if name == expected {
            continue;
        }
        let help = if renamed.is_some() {
            format!("write `rename = \"{expected}\"`")
        } else {
            format!(
                "add `#[serde(rename_all = \"camelCase\")]` to `{}` (the Kubernetes convention for field names), or `#[serde(rename = \"{expected}\")]` to the field",
                input.ident
            )
        };
        return Err(diag::error(
            span,
            format_args!(
                "`{rust}` {direction} as `{name}`, but kstatus, Flux and Argo CD read `status.{expected}`"
            ),
            help,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_serde_rules_to_a_snake_case_field() {
        let field = "observed_generation";
        for (rule, expected) in [
            ("camelCase", "observedGeneration"),
            ("PascalCase", "ObservedGeneration"),
            ("snake_case", field),
            ("lowercase", field),
            ("SCREAMING_SNAKE_CASE", "OBSERVED_GENERATION"),
            ("kebab-case", "observed-generation"),
            ("SCREAMING-KEBAB-CASE", "OBSERVED-GENERATION"),
        ] {
            assert_eq!(apply_rule(rule, field).as_deref(), Some(expected), "{rule}");
        }
        assert_eq!(apply_rule("Title Case", field), None);
    }

    /// The message of `check_name` for the `observed_generation` field (or
    /// the first) of `input`, `None` when it passes.
    fn checked(input: DeriveInput) -> Option<String> {
        let syn::Data::Struct(data) = &input.data else {
            unreachable!("a struct")
        };
        let field = data
            .fields
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| i == "observed_generation"))
            .or_else(|| data.fields.iter().next())
            .unwrap();
        check_name(&input, data, field, "observedGeneration")
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn accepts_what_serde_names_observed_generation() {
        for input in [
            syn::parse_quote!(
                #[serde(rename_all = "camelCase")]
                struct S {
                    #[serde(default)]
                    observed_generation: Option<i64>,
                }
            ),
            syn::parse_quote!(
                struct S {
                    #[serde(rename = "observedGeneration")]
                    observed_generation: Option<i64>,
                }
            ),
            syn::parse_quote!(
                #[serde(rename_all(serialize = "camelCase", deserialize = "camelCase"))]
                struct S {
                    observed_generation: Option<i64>,
                }
            ),
            syn::parse_quote!(
                #[serde(deny_unknown_fields)]
                struct S {
                    #[serde(rename = "observedGeneration")]
                    generation: Option<i64>,
                }
            ),
            // No serde attribute anywhere: serde may not name the fields.
            syn::parse_quote!(
                struct S {
                    observed_generation: Option<i64>,
                }
            ),
        ] {
            assert_eq!(checked(input), None);
        }
    }

    #[test]
    fn refuses_what_serde_names_otherwise() {
        let cases: [(DeriveInput, &str); 5] = [
            (
                syn::parse_quote!(
                    struct S {
                        #[serde(default)]
                        observed_generation: Option<i64>,
                    }
                ),
                "`observed_generation` serializes as `observed_generation`",
            ),
            (
                syn::parse_quote!(
                    #[serde(rename_all = "PascalCase")]
                    struct S {
                        observed_generation: Option<i64>,
                    }
                ),
                "serializes as `ObservedGeneration`",
            ),
            (
                syn::parse_quote!(
                    #[serde(rename_all(serialize = "camelCase"))]
                    struct S {
                        observed_generation: Option<i64>,
                    }
                ),
                "deserializes as `observed_generation`",
            ),
            (
                syn::parse_quote!(
                    #[serde(rename_all = "camelCase")]
                    struct S {
                        #[serde(rename = "generation")]
                        observed_generation: Option<i64>,
                    }
                ),
                "write `rename = \"observedGeneration\"`",
            ),
            (
                syn::parse_quote!(
                    #[serde(rename_all = "camelCase")]
                    struct S {
                        #[serde(skip)]
                        observed_generation: Option<i64>,
                    }
                ),
                "serde skips `observed_generation`",
            ),
        ];
        for (input, expected) in cases {
            let message = checked(input).expect("refused");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn tells_whether_rename_all_gives_the_name() {
        let camel: DeriveInput = syn::parse_quote!(
            #[serde(rename_all = "camelCase")]
            struct S {}
        );
        let none: DeriveInput = syn::parse_quote!(
            struct S {}
        );
        assert!(renames_to(
            &camel,
            "observed_generation",
            "observedGeneration"
        ));
        assert!(!renames_to(
            &none,
            "observed_generation",
            "observedGeneration"
        ));
    }
}
