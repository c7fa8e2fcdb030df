//! `impl ConditionalResource` for the root struct.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::Paths;
use crate::discover::Root;

/// `impl ConditionalResource for Root`, plus an assertion that the status
/// holds conditions, spanned at the status type so the error points there.
/// `type_ty` is the condition type: the generated enum, or the status's.
pub(super) fn expand(root: &Root, type_ty: &TokenStream, paths: &Paths) -> TokenStream {
    let krate = &paths.krate;
    let ident = &root.ident;
    let status = &root.status;
    let (impl_generics, ty_generics, where_clause) = root.generics.split_for_impl();

    // The assertion cannot name the generic parameters of a generic root;
    // there the bound on `ResourceStatus` reports the same problem.
    let assertion = root.generics.params.is_empty().then(|| {
        let check = quote_spanned! {status.span()=>
            assert_conditional_status::<#status>
        };
        quote! {
            const _: fn() = || {
                fn assert_conditional_status<S: #krate::ConditionalStatus>() {}
                #check();
            };
        }
    });

    // Spanned at the status type: when it does not implement
    // `ConditionalStatus`, every error points at the same place.
    let associated_types = quote_spanned! {status.span()=>
        type Type = #type_ty;
        type Status = <#status as #krate::ConditionalStatus>::Status;
        type ResourceStatus = #status;
    };

    quote! {
        #assertion

        #[automatically_derived]
        impl #impl_generics #krate::ConditionalResource for #ident #ty_generics #where_clause {
            #associated_types

            fn resource_status(&self) -> ::core::option::Option<&Self::ResourceStatus> {
                self.status.as_ref()
            }

            fn resource_status_mut(&mut self) -> &mut ::core::option::Option<Self::ResourceStatus> {
                &mut self.status
            }

            fn generation(&self) -> ::core::option::Option<i64> {
                self.metadata.generation
            }
        }
    }
}
