//! `impl ConditionType`: the wire spelling, parsing, the declared types,
//! and the methods a declaration overrides (polarity, summary, dependents,
//! who writes a type, kstatus' conditions and the reasons that stall).
//!
//! A new method of the trait is a function here whose tokens go into
//! [`expand`]; the data it needs comes from [`ConditionEnum`] (the
//! declaration and its types).

use proc_macro2::TokenStream;
use quote::quote;

use super::condition_enum::ConditionEnum;
use crate::parse::TypeDecl;

pub(super) fn expand(e: &ConditionEnum<'_>) -> TokenStream {
    let name = e.name;
    let krate = &e.paths.krate;
    let variants = e.variants();
    let wires = e.wires();
    let polarity = polarity(e);
    let summary = summary(e);
    let dependents = dependents(e);
    let written_by = written_by(e);
    let kstatus = kstatus(e);
    let paused = marked(e, e.declaration.paused, quote!(paused));
    let deleting = marked(e, e.declaration.deleting, quote!(deleting));
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
            #written_by
            #kstatus
            #paused
            #deleting
        }
    }
}

/// `paused` or `deleting`, when a type is marked so.
fn marked(e: &ConditionEnum<'_>, index: Option<usize>, method: TokenStream) -> Option<TokenStream> {
    let variant = &e.declaration.types[index?].ident;
    Some(quote! {
        fn #method() -> ::core::option::Option<Self> {
            ::core::option::Option::Some(Self::#variant)
        }
    })
}

/// `polarity`, when a type is `negative` (the default is positive).
fn polarity(e: &ConditionEnum<'_>) -> Option<TokenStream> {
    let krate = &e.paths.krate;
    flag_method(
        e,
        |t| t.negative.is_some(),
        quote!(fn polarity(&self) -> #krate::Polarity),
        quote!(#krate::Polarity::Negative),
        quote!(#krate::Polarity::Positive),
    )
}

/// A method of `&self` that returns `marked` for the types `is_marked`
/// picks and `unmarked` for the others, as a `match` with an arm per
/// variant (no `_` arm, which would be unreachable when every type is
/// marked). `None` when no type is marked: the trait's default applies.
fn flag_method(
    e: &ConditionEnum<'_>,
    is_marked: impl Fn(&TypeDecl) -> bool,
    signature: TokenStream,
    marked: TokenStream,
    unmarked: TokenStream,
) -> Option<TokenStream> {
    let types = &e.declaration.types;
    types.iter().any(&is_marked).then(|| {
        let arms = types.iter().map(|t| {
            let variant = &t.ident;
            let value = if is_marked(t) { &marked } else { &unmarked };
            quote!(Self::#variant => #value)
        });
        quote! {
            #signature {
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

/// `dependents`, whenever there is a summary or kstatus: the listed ones,
/// or every type but the computed ones (the summary, `Reconciling`,
/// `Stalled`), spelled out so the method returns a static slice.
fn dependents(e: &ConditionEnum<'_>) -> Option<TokenStream> {
    let declaration = e.declaration;
    let types = &declaration.types;
    (declaration.summary.is_some() || declaration.kstatus.is_some()).then(|| {
        let indices = declaration.dependents.clone().unwrap_or_else(|| {
            (0..types.len())
                .filter(|&i| !declaration.is_computed(i))
                .collect()
        });
        let variants = indices.iter().map(|&i| &types[i].ident);
        quote! {
            fn dependents() -> &'static [Self] {
                &[#(Self::#variants),*]
            }
        }
    })
}

/// `written_by`, when a type is `lock` (the default is the apply).
fn written_by(e: &ConditionEnum<'_>) -> Option<TokenStream> {
    let krate = &e.paths.krate;
    flag_method(
        e,
        |t| t.lock.is_some(),
        quote!(fn written_by(&self) -> #krate::WrittenBy),
        quote!(#krate::WrittenBy::Lock),
        quote!(#krate::WrittenBy::Apply),
    )
}

/// `reconciling`, `stalled` and `stalls`, unless `kstatus = false`.
fn kstatus(e: &ConditionEnum<'_>) -> Option<TokenStream> {
    let [reconciling, stalled] = e.declaration.kstatus?;
    let types = &e.declaration.types;
    let (reconciling, stalled) = (&types[reconciling].ident, &types[stalled].ident);
    let reasons = &e.declaration.stalled_reasons;
    let stalls = (!reasons.is_empty()).then(|| {
        quote! {
            fn stalls(reason: &str) -> bool {
                ::core::matches!(reason, #(#reasons)|*)
            }
        }
    });
    Some(quote! {
        fn reconciling() -> ::core::option::Option<Self> {
            ::core::option::Option::Some(Self::#reconciling)
        }

        fn stalled() -> ::core::option::Option<Self> {
            ::core::option::Option::Some(Self::#stalled)
        }

        #stalls
    })
}
