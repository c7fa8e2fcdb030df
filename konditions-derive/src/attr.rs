//! Parsing of `#[konditions(...)]` attributes.
//!
//! Parsing only checks syntax; the rules about names (pattern, conventions,
//! duplicates, summary and dependents) live in `validate`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitStr, Path, Token, token};

use crate::diag::{self, Errors, did_you_mean, one_of};

/// The attribute name shared by both derives.
const ATTR: &str = "konditions";

/// Keys of `#[konditions(...)]` on the struct deriving `ConditionalResource`.
const RESOURCE_KEYS: &[&str] = &[
    "types",
    "summary",
    "dependents",
    "enum_name",
    "crate",
    "serde",
    "schemars",
];
/// Keys of `#[konditions(...)]` on the struct deriving `ConditionalStatus`.
const STATUS_KEYS: &[&str] = &["crate"];
/// Options of one entry of `types(...)`.
const TYPE_OPTIONS: &[&str] = &[
    "negative",
    "allow_progressive",
    "allow_negated",
    "rename",
    "doc",
];

/// One declared condition type.
pub(crate) struct TypeDecl {
    /// The enum variant.
    pub(crate) ident: Ident,
    /// The wire spelling (`rename`, or the identifier).
    pub(crate) wire: String,
    /// Where diagnostics about the wire spelling point.
    pub(crate) wire_span: Span,
    /// `negative`: `False` is the good state.
    pub(crate) negative: Option<Span>,
    /// `allow_progressive`: keep an "-ing" name.
    pub(crate) allow_progressive: bool,
    /// `allow_negated`: keep a negated name.
    pub(crate) allow_negated: bool,
    /// `doc = "..."`: documentation of the variant.
    pub(crate) doc: Option<LitStr>,
    /// Whether `rename = "..."` was given.
    pub(crate) renamed: bool,
}

impl TypeDecl {
    /// A type declared by its identifier only.
    pub(crate) fn plain(ident: Ident) -> Self {
        Self {
            wire: ident.unraw().to_string(),
            wire_span: ident.span(),
            ident,
            negative: None,
            allow_progressive: false,
            allow_negated: false,
            doc: None,
            renamed: false,
        }
    }
}

/// `#[konditions(...)]` on the struct deriving `ConditionalResource`.
#[derive(Default)]
pub(crate) struct ResourceAttrs {
    /// `types(...)`, with the span of the `types` key.
    pub(crate) types: Option<(Span, Vec<TypeDecl>)>,
    /// `summary = Name`.
    pub(crate) summary: Option<Ident>,
    /// `dependents(...)`, with the span of the `dependents` key.
    pub(crate) dependents: Option<(Span, Vec<Ident>)>,
    /// `enum_name = Name`.
    pub(crate) enum_name: Option<Ident>,
    /// `crate = "path"`.
    pub(crate) krate: Option<Path>,
    /// `serde = "path"`.
    pub(crate) serde: Option<Path>,
    /// `schemars = "path"`.
    pub(crate) schemars: Option<Path>,
}

/// `#[konditions(...)]` on the struct deriving `ConditionalStatus`.
#[derive(Default)]
pub(crate) struct StatusAttrs {
    /// `crate = "path"`.
    pub(crate) krate: Option<Path>,
}

/// Whether `attr` is one of ours.
pub(crate) fn is_konditions(attr: &Attribute) -> bool {
    attr.path().is_ident(ATTR)
}

/// Parses the container attributes of `#[derive(ConditionalResource)]`.
pub(crate) fn parse_resource(attrs: &[Attribute], errors: &mut Errors) -> ResourceAttrs {
    let mut out = ResourceAttrs::default();
    for attr in attrs.iter().filter(|a| is_konditions(a)) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            let span = meta.path.span();
            match key.as_str() {
                "types" => {
                    reject_duplicate(out.types.is_some(), &meta.path)?;
                    let content = parenthesized(&meta, "types(TableReady, RowWritten)")?;
                    out.types = Some((span, parse_type_entries(&content)?));
                }
                "summary" => {
                    reject_duplicate(out.summary.is_some(), &meta.path)?;
                    out.summary = Some(ident_value(&meta, "summary = Ready")?);
                }
                "dependents" => {
                    reject_duplicate(out.dependents.is_some(), &meta.path)?;
                    let content = parenthesized(&meta, "dependents(TableReady, RowWritten)")?;
                    let names = content.parse_terminated(Ident::parse, Token![,])?;
                    out.dependents = Some((span, names.into_iter().collect()));
                }
                "enum_name" => {
                    reject_duplicate(out.enum_name.is_some(), &meta.path)?;
                    out.enum_name = Some(ident_value(&meta, "enum_name = MyCondition")?);
                }
                "crate" => {
                    reject_duplicate(out.krate.is_some(), &meta.path)?;
                    out.krate = Some(path_value(&meta, "crate = \"my_crate::konditions\"")?);
                }
                "serde" => {
                    reject_duplicate(out.serde.is_some(), &meta.path)?;
                    out.serde = Some(path_value(&meta, "serde = \"my_crate::serde\"")?);
                }
                "schemars" => {
                    reject_duplicate(out.schemars.is_some(), &meta.path)?;
                    out.schemars = Some(path_value(&meta, "schemars = \"my_crate::schemars\"")?);
                }
                "conditions" => {
                    return Err(diag::error(
                        span,
                        "`conditions` marks the conditions field of a status struct",
                        "put `#[konditions(conditions)]` on a field of the struct deriving `ConditionalStatus`",
                    ));
                }
                _ => return Err(unknown_key(&meta.path, &key, RESOURCE_KEYS, "#[derive(ConditionalResource)]")),
            }
            Ok(())
        });
        errors.ok(result);
    }
    out
}

/// Parses the container attributes of `#[derive(ConditionalStatus)]`.
pub(crate) fn parse_status(attrs: &[Attribute], errors: &mut Errors) -> StatusAttrs {
    let mut out = StatusAttrs::default();
    for attr in attrs.iter().filter(|a| is_konditions(a)) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            match key.as_str() {
                "crate" => {
                    reject_duplicate(out.krate.is_some(), &meta.path)?;
                    out.krate = Some(path_value(&meta, "crate = \"my_crate::konditions\"")?);
                    Ok(())
                }
                "types" | "summary" | "dependents" | "enum_name" => Err(diag::error(
                    meta.path.span(),
                    format!("`{key}` declares conditions of a resource, not of its status"),
                    "move it to the `#[konditions(...)]` of the struct deriving `ConditionalResource` (the spec struct carrying `#[kube(...)]`, or the root struct)",
                )),
                _ => Err(unknown_key(&meta.path, &key, STATUS_KEYS, "#[derive(ConditionalStatus)]")),
            }
        });
        errors.ok(result);
    }
    out
}

/// Whether a field of a status struct carries `#[konditions(conditions)]`.
/// Returns the span of the marker.
pub(crate) fn parse_status_field(attrs: &[Attribute], errors: &mut Errors) -> Option<Span> {
    let mut marker = None;
    for attr in attrs.iter().filter(|a| is_konditions(a)) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            if key == "conditions" {
                reject_duplicate(marker.is_some(), &meta.path)?;
                marker = Some(meta.path.span());
                Ok(())
            } else {
                Err(unknown_key(
                    &meta.path,
                    &key,
                    &["conditions"],
                    "a field of #[derive(ConditionalStatus)]",
                ))
            }
        });
        errors.ok(result);
    }
    marker
}

/// Rejects `#[konditions(...)]` where it means nothing (fields of a resource).
pub(crate) fn reject_on_fields(fields: &syn::Fields, errors: &mut Errors) {
    for field in fields {
        for attr in field.attrs.iter().filter(|a| is_konditions(a)) {
            errors.push(diag::error_spanned(
                attr,
                "`#[derive(ConditionalResource)]` takes no field attributes",
                "declare the conditions on the struct: `#[konditions(types(...))]`; `#[konditions(conditions)]` belongs on the conditions field of the status struct",
            ));
        }
    }
}

/// The entries of `types(...)`: `Name` or `Name(option, ...)`.
fn parse_type_entries(input: ParseStream<'_>) -> syn::Result<Vec<TypeDecl>> {
    let mut entries = Vec::new();
    while !input.is_empty() {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            return Err(diag::error(
                lit.span(),
                "a condition type is declared as an identifier, not a string",
                format_args!(
                    "write `{}`; for a wire name that is not a Rust identifier, write `MyName(rename = {:?})`",
                    lit.value(),
                    lit.value()
                ),
            ));
        }
        let ident: Ident = input.parse()?;
        let mut decl = TypeDecl::plain(ident);
        if input.peek(token::Paren) {
            let options;
            syn::parenthesized!(options in input);
            parse_type_options(&options, &mut decl)?;
        }
        entries.push(decl);
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(entries)
}

/// The options of one entry of `types(...)`.
fn parse_type_options(input: ParseStream<'_>, decl: &mut TypeDecl) -> syn::Result<()> {
    while !input.is_empty() {
        let key = Ident::parse_any(input)?;
        let name = key.unraw().to_string();
        match name.as_str() {
            "negative" => {
                reject_duplicate_ident(decl.negative.is_some(), &key)?;
                decl.negative = Some(key.span());
            }
            "allow_progressive" => {
                reject_duplicate_ident(decl.allow_progressive, &key)?;
                decl.allow_progressive = true;
            }
            "allow_negated" => {
                reject_duplicate_ident(decl.allow_negated, &key)?;
                decl.allow_negated = true;
            }
            "rename" => {
                reject_duplicate_ident(decl.renamed, &key)?;
                decl.renamed = true;
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                decl.wire = lit.value();
                decl.wire_span = lit.span();
            }
            "doc" => {
                reject_duplicate_ident(decl.doc.is_some(), &key)?;
                input.parse::<Token![=]>()?;
                decl.doc = Some(input.parse()?);
            }
            _ => {
                let hint = match did_you_mean(&name, TYPE_OPTIONS) {
                    Some(close) => format!(
                        "did you mean `{close}`? The options of a condition type are {}",
                        one_of(TYPE_OPTIONS)
                    ),
                    None => format!(
                        "the options of a condition type are {}",
                        one_of(TYPE_OPTIONS)
                    ),
                };
                return Err(diag::error(
                    key.span(),
                    format_args!(
                        "unknown option `{name}` of condition type `{}`",
                        decl.ident.unraw()
                    ),
                    hint,
                ));
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

/// The content of `key(...)`, or an error showing the expected form.
fn parenthesized<'a>(
    meta: &syn::meta::ParseNestedMeta<'a>,
    example: &str,
) -> syn::Result<syn::parse::ParseBuffer<'a>> {
    if !meta.input.peek(token::Paren) {
        return Err(diag::error(
            meta.path.span(),
            format_args!("`{}` takes a parenthesized list", path_name(&meta.path)),
            format_args!("write `{example}`"),
        ));
    }
    let content;
    syn::parenthesized!(content in meta.input);
    Ok(content)
}

/// The identifier of `key = Ident`.
fn ident_value(meta: &syn::meta::ParseNestedMeta<'_>, example: &str) -> syn::Result<Ident> {
    let key = path_name(&meta.path);
    if !meta.input.peek(Token![=]) {
        return Err(diag::error(
            meta.path.span(),
            format_args!("`{key}` takes a value"),
            format_args!("write `{example}`"),
        ));
    }
    let value = meta.value()?;
    if value.peek(LitStr) {
        let lit: LitStr = value.parse()?;
        return Err(diag::error(
            lit.span(),
            format_args!("`{key}` takes an identifier, not a string"),
            format_args!("write `{key} = {}`", lit.value()),
        ));
    }
    value.parse()
}

/// The path of `key = "path"` (the serde convention for crate paths).
fn path_value(meta: &syn::meta::ParseNestedMeta<'_>, example: &str) -> syn::Result<Path> {
    let key = path_name(&meta.path);
    if !meta.input.peek(Token![=]) {
        return Err(diag::error(
            meta.path.span(),
            format_args!("`{key}` takes a value"),
            format_args!("write `{example}`"),
        ));
    }
    let lit: LitStr = meta.value()?.parse().map_err(|e| {
        diag::error(
            e.span(),
            format_args!("`{key}` takes a path in a string"),
            format_args!("write `{example}`"),
        )
    })?;
    lit.parse::<Path>().map_err(|_| {
        diag::error(
            lit.span(),
            format_args!("`{}` is not a path", lit.value()),
            format_args!("write `{example}`"),
        )
    })
}

/// The spelling of a key (keywords such as `crate` included).
fn path_name(path: &Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.unraw().to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// Error for a key given twice.
fn reject_duplicate(seen: bool, path: &Path) -> syn::Result<()> {
    if seen {
        Err(diag::error(
            path.span(),
            format_args!("duplicate `{}`", path_name(path)),
            "give each key once",
        ))
    } else {
        Ok(())
    }
}

/// Error for an option given twice.
fn reject_duplicate_ident(seen: bool, key: &Ident) -> syn::Result<()> {
    if seen {
        Err(diag::error(
            key.span(),
            format_args!("duplicate `{}`", key.unraw()),
            "give each option once",
        ))
    } else {
        Ok(())
    }
}

/// Error for an unknown key, with a suggestion when one is close.
fn unknown_key(path: &Path, key: &str, known: &[&str], context: &str) -> syn::Error {
    let message = format!("unknown attribute `{key}` of {context}");
    match did_you_mean(key, known) {
        Some(close) => diag::error(
            path.span(),
            message,
            format_args!("did you mean `{close}`? Accepted keys: {}", one_of(known)),
        ),
        None => diag::error(
            path.span(),
            message,
            format_args!("accepted keys: {}", one_of(known)),
        ),
    }
}
