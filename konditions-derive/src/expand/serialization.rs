//! serde's `Serialize` and `Deserialize`: the enum is its wire name.

use proc_macro2::TokenStream;
use quote::quote;

use super::condition_enum::ConditionEnum;

/// Writes the wire name.
pub(super) fn impl_serialize(e: &ConditionEnum<'_>) -> TokenStream {
    let name = e.name;
    let serde = &e.paths.serde;
    quote! {
        #[automatically_derived]
        impl #serde::Serialize for #name {
            fn serialize<S: #serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(#name::as_str(self))
            }
        }
    }
}

/// Accepts the wire names only; anything else is serde's "unknown variant"
/// with the list of names.
pub(super) fn impl_deserialize(e: &ConditionEnum<'_>) -> TokenStream {
    let name = e.name;
    let serde = &e.paths.serde;
    let krate = &e.paths.krate;
    let wires = e.wires();
    let expecting = format!("a condition type of {} (one of {})", e.kind, e.expected());
    quote! {
        #[automatically_derived]
        impl<'de> #serde::Deserialize<'de> for #name {
            fn deserialize<D: #serde::Deserializer<'de>>(deserializer: D) -> ::core::result::Result<Self, D::Error> {
                const NAMES: &[&str] = &[#(#wires),*];
                struct Visitor;
                impl #serde::de::Visitor<'_> for Visitor {
                    type Value = #name;

                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str(#expecting)
                    }

                    fn visit_str<E: #serde::de::Error>(self, value: &str) -> ::core::result::Result<#name, E> {
                        <#name as #krate::ConditionType>::parse(value)
                            .ok_or_else(|| E::unknown_variant(value, NAMES))
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }
    }
}
