//! `impl ConditionalResource` for the root struct.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Paths;
use crate::parse::Root;

/// `impl ConditionalResource for Root`. `type_ty` is the condition type:
/// the generated enum, or the status's.
pub(super) fn expand(root: &Root, type_ty: &TokenStream, paths: &Paths) -> TokenStream {
    let krate = &paths.krate;
    let ident = &root.ident;
    let status = &root.status;
    let (impl_generics, ty_generics, where_clause) = root.generics.split_for_impl();

    // Spanned at the status type: when it does not implement
    // `ConditionalStatus`, every error points at the same place.
    let associated_types = quote_spanned! {status.span()=>
        type Type = #type_ty;
        type Status = <#status as #krate::ConditionalStatus>::Status;
        type ResourceStatus = #status;
    };

    quote! {
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
