//! From syn to what a derive was given, unchecked: the `#[konditions(...)]`
//! attributes (`attr`), kube's `#[kube(...)]` (`kube_attr`), the naming of
//! serde's `#[serde(...)]` (`serde_attr`), and where the conditions are
//! (`discover`: the root struct, its status, the fields of a status).
//!
//! Parsing reports what cannot be read (syntax, unknown keys, a missing
//! `status`) and recovers where it can; the rules about what was read
//! are `check`'s.

mod attr;
mod discover;
mod kube_attr;
mod serde_attr;

use syn::{DeriveInput, Visibility};

pub(crate) use attr::{Dependents, Flag, ResourceAttrs, StalledReasons, TypeDecl, Types};
pub(crate) use discover::{Kind, Root, StatusField};

use crate::diag::Errors;

/// What `#[derive(ConditionalResource)]` was given.
pub(crate) struct Resource<'a> {
    /// The struct's visibility, the generated enum's.
    pub(crate) vis: &'a Visibility,
    /// `#[konditions(...)]`.
    pub(crate) attrs: ResourceAttrs,
    /// The kind, `None` when `#[kube(...)]` has no usable one (reported).
    pub(crate) kind: Option<Kind>,
    /// The root struct, `None` when it could not be located (reported).
    pub(crate) root: Option<Root>,
}

/// Reads `#[derive(ConditionalResource)]`'s input; `None` when it is not a
/// struct (reported).
pub(crate) fn resource<'a>(input: &'a DeriveInput, errors: &Errors) -> Option<Resource<'a>> {
    let data = errors.ok(discover::struct_data(input, "ConditionalResource"))?;
    let attrs = attr::parse_resource(&input.attrs, errors);
    attr::reject_on_fields(&data.fields, errors);
    let discover::Located { kind, root } = discover::resource(input, &data.fields, errors);
    Some(Resource {
        vis: &input.vis,
        attrs,
        kind,
        root,
    })
}

/// What `#[derive(ConditionalStatus)]` was given.
pub(crate) struct Status<'a> {
    /// The status struct.
    pub(crate) input: &'a DeriveInput,
    /// Path of konditions-core (`crate = "..."`).
    pub(crate) krate: Option<syn::Path>,
    /// The conditions field, `None` when missing (reported).
    pub(crate) conditions: Option<StatusField<'a>>,
    /// The `observedGeneration` field, `None` when opted out or missing
    /// (reported).
    pub(crate) observed_generation: Option<StatusField<'a>>,
}

/// Reads `#[derive(ConditionalStatus)]`'s input; `None` when it is not a
/// struct (reported).
pub(crate) fn status<'a>(input: &'a DeriveInput, errors: &Errors) -> Option<Status<'a>> {
    let data = errors.ok(discover::struct_data(input, "ConditionalStatus"))?;
    let attrs = attr::parse_status(&input.attrs, errors);
    let fields = discover::status_fields(input, data, &attrs, errors);
    Some(Status {
        input,
        krate: attrs.krate,
        conditions: fields.conditions,
        observed_generation: fields.observed_generation,
    })
}

/// The `#[konditions(...)]` of one attribute, for the checks' tests.
#[cfg(test)]
pub(crate) fn resource_attrs(attr: syn::Attribute, errors: &Errors) -> ResourceAttrs {
    attr::parse_resource(&[attr], errors)
}
