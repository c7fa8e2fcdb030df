//! schemars' `JsonSchema`: a string enum of the wire names, inlined.

use proc_macro2::TokenStream;
use quote::quote;

use super::condition_enum::ConditionEnum;

pub(super) fn expand(e: &ConditionEnum<'_>) -> TokenStream {
    let name = e.name;
    let schemars = &e.paths.schemars;
    let description = e.doc();
    let wires = e.wires();
    quote! {
        #[automatically_derived]
        impl #schemars::JsonSchema for #name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(::core::stringify!(#name))
            }

            fn schema_id() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)))
            }

            fn json_schema(_: &mut #schemars::SchemaGenerator) -> #schemars::Schema {
                #schemars::json_schema!({
                    "description": #description,
                    "type": "string",
                    "enum": [#(#wires),*],
                })
            }
        }
    }
}
