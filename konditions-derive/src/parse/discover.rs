//! Where the conditions are: the root struct of a resource and its status
//! type (read from kube's `#[kube(...)]`, or from a root struct written by
//! hand), and the fields of a status struct that hold its conditions and
//! its `observedGeneration`.
//!
//! Nothing here generates code; what cannot be found is reported with the
//! shape the derive expects, and comes back as `None`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Data, DataStruct, DeriveInput, Fields, GenericArgument, Ident, Member, PathArguments, Type,
};

use super::attr::{self, StatusAttrs};
use super::kube_attr;
use super::serde_attr;
use crate::diag::{self, Errors};

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
pub(crate) struct Located {
    /// `None` when `#[kube(...)]` has no usable `kind` (reported).
    pub(crate) kind: Option<Kind>,
    /// `None` when the root or its status could not be located (reported).
    pub(crate) root: Option<Root>,
}

/// A field of a status struct the derive wires: its conditions, or its
/// `observedGeneration`.
pub(crate) struct StatusField<'a> {
    /// How the field is accessed (`conditions`, or `1` in a tuple struct).
    pub(crate) member: Member,
    /// The field; its type is a `Conditions<T, S>`, or an `Option<i64>`.
    pub(crate) field: &'a syn::Field,
}

/// The fields of a status struct the derive wires.
pub(crate) struct StatusFields<'a> {
    /// The conditions (`None` when missing, reported).
    pub(crate) conditions: Option<StatusField<'a>>,
    /// `status.observedGeneration` (`None` when opted out, or missing and
    /// reported).
    pub(crate) observed_generation: Option<StatusField<'a>>,
}

/// The name of the field that holds `status.observedGeneration`.
const OBSERVED_GENERATION: &str = "observed_generation";

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
pub(crate) fn resource(input: &DeriveInput, fields: &Fields, errors: &Errors) -> Located {
    let kube = kube_attr::kube_attrs(&input.attrs);
    if kube.is_empty() {
        return Located {
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
    Located { kind, root }
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

/// The fields of a status struct: for each of the conditions and
/// `observedGeneration`, the one marked (`#[konditions(conditions)]`,
/// `#[konditions(observed_generation)]`), else the one of that name. The
/// conditions field is required; `observedGeneration` too, unless opted out
/// with `observed_generation = false`.
pub(crate) fn status_fields<'a>(
    input: &DeriveInput,
    data: &'a DataStruct,
    attrs: &StatusAttrs,
    errors: &Errors,
) -> StatusFields<'a> {
    let mut conditions = Found::new(
        "conditions",
        "a status holds one list of conditions: mark one field",
    );
    let mut generation = Found::new(
        OBSERVED_GENERATION,
        "a status has one `observedGeneration`: mark one field",
    );
    let mut failed = false;
    for (index, field) in data.fields.iter().enumerate() {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(index.into()),
        };
        let markers = attr::parse_status_field(&field.attrs, errors);
        failed |= markers.failed;
        let name = field.ident.as_ref().map(|i| i.unraw().to_string());
        conditions.see(markers.conditions, name.as_deref(), &member, field, errors);
        generation.see(
            markers.observed_generation,
            name.as_deref(),
            &member,
            field,
            errors,
        );
    }
    // A field attribute that did not parse is the likelier problem; it is
    // reported already.
    let conditions = conditions.field();
    if conditions.is_none() && !failed {
        errors.push(diag::error(
            input.ident.span(),
            format_args!("`{}` has no conditions field", input.ident),
            "add a field `pub conditions: konditions_core::Conditions<MyCondition>`, or mark the field holding the conditions with `#[konditions(conditions)]`",
        ));
    }
    let observed_generation = match attrs.observed_generation {
        Some(flag) if !flag.value => {
            if let Some(marker) = generation.marker {
                errors.push(diag::error(
                    marker,
                    "a field is marked `#[konditions(observed_generation)]`, but the struct opts out with `observed_generation = false`",
                    "remove the marker, or remove `observed_generation = false` so that `update_summary` maintains the field",
                ));
            }
            None
        }
        _ => {
            let found = generation.field();
            // A key of the struct that did not parse may be a misspelt
            // opt-out; it is reported already.
            if found.is_none() && !failed && !attrs.failed {
                errors.push(missing_observed_generation(input, data));
            }
            if let Some(field) = &found {
                errors.ok(serde_attr::check_name(
                    input,
                    data,
                    field.field,
                    "observedGeneration",
                ));
            }
            found
        }
    };
    StatusFields {
        conditions,
        observed_generation,
    }
}

/// The candidates for one wired field of a status struct.
struct Found<'a> {
    /// The marker, which is also the conventional field name.
    name: &'static str,
    /// Why one field only, for a second marker.
    once: &'static str,
    /// The span of the first marker.
    marker: Option<Span>,
    /// The field of the first marker.
    marked: Option<StatusField<'a>>,
    /// The field of the conventional name.
    named: Option<StatusField<'a>>,
}

impl<'a> Found<'a> {
    fn new(name: &'static str, once: &'static str) -> Self {
        Self {
            name,
            once,
            marker: None,
            marked: None,
            named: None,
        }
    }

    /// Takes note of `field` (named `name`), marked at `marker` or not.
    fn see(
        &mut self,
        marker: Option<Span>,
        name: Option<&str>,
        member: &Member,
        field: &'a syn::Field,
        errors: &Errors,
    ) {
        let this = || StatusField {
            member: member.clone(),
            field,
        };
        if let Some(span) = marker {
            if self.marked.is_some() {
                errors.push(diag::error(
                    span,
                    format_args!("two fields are marked `#[konditions({})]`", self.name),
                    self.once,
                ));
            } else {
                self.marker = Some(span);
                self.marked = Some(this());
            }
        }
        if name == Some(self.name) {
            self.named = Some(this());
        }
    }

    /// The marked field, else the named one.
    fn field(self) -> Option<StatusField<'a>> {
        self.marked.or(self.named)
    }
}

/// The error for a status without `observedGeneration`, with both ways
/// out. The field suggested serializes as `observedGeneration` under the
/// struct's own serde naming, when it is visible.
fn missing_observed_generation(input: &DeriveInput, data: &DataStruct) -> syn::Error {
    const OPTIONAL: &str = "default, skip_serializing_if = \"Option::is_none\"";
    const RENAMED: &str = "rename = \"observedGeneration\"";
    let tuple = matches!(data.fields, Fields::Unnamed(_));
    let declaration = if tuple {
        "a field `Option<i64>` marked `#[konditions(observed_generation)]`".to_owned()
    } else if !serde_attr::in_use(input, data) {
        format!(
            "`pub observed_generation: Option<i64>`, serialized as `observedGeneration` (with serde's derive: `#[serde({RENAMED}, {OPTIONAL})]`)"
        )
    } else if serde_attr::renames_to(input, OBSERVED_GENERATION, "observedGeneration") {
        format!("`#[serde({OPTIONAL})] pub observed_generation: Option<i64>`")
    } else {
        format!("`#[serde({RENAMED}, {OPTIONAL})] pub observed_generation: Option<i64>`")
    };
    diag::error(
        input.ident.span(),
        format_args!(
            "`{}` has no `observed_generation` field: kstatus (Flux, Argo CD, kpt) cannot tell a reconciled generation from a stale one without `status.observedGeneration`",
            input.ident
        ),
        format_args!(
            "add {declaration}, which `update_summary` sets to the generation the summary was computed for; or opt out with `#[konditions(observed_generation = false)]` on the struct"
        ),
    )
}
