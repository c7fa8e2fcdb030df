//! Generation from the checked form ([`crate::ast`]), one generator per
//! trait in the submodules.
//!
//! Everything generated names its dependencies by absolute path
//! (`::konditions_core`, `::core`, `::std`), or by the path given with
//! `crate = "..."`. serde and schemars are reached through konditions-core
//! (`<crate>::__private_v<major>_<minor>::serde`), so users need neither as a direct
//! dependency; the deprecated `serde = "..."` and `schemars = "..."` still
//! override those paths, with a warning.
//!
//! The checked form always generates code that compiles, also after a
//! failed check (see [`crate::ast`]): the errors come first and these items
//! follow anyway (as thiserror's fallback does), so the user's code naming
//! the enum or calling the accessors adds no errors of its own.
//!
//! A new trait implementation of the enum is a function in
//! `condition_enum.rs` (or its own module), called from
//! [`ConditionEnum::expand`]; a new method of `ConditionType` goes into
//! `condition_type.rs`.

mod condition_enum;
mod condition_type;
mod json_schema;
mod lock_enum;
mod resource;
mod serialization;
mod status;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{self, ConditionTypeSource, DeprecatedKey};
use crate::diag;
use condition_enum::ConditionEnum;

/// `#[derive(ConditionalResource)]`: the warnings of deprecated keys, the
/// enum (when types are declared) and `impl ConditionalResource` (when the
/// root and the condition type are known).
pub(crate) fn resource(resource: &ast::Resource) -> TokenStream {
    let paths = &resource.paths;
    let mut out: TokenStream = resource.deprecated.iter().map(deprecated).collect();
    let type_ty = match &resource.condition_type {
        ConditionTypeSource::Generated(generated) => {
            out.extend(ConditionEnum::new(generated, paths).expand());
            let name = &generated.name;
            Some(quote!(#name))
        }
        ConditionTypeSource::OfStatus => resource.root.as_ref().map(|root| {
            let krate = &paths.krate;
            let status = &root.status;
            quote!(<#status as #krate::ConditionalStatus>::Type)
        }),
        ConditionTypeSource::Unnamed => None,
    };
    if let (Some(root), Some(type_ty)) = (&resource.root, type_ty) {
        out.extend(resource::expand(root, &type_ty, paths));
    }
    out
}

/// `#[derive(ConditionalStatus)]`: `impl ConditionalStatus`.
pub(crate) fn status(status: &ast::Status<'_>) -> TokenStream {
    status::expand(status)
}

/// The warning of a deprecated key.
fn deprecated(key: &DeprecatedKey) -> TokenStream {
    let name = key.key;
    let note = format!(
        "`{name} = \"...\"` is no longer needed: the derive reaches {name} through konditions-core (at the path of `crate = \"...\"`); delete it, it will be removed"
    );
    diag::deprecated(key.span, name, &note)
}
