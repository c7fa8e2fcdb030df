//! `impl ConditionalStatus` for a status struct.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast;
use crate::parse::StatusField;

/// `impl ConditionalStatus`, reading the condition type and status set out
/// of the type of the conditions field through a local trait (so a field
/// that is not a `Conditions` is reported at the field, in our words), and
/// `status.observedGeneration` from `generation` through another (so a
/// field that is not an `Option<i64>` is reported at the field too).
pub(super) fn expand(status: &ast::Status<'_>) -> TokenStream {
    let ast::Status {
        input,
        krate,
        conditions: field,
        observed_generation: generation,
    } = status;
    let ident = &input.ident;
    let member = &field.member;
    let field_ty = &field.field.ty;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let message = format!("the conditions field of `{ident}` is a `{{Self}}`, not a `Conditions`");
    // Everything that names the field's type, or a type read from it, is
    // spanned at the field: when it is not a `Conditions`, each failing
    // obligation gives the same diagnostic, which rustc prints once.
    let span = field_ty.span();
    let krate_at_field = respan(krate, span);
    let items = quote_spanned! {span=>
        type Type = <#field_ty as ConditionsField>::Type;
        type Status = <#field_ty as ConditionsField>::Status;

        fn conditions(&self) -> &#krate_at_field::Conditions<Self::Type, Self::Status> {
            <#field_ty as ConditionsField>::get(&self.#member)
        }

        fn conditions_mut(&mut self) -> &mut #krate_at_field::Conditions<Self::Type, Self::Status> {
            <#field_ty as ConditionsField>::get_mut(&mut self.#member)
        }
    };

    let (generation_check, generation) = generation
        .as_ref()
        .map(|generation| observed_generation(input, generation))
        .unzip();
    quote! {
        const _: () = {
            /// Reads the condition type and status set out of the type of
            /// the conditions field.
            #[diagnostic::on_unimplemented(
                message = #message,
                label = "expected `Conditions<MyCondition>`",
                note = "the conditions field of a status is a `konditions_core::Conditions<T, S>`"
            )]
            pub trait ConditionsField {
                /// The condition type.
                type Type: #krate::ConditionType;
                /// The status set.
                type Status: #krate::ConditionStatus;
                /// The field as a `Conditions`.
                fn get(&self) -> &#krate::Conditions<Self::Type, Self::Status>;
                /// The field as a `Conditions`, mutably.
                fn get_mut(&mut self) -> &mut #krate::Conditions<Self::Type, Self::Status>;
            }

            impl<T: #krate::ConditionType, S: #krate::ConditionStatus> ConditionsField for #krate::Conditions<T, S> {
                type Type = T;
                type Status = S;
                fn get(&self) -> &Self {
                    self
                }
                fn get_mut(&mut self) -> &mut Self {
                    self
                }
            }

            #generation_check

            #[automatically_derived]
            impl #impl_generics #krate::ConditionalStatus for #ident #ty_generics #where_clause {
                #items
                #generation
            }
        };
    }
}

/// The `ObservedGenerationField` trait (implemented for `Option<i64>`
/// only, so a field of another type is reported at the field, in our
/// words; an alias of `Option<i64>` is fine), and the methods
/// `observed_generation` and `observed_generation_mut` through it.
fn observed_generation(input: &DeriveInput, field: &StatusField<'_>) -> (TokenStream, TokenStream) {
    let member = &field.member;
    let field_ty = &field.field.ty;
    let message = format!(
        "the `observedGeneration` field of `{}` has type `{{Self}}`, not `Option<i64>`",
        input.ident
    );
    let check = quote! {
        /// Reads `status.observedGeneration` out of its field.
        #[diagnostic::on_unimplemented(
            message = #message,
            label = "expected `Option<i64>`",
            note = "`status.observedGeneration` is the generation the summary was computed for, absent until the first one: declare the field `Option<i64>`, or opt out with `#[konditions(observed_generation = false)]` on the struct"
        )]
        pub trait ObservedGenerationField {
            /// The field as an `Option<i64>`, mutably.
            fn get_mut(&mut self) -> &mut ::core::option::Option<i64>;
            /// The generation.
            fn get(&self) -> ::core::option::Option<i64>;
        }

        impl ObservedGenerationField for ::core::option::Option<i64> {
            fn get_mut(&mut self) -> &mut Self {
                self
            }
            fn get(&self) -> Self {
                *self
            }
        }
    };
    // Spanned at the field's type, as the conditions' accessors.
    let methods = quote_spanned! {field_ty.span()=>
        fn observed_generation(&self) -> ::core::option::Option<i64> {
            <#field_ty as ObservedGenerationField>::get(&self.#member)
        }

        fn observed_generation_mut(&mut self) -> ::core::option::Option<&mut ::core::option::Option<i64>> {
            ::core::option::Option::Some(<#field_ty as ObservedGenerationField>::get_mut(&mut self.#member))
        }
    };
    (check, methods)
}

/// `tokens` with every span set to `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(&group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}
