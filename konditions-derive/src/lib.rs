//! Derive macros for konditions-core. Use them through `konditions_core`,
//! which re-exports them behind its default `derive` feature.

use proc_macro::TokenStream;

/// Declares the conditions of a custom resource.
#[proc_macro_derive(ConditionalResource, attributes(konditions))]
pub fn derive_conditional_resource(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    syn::Error::new_spanned(&input.ident, "konditions: ConditionalResource is not implemented yet")
        .to_compile_error()
        .into()
}

/// Implements `ConditionalStatus` for a status struct holding conditions.
#[proc_macro_derive(ConditionalStatus, attributes(konditions))]
pub fn derive_conditional_status(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    syn::Error::new_spanned(&input.ident, "konditions: ConditionalStatus is not implemented yet")
        .to_compile_error()
        .into()
}
