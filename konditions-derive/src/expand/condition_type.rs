//! `impl ConditionType`: the wire spelling, parsing, the declared types,
//! and the methods a declaration overrides (polarity, summary, dependents).
//!
//! A new method of the trait is a function here whose tokens go into
//! [`expand`]; the data it needs comes from [`ConditionEnum`] (the
//! declaration and its types).

use proc_macro2::TokenStream;
use quote::quote;

use super::condition_enum::ConditionEnum;

pub(super) fn expand(e: &ConditionEnum<'_>) -> TokenStream {
    let name = e.name;
    let krate = &e.paths.krate;
    let variants = e.variants();
    let wires = e.wires();
    let polarity = polarity(e);
    let summary = summary(e);
    let dependents = dependents(e);
    quote! {
        #[automatically_derived]
        impl #krate::ConditionType for #name {
            fn as_str(&self) -> &str {
                #name::as_str(self)
            }

            fn parse(value: &str) -> ::core::option::Option<Self> {
                match value {
                    #(#wires => ::core::option::Option::Some(Self::#variants),)*
                    _ => ::core::option::Option::None,
                }
            }

            fn declared() -> &'static [Self] {
                Self::ALL
            }

            #polarity
            #summary
            #dependents
        }
    }
}

/// `polarity`, when a type is `negative` (the default is positive).
fn polarity(e: &ConditionEnum<'_>) -> Option<TokenStream> {
    let types = &e.declaration.types;
    let krate = &e.paths.krate;
    types.iter().any(|t| t.negative.is_some()).then(|| {
        let arms = types.iter().map(|t| {
            let variant = &t.ident;
            let polarity = if t.negative.is_some() {
                quote!(Negative)
            } else {
                quote!(Positive)
            };
            quote!(Self::#variant => #krate::Polarity::#polarity)
        });
        quote! {
            fn polarity(&self) -> #krate::Polarity {
                match self {
                    #(#arms,)*
                }
            }
        }
    })
}

/// `summary`, when one is declared.
fn summary(e: &ConditionEnum<'_>) -> Option<TokenStream> {
    e.declaration.summary.map(|index| {
        let variant = &e.declaration.types[index].ident;
        quote! {
            fn summary() -> ::core::option::Option<Self> {
                ::core::option::Option::Some(Self::#variant)
            }
        }
    })
}

/// `dependents`, whenever there is a summary: the listed ones, or every
/// type but the summary, spelled out so the method returns a static slice.
fn dependents(e: &ConditionEnum<'_>) -> Option<TokenStream> {
    let types = &e.declaration.types;
    e.declaration.summary.map(|summary| {
        let indices = e
            .declaration
            .dependents
            .clone()
            .unwrap_or_else(|| (0..types.len()).filter(|&i| i != summary).collect());
        let variants = indices.iter().map(|&i| &types[i].ident);
        quote! {
            fn dependents() -> &'static [Self] {
                &[#(Self::#variants),*]
            }
        }
    })
}
