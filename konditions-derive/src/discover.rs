//! Where the conditions are: the root struct of a resource and its status
//! type (read from kube's `#[kube(...)]`, or from a root struct written by
//! hand), and the conditions field of a status struct.
//!
//! Nothing here generates code; what cannot be found is reported with the
//! shape the derive expects, and comes back as `None`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Data, DataStruct, DeriveInput, Fields, GenericArgument, Ident, Member, PathArguments, Type,
};

use crate::attr;
use crate::diag::{self, Errors};
use crate::kube_attr;

/// The root struct of a resource: the type `ConditionalResource` is
/// implemented for.
pub(crate) struct Root {
    /// The root struct.
    pub(crate) ident: Ident,
    /// Generics of the root struct (hand-written roots only).
    pub(crate) generics: syn::Generics,
    /// The type inside `status: Option<...>`.
    pub(crate) status: Type,
}

/// The kind of a resource: names the generated enum and appears in its docs
/// and messages.
pub(crate) struct Kind {
    /// kube's `kind`, or the name of a hand-written root.
    pub(crate) name: String,
    /// Where the name was written (the `kind` or `root` literal, or the
    /// struct's identifier).
    pub(crate) span: Span,
}

/// What `#[derive(ConditionalResource)]` found about its resource.
pub(crate) struct Resource {
    /// `None` when `#[kube(...)]` has no usable `kind` (reported).
    pub(crate) kind: Option<Kind>,
    /// `None` when the root or its status could not be located (reported).
    pub(crate) root: Option<Root>,
}

/// The field of a status struct that holds its conditions.
pub(crate) struct ConditionsField<'a> {
    /// How the field is accessed (`conditions`, or `1` in a tuple struct).
    pub(crate) member: Member,
    /// Its type, which must be a `Conditions<T, S>`.
    pub(crate) ty: &'a Type,
}

/// The struct a derive is applied to; enums and unions are refused at
/// their keyword, with a hint of where the derive belongs.
pub(crate) fn struct_data<'a>(input: &'a DeriveInput, derive: &str) -> syn::Result<&'a DataStruct> {
    let (span, what) = match &input.data {
        Data::Struct(data) => return Ok(data),
        Data::Enum(data) => (data.enum_token.span(), "an enum"),
        Data::Union(data) => (data.union_token.span(), "a union"),
    };
    let help = if derive == "ConditionalResource" {
        "derive it on the spec struct carrying `#[kube(...)]`, or on a root struct with `metadata` and `status` fields"
    } else {
        "derive it on the status struct that holds a `conditions: Conditions<...>` field"
    };
    Err(diag::error(
        span,
        format_args!("`#[derive({derive})]` does not support {what}; it needs a struct"),
        help,
    ))
}

/// The resource of `#[derive(ConditionalResource)]`: from `#[kube(...)]`
/// when the struct has one (it is the spec), else the struct itself.
pub(crate) fn resource(input: &DeriveInput, fields: &Fields, errors: &Errors) -> Resource {
    let kube = kube_attr::kube_attrs(&input.attrs);
    if kube.is_empty() {
        return Resource {
            kind: Some(Kind {
                name: input.ident.unraw().to_string(),
                span: input.ident.span(),
            }),
            root: errors.ok(hand_written_root(input, fields)),
        };
    }
    let kube = kube_attr::parse(&kube, errors);
    let kind = kube.kind.map(|name| Kind {
        name,
        span: kube
            .root
            .as_ref()
            .map_or_else(|| input.ident.span(), Ident::span),
    });
    let root = kube.root.zip(kube.status).map(|(ident, status)| Root {
        ident,
        generics: syn::Generics::default(),
        status,
    });
    Resource { kind, root }
}

/// A root struct written by hand: `metadata`, `status: Option<...>`.
fn hand_written_root(input: &DeriveInput, fields: &Fields) -> syn::Result<Root> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| i == name))
    };
    let shape_help = "derive `ConditionalResource` on the spec struct of kube's `#[derive(CustomResource)]` (it reads `#[kube(...)]`), or on a root struct with fields `metadata: ObjectMeta` and `status: Option<MyStatus>`";
    let Some(status) = field("status") else {
        return Err(diag::error(
            input.ident.span(),
            format_args!(
                "`{}` has no `#[kube(...)]` attribute and no `status` field",
                input.ident
            ),
            shape_help,
        ));
    };
    if field("metadata").is_none() {
        return Err(diag::error(
            input.ident.span(),
            format_args!("`{}` has no `metadata` field", input.ident),
            shape_help,
        ));
    }
    let Some(inner) = option_inner(&status.ty) else {
        return Err(diag::error(
            status.ty.span(),
            "the `status` field must be an `Option<...>`",
            "a resource has no status until its controller writes one: declare `status: Option<MyStatus>`",
        ));
    };
    Ok(Root {
        ident: input.ident.clone(),
        generics: input.generics.clone(),
        status: inner.clone(),
    })
}

/// `T` of `Option<T>` (also `std::option::Option<T>` and friends).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// The conditions field of a status struct: the one marked
/// `#[konditions(conditions)]`, else the one named `conditions`.
pub(crate) fn conditions_field<'a>(
    input: &DeriveInput,
    data: &'a DataStruct,
    errors: &Errors,
) -> Option<ConditionsField<'a>> {
    let mut marked: Option<ConditionsField<'a>> = None;
    let mut named: Option<ConditionsField<'a>> = None;
    let mut attributed = false;
    for (index, field) in data.fields.iter().enumerate() {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(index.into()),
        };
        attributed |= field.attrs.iter().any(attr::is_konditions);
        if let Some(span) = attr::parse_status_field(&field.attrs, errors) {
            if marked.is_some() {
                errors.push(diag::error(
                    span,
                    "two fields are marked `#[konditions(conditions)]`",
                    "a status holds one list of conditions: mark one field",
                ));
            } else {
                marked = Some(ConditionsField {
                    member: member.clone(),
                    ty: &field.ty,
                });
            }
        }
        if field.ident.as_ref().is_some_and(|i| i == "conditions") {
            named = Some(ConditionsField {
                member,
                ty: &field.ty,
            });
        }
    }
    let found = marked.or(named);
    // A field attribute that did not parse is the likelier problem; it is
    // reported already.
    if found.is_none() && !attributed {
        errors.push(diag::error(
            input.ident.span(),
            format_args!("`{}` has no conditions field", input.ident),
            "add a field `pub conditions: konditions_core::Conditions<MyCondition>`, or mark the field holding the conditions with `#[konditions(conditions)]`",
        ));
    }
    found
}
