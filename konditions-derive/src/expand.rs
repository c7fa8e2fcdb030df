//! Code generation.
//!
//! Everything generated names its dependencies by absolute path
//! (`::konditions_core`, `::serde`, `::schemars`, `::core`, `::std`), or by
//! the paths given with `crate = "..."`, `serde = "..."`, `schemars = "..."`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Data, DataStruct, DeriveInput, Fields, GenericArgument, Ident, Member, PathArguments, Type,
    Visibility,
};

use crate::attr::{self, ResourceAttrs};
use crate::diag::{self, Errors};
use crate::kube_attr;
use crate::validate::{self, Declaration};

/// Absolute paths of the crates the generated code uses.
struct Paths {
    krate: TokenStream,
    serde: TokenStream,
    schemars: TokenStream,
}

impl Paths {
    fn new(attrs: &ResourceAttrs) -> Self {
        Self {
            krate: attrs
                .krate
                .as_ref()
                .map_or_else(|| quote!(::konditions_core), |p| quote!(#p)),
            serde: attrs
                .serde
                .as_ref()
                .map_or_else(|| quote!(::serde), |p| quote!(#p)),
            schemars: attrs
                .schemars
                .as_ref()
                .map_or_else(|| quote!(::schemars), |p| quote!(#p)),
        }
    }
}

/// Where the resource's root struct and status come from.
struct Root {
    /// The root struct.
    ident: Ident,
    /// Generics of the root struct (hand-written roots only).
    generics: syn::Generics,
    /// The type inside `status: Option<...>`.
    status: Type,
    /// Name used in docs and messages (the kind, or the struct name).
    kind: String,
}

/// `#[derive(ConditionalResource)]`.
pub(crate) fn conditional_resource(input: &DeriveInput) -> syn::Result<TokenStream> {
    let data = struct_data(input, "ConditionalResource")?;

    let mut errors = Errors::default();
    let attrs = attr::parse_resource(&input.attrs, &mut errors);
    attr::reject_on_fields(&data.fields, &mut errors);

    let kube = kube_attr::kube_attrs(&input.attrs);
    let root = if kube.is_empty() {
        errors.ok(hand_written_root(input, &data.fields))
    } else {
        errors.ok(kube_attr::parse(&kube)).map(|k| Root {
            ident: k.root,
            generics: syn::Generics::default(),
            status: k.status,
            kind: k.kind,
        })
    };

    let paths = Paths::new(&attrs);
    let enum_name = attrs.enum_name.clone();
    let declaration = validate::declaration(attrs, &mut errors);
    errors.finish()?;
    let Some(root) = root else {
        // Unreachable in practice: a missing root always records an error.
        return Err(syn::Error::new_spanned(
            &input.ident,
            "konditions: cannot locate the root struct",
        ));
    };

    let mut out = TokenStream::new();
    let type_ty = match &declaration {
        Some(declaration) => {
            let name = enum_name.unwrap_or_else(|| {
                format_ident!("{}Condition", root.kind, span = root.ident.span())
            });
            out.extend(condition_enum(
                declaration,
                &name,
                &input.vis,
                &root.kind,
                &paths,
            ));
            quote!(#name)
        }
        None => {
            let krate = &paths.krate;
            let status = &root.status;
            quote!(<#status as #krate::ConditionalStatus>::Type)
        }
    };
    out.extend(resource_impl(&root, &type_ty, &paths));
    Ok(out)
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
        kind: input.ident.unraw().to_string(),
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

/// The error for a derive on an enum or a union.
/// The struct a derive is applied to; enums and unions are refused at
/// their keyword, with a hint of where the derive belongs.
fn struct_data<'a>(input: &'a DeriveInput, derive: &str) -> syn::Result<&'a DataStruct> {
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

/// `impl ConditionalResource for Root`, plus an assertion that the status
/// holds conditions, spanned at the status type so the error points there.
fn resource_impl(root: &Root, type_ty: &TokenStream, paths: &Paths) -> TokenStream {
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

/// The enum of condition types and its trait implementations.
fn condition_enum(
    declaration: &Declaration,
    name: &Ident,
    vis: &Visibility,
    kind: &str,
    paths: &Paths,
) -> TokenStream {
    let Paths {
        krate,
        serde,
        schemars,
    } = paths;
    let types = &declaration.types;
    let variants: Vec<&Ident> = types.iter().map(|t| &t.ident).collect();
    let wires: Vec<&str> = types.iter().map(|t| t.wire.as_str()).collect();
    let expected = wires.join(", ");
    let error_name = format_ident!("Parse{}Error", name.unraw(), span = name.span());

    let variant_docs = types.iter().enumerate().map(|(index, t)| {
        let mut doc = match &t.doc {
            Some(doc) => doc.value(),
            None => format!("The `{}` condition.", t.wire),
        };
        if declaration.summary == Some(index) {
            doc.push_str("\n\nThe summary condition: `True` when every dependent is in its good state, `False` when one is not, `Unknown` otherwise.");
        }
        if t.negative.is_some() {
            doc.push_str("\n\nNegative polarity: `False` is its good state.");
        }
        doc
    });

    let enum_doc = format!(
        "The condition types of `{kind}`: the `type` of the conditions in its status.\n\n\
         Generated by `#[derive(ConditionalResource)]`. Serialized as the type name (`{}`). \
         Conditions of other types (written by other controllers or by a newer version) are \
         kept by `Conditions` as foreign conditions: `ConditionType::parse` returns `None` for them.",
        wires.first().copied().unwrap_or_default()
    );
    let error_doc =
        format!("The error of parsing a string that is not a condition type of `{kind}`.");
    let all_doc = format!("Every condition type of `{kind}`, in declaration order.");
    let expecting = format!("a condition type of {kind} (one of {expected})");

    let polarity = types.iter().any(|t| t.negative.is_some()).then(|| {
        let arms = types.iter().map(|t| {
            let variant = &t.ident;
            let polarity = if t.negative.is_some() {
                quote!(Negative)
            } else {
                quote!(Positive)
            };
            quote!(Self::#variant => #krate::Polarity::#polarity)
        });
        quote! {
            fn polarity(&self) -> #krate::Polarity {
                match self {
                    #(#arms,)*
                }
            }
        }
    });
    let summary = declaration.summary.map(|index| {
        let variant = &types[index].ident;
        quote! {
            fn summary() -> ::core::option::Option<Self> {
                ::core::option::Option::Some(Self::#variant)
            }
        }
    });
    // With a summary, the dependents are always spelled out (by default,
    // every other type), so `dependents()` is a static slice.
    let dependents = declaration.summary.map(|summary| {
        let indices = declaration
            .dependents
            .clone()
            .unwrap_or_else(|| (0..types.len()).filter(|&i| i != summary).collect());
        let variants = indices.iter().map(|&i| &types[i].ident);
        quote! {
            fn dependents() -> &'static [Self] {
                &[#(Self::#variants),*]
            }
        }
    });

    quote! {
        #[doc = #enum_doc]
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::fmt::Debug,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::core::cmp::PartialOrd,
            ::core::cmp::Ord,
        )]
        #vis enum #name {
            #(
                #[doc = #variant_docs]
                #variants,
            )*
        }

        impl #name {
            #[doc = #all_doc]
            #vis const ALL: &'static [Self] = &[#(Self::#variants),*];

            /// The wire spelling of this condition type.
            #vis const fn as_str(&self) -> &'static str {
                match self {
                    #(Self::#variants => #wires,)*
                }
            }
        }

        #[automatically_derived]
        impl #krate::ConditionType for #name {
            fn as_str(&self) -> &str {
                #name::as_str(self)
            }

            fn parse(value: &str) -> ::core::option::Option<Self> {
                match value {
                    #(#wires => ::core::option::Option::Some(Self::#variants),)*
                    _ => ::core::option::Option::None,
                }
            }

            fn declared() -> &'static [Self] {
                Self::ALL
            }

            #polarity
            #summary
            #dependents
        }

        #[automatically_derived]
        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.pad(#name::as_str(self))
            }
        }

        #[automatically_derived]
        impl ::core::convert::AsRef<str> for #name {
            fn as_ref(&self) -> &str {
                #name::as_str(self)
            }
        }

        #[automatically_derived]
        impl ::core::str::FromStr for #name {
            type Err = #error_name;

            fn from_str(value: &str) -> ::core::result::Result<Self, Self::Err> {
                <Self as #krate::ConditionType>::parse(value).ok_or_else(|| #error_name {
                    value: ::std::string::String::from(value),
                })
            }
        }

        #[doc = #error_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug, ::core::cmp::PartialEq, ::core::cmp::Eq)]
        #vis struct #error_name {
            value: ::std::string::String,
        }

        impl #error_name {
            /// The string that is not a condition type.
            #vis fn value(&self) -> &str {
                &self.value
            }
        }

        #[automatically_derived]
        impl ::core::fmt::Display for #error_name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::write!(f, "`{}` is not a condition type of {} (expected one of {})", self.value, #kind, #expected)
            }
        }

        #[automatically_derived]
        impl ::std::error::Error for #error_name {}

        #[automatically_derived]
        impl #serde::Serialize for #name {
            fn serialize<S: #serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(#name::as_str(self))
            }
        }

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
                    "description": #enum_doc,
                    "type": "string",
                    "enum": [#(#wires),*],
                })
            }
        }
    }
}

/// `#[derive(ConditionalStatus)]`.
pub(crate) fn conditional_status(input: &DeriveInput) -> syn::Result<TokenStream> {
    let data = struct_data(input, "ConditionalStatus")?;
    let mut errors = Errors::default();
    let attrs = attr::parse_status(&input.attrs, &mut errors);

    let mut marked: Option<(Member, &Type)> = None;
    let mut named: Option<(Member, &Type)> = None;
    for (index, field) in data.fields.iter().enumerate() {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(index.into()),
        };
        if let Some(span) = attr::parse_status_field(&field.attrs, &mut errors) {
            if marked.is_some() {
                errors.push(diag::error(
                    span,
                    "two fields are marked `#[konditions(conditions)]`",
                    "a status holds one list of conditions: mark one field",
                ));
            }
            marked = Some((member.clone(), &field.ty));
        }
        if field.ident.as_ref().is_some_and(|i| i == "conditions") {
            named = Some((member, &field.ty));
        }
    }
    errors.finish()?;

    let Some((member, field_ty)) = marked.or(named) else {
        return Err(diag::error(
            input.ident.span(),
            format_args!("`{}` has no conditions field", input.ident),
            "add a field `pub conditions: konditions_core::Conditions<MyCondition>`, or mark the field holding the conditions with `#[konditions(conditions)]`",
        ));
    };

    let krate = attrs
        .krate
        .as_ref()
        .map_or_else(|| quote!(::konditions_core), |p| quote!(#p));
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let message = format!("the conditions field of `{ident}` is a `{{Self}}`, not a `Conditions`");
    // Everything that names the field's type is spanned at it: when it is
    // not a `Conditions`, the errors point at the field.
    let span = field_ty.span();
    let associated_types = quote_spanned! {span=>
        type Type = <#field_ty as ConditionsField>::Type;
        type Status = <#field_ty as ConditionsField>::Status;
    };
    let get = quote_spanned!(span=> <#field_ty as ConditionsField>::get(&self.#member));
    let get_mut = quote_spanned!(span=> <#field_ty as ConditionsField>::get_mut(&mut self.#member));

    Ok(quote! {
        const _: () = {
            /// Reads the condition type and status set out of the type of
            /// the conditions field.
            #[diagnostic::on_unimplemented(
                message = #message,
                label = "expected `Conditions<MyCondition>`",
                note = "the conditions field of a status is a `konditions_core::Conditions<T, S>`"
            )]
            pub trait ConditionsField {
                /// The condition type.
                type Type: #krate::ConditionType;
                /// The status set.
                type Status: #krate::ConditionStatus;
                /// The field as a `Conditions`.
                fn get(&self) -> &#krate::Conditions<Self::Type, Self::Status>;
                /// The field as a `Conditions`, mutably.
                fn get_mut(&mut self) -> &mut #krate::Conditions<Self::Type, Self::Status>;
            }

            impl<T: #krate::ConditionType, S: #krate::ConditionStatus> ConditionsField for #krate::Conditions<T, S> {
                type Type = T;
                type Status = S;
                fn get(&self) -> &Self {
                    self
                }
                fn get_mut(&mut self) -> &mut Self {
                    self
                }
            }

            #[automatically_derived]
            impl #impl_generics #krate::ConditionalStatus for #ident #ty_generics #where_clause {
                #associated_types

                fn conditions(&self) -> &#krate::Conditions<Self::Type, Self::Status> {
                    #get
                }

                fn conditions_mut(&mut self) -> &mut #krate::Conditions<Self::Type, Self::Status> {
                    #get_mut
                }
            }
        };
    })
}
