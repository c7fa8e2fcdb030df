//! The two derives, end to end: parse the attributes, find the root and the
//! conditions field (`discover`), check the declaration (`validate`), then
//! run one generator per trait (the submodules).
//!
//! Everything generated names its dependencies by absolute path
//! (`::konditions_core`, `::core`, `::std`), or by the path given with
//! `crate = "..."`. serde and schemars are reached through konditions-core
//! (`<crate>::__private::serde`), so users need neither as a direct
//! dependency; the deprecated `serde = "..."` and `schemars = "..."` still
//! override those paths, with a warning.
//!
//! When a check fails, the errors come first and the items follow anyway
//! (as thiserror's fallback does): a declaration always generates code
//! that compiles (see [`validate::Declaration`]), so the user's code naming
//! the enum or calling the accessors adds no errors of its own.
//!
//! A new trait implementation of the enum is a function in
//! `condition_enum.rs` (or its own module), called from
//! [`ConditionEnum::expand`]; a new method of `ConditionType` goes into
//! `condition_type.rs`.

mod condition_enum;
mod condition_type;
mod json_schema;
mod resource;
mod serialization;
mod status;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{DeriveInput, Ident, Path};

use crate::attr::{self, ResourceAttrs};
use crate::diag::{self, Errors};
use crate::discover;
use crate::validate;
use condition_enum::ConditionEnum;

/// Paths of the crates the generated code uses.
pub(crate) struct Paths {
    /// konditions-core.
    pub(crate) krate: TokenStream,
    /// serde.
    pub(crate) serde: TokenStream,
    /// schemars.
    pub(crate) schemars: TokenStream,
}

impl Paths {
    /// konditions-core at `crate = "..."` or `::konditions_core`; serde and
    /// schemars through its hidden re-exports, unless given.
    fn new(krate: Option<&Path>, serde: Option<&Path>, schemars: Option<&Path>) -> Self {
        let krate = krate.map_or_else(|| quote!(::konditions_core), |path| quote!(#path));
        let reexported = |given: Option<&Path>, name: &str| match given {
            Some(path) => quote!(#path),
            None => {
                let name = Ident::new(name, Span::call_site());
                quote!(#krate::__private::#name)
            }
        };
        Self {
            serde: reexported(serde, "serde"),
            schemars: reexported(schemars, "schemars"),
            krate,
        }
    }
}

/// `#[derive(ConditionalResource)]`.
pub(crate) fn conditional_resource(input: &DeriveInput) -> TokenStream {
    run(input, resource_items)
}

/// `#[derive(ConditionalStatus)]`.
pub(crate) fn conditional_status(input: &DeriveInput) -> TokenStream {
    run(input, status_items)
}

/// Runs a derive: its items alone, or the errors recorded and then the
/// items anyway.
fn run(input: &DeriveInput, items: fn(&DeriveInput, &Errors) -> TokenStream) -> TokenStream {
    let errors = Errors::new();
    let items = items(input, &errors);
    match errors.check() {
        Ok(()) => items,
        Err(error) => diag::with_errors(error, items),
    }
}

/// The enum (when types are declared) and `impl ConditionalResource`, as
/// far as the input allows.
fn resource_items(input: &DeriveInput, errors: &Errors) -> TokenStream {
    let Some(data) = errors.ok(discover::struct_data(input, "ConditionalResource")) else {
        return TokenStream::new();
    };
    let attrs = attr::parse_resource(&input.attrs, errors);
    attr::reject_on_fields(&data.fields, errors);
    let resource = discover::resource(input, &data.fields, errors);

    let paths = Paths::new(
        attrs.krate.as_ref(),
        attrs.serde.as_ref().map(|(_, path)| path),
        attrs.schemars.as_ref().map(|(_, path)| path),
    );
    let mut out = deprecated_paths(&attrs);
    let enum_name = attrs.enum_name.clone().or_else(|| {
        let kind = resource.kind.as_ref()?;
        Some(format_ident!("{}Condition", kind.name, span = kind.span))
    });
    let declaration = validate::declaration(attrs, errors);

    let type_ty = match (&declaration, enum_name) {
        (Some(declaration), Some(name)) => {
            let kind = resource
                .kind
                .as_ref()
                .map_or_else(|| name.to_string(), |kind| kind.name.clone());
            out.extend(
                ConditionEnum {
                    name: &name,
                    vis: &input.vis,
                    kind: &kind,
                    paths: &paths,
                    declaration,
                }
                .expand(),
            );
            Some(quote!(#name))
        }
        // Types are declared, but the kind that names their enum is not
        // known (reported by `discover`).
        (Some(_), None) => None,
        (None, _) => resource.root.as_ref().map(|root| {
            let krate = &paths.krate;
            let status = &root.status;
            quote!(<#status as #krate::ConditionalStatus>::Type)
        }),
    };
    if let (Some(root), Some(type_ty)) = (&resource.root, type_ty) {
        out.extend(resource::expand(root, &type_ty, &paths));
    }
    out
}

/// A warning at each `serde = "..."` and `schemars = "..."`: the generated
/// code reaches both through konditions-core, so the keys have no use left.
fn deprecated_paths(attrs: &ResourceAttrs) -> TokenStream {
    [(&attrs.serde, "serde"), (&attrs.schemars, "schemars")]
        .into_iter()
        .filter_map(|(key, name)| {
            let (span, _) = key.as_ref()?;
            let note = format!(
                "`{name} = \"...\"` is no longer needed: the derive reaches {name} through konditions-core (at the path of `crate = \"...\"`); delete it, it will be removed"
            );
            Some(diag::deprecated(*span, name, &note))
        })
        .collect()
}

/// `impl ConditionalStatus`, when the conditions field is found (with
/// `observedGeneration` when that is found too).
fn status_items(input: &DeriveInput, errors: &Errors) -> TokenStream {
    let Some(data) = errors.ok(discover::struct_data(input, "ConditionalStatus")) else {
        return TokenStream::new();
    };
    let attrs = attr::parse_status(&input.attrs, errors);
    let fields = discover::status_fields(input, data, &attrs, errors);
    let Some(conditions) = fields.conditions else {
        return TokenStream::new();
    };
    let paths = Paths::new(attrs.krate.as_ref(), None, None);
    status::expand(
        input,
        &conditions,
        fields.observed_generation.as_ref(),
        &paths.krate,
    )
}
