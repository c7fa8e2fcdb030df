//! Parsing of `#[konditions(...)]` attributes.
//!
//! Parsing only checks syntax; the rules about names (pattern, conventions,
//! duplicates, summary and dependents) live in `check`. Every key and
//! option is held by an [`Attr`], which reports a second assignment itself.
//! Parsing recovers where it can (an unknown key, a bad entry of `types`, a
//! bad option), so one compile reports every problem.
//!
//! To add a key: a name in `RESOURCE_KEYS` (or `STATUS_KEYS`), an `Attr`
//! in the parse function, an arm in its `match`, a field in the returned
//! struct. A type option: the same with `TYPE_OPTIONS`, [`TypeOptions`] and
//! [`TypeDecl`].

use proc_macro2::{Span, TokenTree};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
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
    "kstatus",
    "stalled_reasons",
    "crate",
    "serde",
    "schemars",
];
/// Keys of `#[konditions(...)]` on the struct deriving `ConditionalStatus`.
const STATUS_KEYS: &[&str] = &["observed_generation", "crate"];
/// Keys of `#[konditions(...)]` on a field of a status struct.
const FIELD_KEYS: &[&str] = &["conditions", "observed_generation"];
/// Options of one entry of `types(...)`.
const TYPE_OPTIONS: &[&str] = &[
    "negative",
    "lock",
    "allow_progressive",
    "allow_negated",
    "rename",
    "doc",
    "paused",
    "deleting",
];

/// A key or option that may be given once (serde_derive's `Attr`): the
/// first value is kept, and a second one is reported at its own span.
struct Attr<'e, T> {
    errors: &'e Errors,
    /// The key as written, for the message.
    name: &'static str,
    /// "key" or "option", for the hint.
    what: &'static str,
    value: Option<T>,
}

impl<'e, T> Attr<'e, T> {
    /// A key of `#[konditions(...)]`.
    fn key(errors: &'e Errors, name: &'static str) -> Self {
        Self {
            errors,
            name,
            what: "key",
            value: None,
        }
    }

    /// An option of an entry of `types(...)`.
    fn option(errors: &'e Errors, name: &'static str) -> Self {
        Self {
            errors,
            name,
            what: "option",
            value: None,
        }
    }

    /// Assigns the value given at `span`, or reports it as a duplicate.
    fn set(&mut self, span: Span, value: T) {
        if self.value.is_some() {
            self.errors.push(diag::error(
                span,
                format_args!("duplicate `{}`", self.name),
                format_args!("give each {} once", self.what),
            ));
        } else {
            self.value = Some(value);
        }
    }

    /// The value, if it was given.
    fn get(self) -> Option<T> {
        self.value
    }
}

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
    /// `lock`: the lock writes conditions of this type, never the apply.
    pub(crate) lock: Option<Span>,
    /// `paused`: the type says reconciliation is paused (Cluster API's
    /// `Paused`).
    pub(crate) paused: Option<Span>,
    /// `deleting`: the type says the object is being deleted (Cluster
    /// API's `Deleting`).
    pub(crate) deleting: Option<Span>,
    /// `allow_progressive`: keep an "-ing" name.
    pub(crate) allow_progressive: bool,
    /// `allow_negated`: keep a negated name.
    pub(crate) allow_negated: bool,
    /// `doc = "..."`: documentation of the variant.
    pub(crate) doc: Option<LitStr>,
    /// Whether `rename = "..."` was given.
    pub(crate) renamed: bool,
    /// Whether a check reported the name (set by `check`): the variant
    /// then allows rustc's own naming lint, which would say it again.
    pub(crate) name_reported: bool,
}

impl TypeDecl {
    /// A type declared by its identifier only.
    pub(crate) fn plain(ident: Ident) -> Self {
        Self {
            wire: ident.unraw().to_string(),
            wire_span: ident.span(),
            ident,
            negative: None,
            lock: None,
            paused: None,
            deleting: None,
            allow_progressive: false,
            allow_negated: false,
            doc: None,
            renamed: false,
            name_reported: false,
        }
    }

    /// One of kstatus' conditions (`Reconciling`, `Stalled`), added by the
    /// derive: negative, as kstatus reads them ("abnormal-true").
    pub(crate) fn kstatus(ident: Ident) -> Self {
        let mut decl = Self::plain(ident);
        decl.negative = Some(decl.ident.span());
        decl
    }

    /// The variant name as written, without `r#`.
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }
}

/// `types(...)`.
pub(crate) struct Types {
    /// The span of the `types` key.
    pub(crate) key: Span,
    /// The entries that parsed.
    pub(crate) decls: Vec<TypeDecl>,
    /// Nothing at all between the parentheses (as opposed to entries that
    /// did not parse, which are reported where they are).
    pub(crate) empty: bool,
}

/// `dependents(...)`.
pub(crate) struct Dependents {
    /// The span of the `dependents` key.
    pub(crate) key: Span,
    /// The names, as written.
    pub(crate) names: Vec<Ident>,
}

/// `stalled_reasons(...)`.
pub(crate) struct StalledReasons {
    /// The span of the `stalled_reasons` key.
    pub(crate) key: Span,
    /// The reasons, as written.
    pub(crate) names: Vec<Ident>,
}

/// A `key = true|false` as written.
#[derive(Clone, Copy)]
pub(crate) struct Flag {
    /// The span of the key.
    pub(crate) key: Span,
    /// The value.
    pub(crate) value: bool,
}

/// `#[konditions(...)]` on the struct deriving `ConditionalResource`.
pub(crate) struct ResourceAttrs {
    /// `types(...)`.
    pub(crate) types: Option<Types>,
    /// `summary = Name`.
    pub(crate) summary: Option<Ident>,
    /// `dependents(...)`.
    pub(crate) dependents: Option<Dependents>,
    /// `enum_name = Name`.
    pub(crate) enum_name: Option<Ident>,
    /// `kstatus = false` (or `true`, the default).
    pub(crate) kstatus: Option<Flag>,
    /// `stalled_reasons(...)`.
    pub(crate) stalled_reasons: Option<StalledReasons>,
    /// `crate = "path"`.
    pub(crate) krate: Option<Path>,
    /// `serde = "path"` (deprecated), with the span of the key.
    pub(crate) serde: Option<(Span, Path)>,
    /// `schemars = "path"` (deprecated), with the span of the key.
    pub(crate) schemars: Option<(Span, Path)>,
}

/// `#[konditions(...)]` on the struct deriving `ConditionalStatus`.
pub(crate) struct StatusAttrs {
    /// `observed_generation = false` (or `true`, the default).
    pub(crate) observed_generation: Option<Flag>,
    /// `crate = "path"`.
    pub(crate) krate: Option<Path>,
    /// A key was unknown or did not parse (reported): it may have been a
    /// misspelt `observed_generation = false`.
    pub(crate) failed: bool,
}

/// `#[konditions(...)]` on a field of a status struct: the spans of its
/// markers.
#[derive(Default)]
pub(crate) struct FieldMarkers {
    /// `#[konditions(conditions)]`.
    pub(crate) conditions: Option<Span>,
    /// `#[konditions(observed_generation)]`.
    pub(crate) observed_generation: Option<Span>,
    /// An attribute of ours on the field did not parse (reported): what
    /// it meant to mark is unknown.
    pub(crate) failed: bool,
}

/// Whether `attr` is one of ours.
pub(crate) fn is_konditions(attr: &Attribute) -> bool {
    attr.path().is_ident(ATTR)
}

/// Our attributes among `attrs`.
fn ours(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| is_konditions(a))
}

/// Parses the container attributes of `#[derive(ConditionalResource)]`.
pub(crate) fn parse_resource(attrs: &[Attribute], errors: &Errors) -> ResourceAttrs {
    let mut types = Attr::key(errors, "types");
    let mut summary = Attr::key(errors, "summary");
    let mut dependents = Attr::key(errors, "dependents");
    let mut enum_name = Attr::key(errors, "enum_name");
    let mut kstatus = Attr::key(errors, "kstatus");
    let mut stalled_reasons = Attr::key(errors, "stalled_reasons");
    let mut krate = Attr::key(errors, "crate");
    let mut serde = Attr::key(errors, "serde");
    let mut schemars = Attr::key(errors, "schemars");
    for attr in ours(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            let span = meta.path.span();
            match key.as_str() {
                "types" => {
                    let content = parenthesized(&meta, "types(TableReady, RowWritten)")?;
                    let empty = content.is_empty();
                    let decls = parse_type_entries(&content, errors)?;
                    types.set(span, Types { key: span, decls, empty });
                }
                "summary" => summary.set(span, ident_value(&meta, "summary = Ready")?),
                "dependents" => {
                    let content = parenthesized(&meta, "dependents(TableReady, RowWritten)")?;
                    let names = content.parse_terminated(Ident::parse, Token![,])?;
                    let names = names.into_iter().collect();
                    dependents.set(span, Dependents { key: span, names });
                }
                "enum_name" => enum_name.set(span, ident_value(&meta, "enum_name = MyCondition")?),
                "kstatus" => kstatus.set(span, flag_value(&meta, "kstatus = false")?),
                "stalled_reasons" => {
                    let content = parenthesized(&meta, "stalled_reasons(TableMissing, InvalidValue)")?;
                    let names = parse_reasons(&content)?;
                    stalled_reasons.set(span, StalledReasons { key: span, names });
                }
                "crate" => krate.set(span, path_value(&meta, "crate = \"my_crate::konditions\"")?),
                "serde" => serde.set(
                    span,
                    (span, path_value(&meta, "serde = \"my_crate::serde\"")?),
                ),
                "schemars" => schemars.set(
                    span,
                    (span, path_value(&meta, "schemars = \"my_crate::schemars\"")?),
                ),
                "conditions" => {
                    errors.push(diag::error(
                        span,
                        "`conditions` marks the conditions field of a status struct",
                        "put `#[konditions(conditions)]` on a field of the struct deriving `ConditionalStatus`",
                    ));
                    skip_value(&meta)?;
                }
                "observed_generation" => {
                    errors.push(diag::error(
                        span,
                        "`observed_generation` is about the status struct, not the resource",
                        "put it on the struct deriving `ConditionalStatus`: `#[konditions(observed_generation)]` marks its field, `#[konditions(observed_generation = false)]` on the struct opts out",
                    ));
                    skip_value(&meta)?;
                }
                _ => {
                    errors.push(unknown_key(&meta.path, &key, RESOURCE_KEYS, "#[derive(ConditionalResource)]"));
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        errors.ok(result);
    }
    ResourceAttrs {
        types: types.get(),
        summary: summary.get(),
        dependents: dependents.get(),
        enum_name: enum_name.get(),
        kstatus: kstatus.get(),
        stalled_reasons: stalled_reasons.get(),
        krate: krate.get(),
        serde: serde.get(),
        schemars: schemars.get(),
    }
}

/// Parses the container attributes of `#[derive(ConditionalStatus)]`.
pub(crate) fn parse_status(attrs: &[Attribute], errors: &Errors) -> StatusAttrs {
    let mut observed_generation = Attr::key(errors, "observed_generation");
    let mut krate = Attr::key(errors, "crate");
    let mut failed = false;
    for attr in ours(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            match key.as_str() {
                "observed_generation" => {
                    if !meta.input.peek(Token![=]) {
                        return Err(diag::error(
                            meta.path.span(),
                            "`observed_generation` on the struct takes a value",
                            "to opt out of `status.observedGeneration`, write `#[konditions(observed_generation = false)]`; to wire a field of another name, put `#[konditions(observed_generation)]` on that field",
                        ));
                    }
                    observed_generation.set(
                        meta.path.span(),
                        flag_value(&meta, "observed_generation = false")?,
                    );
                }
                "crate" => krate.set(
                    meta.path.span(),
                    path_value(&meta, "crate = \"my_crate::konditions\"")?,
                ),
                "types" | "summary" | "dependents" | "enum_name" | "kstatus" | "stalled_reasons" => {
                    errors.push(diag::error(
                        meta.path.span(),
                        format_args!("`{key}` declares conditions of a resource, not of its status"),
                        "move it to the `#[konditions(...)]` of the struct deriving `ConditionalResource` (the spec struct carrying `#[kube(...)]`, or the root struct)",
                    ));
                    skip_value(&meta)?;
                }
                _ => {
                    errors.push(unknown_key(&meta.path, &key, STATUS_KEYS, "#[derive(ConditionalStatus)]"));
                    failed = true;
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.push(error);
            failed = true;
        }
    }
    StatusAttrs {
        observed_generation: observed_generation.get(),
        krate: krate.get(),
        failed,
    }
}

/// The markers of a field of a status struct: `#[konditions(conditions)]`,
/// `#[konditions(observed_generation)]`.
pub(crate) fn parse_status_field(attrs: &[Attribute], errors: &Errors) -> FieldMarkers {
    let mut conditions = Attr::key(errors, "conditions");
    let mut observed_generation = Attr::key(errors, "observed_generation");
    let mut failed = false;
    for attr in ours(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            let span = meta.path.span();
            let marker = match key.as_str() {
                "conditions" => &mut conditions,
                "observed_generation" => &mut observed_generation,
                _ => {
                    errors.push(unknown_key(
                        &meta.path,
                        &key,
                        FIELD_KEYS,
                        "a field of #[derive(ConditionalStatus)]",
                    ));
                    failed = true;
                    return skip_value(&meta);
                }
            };
            if !(meta.input.is_empty() || meta.input.peek(Token![,])) {
                return Err(diag::error(
                    span,
                    format_args!("`{key}` on a field takes no value"),
                    format_args!(
                        "it marks the field: write `#[konditions({key})]`{}",
                        if key == "observed_generation" {
                            "; to opt out of `status.observedGeneration`, put `#[konditions(observed_generation = false)]` on the struct"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            marker.set(span, span);
            Ok(())
        });
        if let Err(error) = result {
            errors.push(error);
            failed = true;
        }
    }
    FieldMarkers {
        conditions: conditions.get(),
        observed_generation: observed_generation.get(),
        failed,
    }
}

/// Rejects `#[konditions(...)]` where it means nothing (fields of a resource).
pub(crate) fn reject_on_fields(fields: &syn::Fields, errors: &Errors) {
    for field in fields {
        for attr in ours(&field.attrs) {
            errors.push(diag::error_spanned(
                attr,
                "`#[derive(ConditionalResource)]` takes no field attributes",
                "declare the conditions on the struct: `#[konditions(types(...))]`; `#[konditions(conditions)]` belongs on the conditions field of the status struct",
            ));
        }
    }
}

/// The entries of `types(...)`: `Name` or `Name(option, ...)`. An entry
/// that does not parse is reported and skipped; the others are kept.
fn parse_type_entries(input: ParseStream<'_>, errors: &Errors) -> syn::Result<Vec<TypeDecl>> {
    let mut entries = Vec::new();
    while !input.is_empty() {
        match parse_type_entry(input, errors) {
            Ok(decl) => entries.push(decl),
            Err(error) => {
                errors.push(error);
                skip_to_comma(input)?;
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(entries)
}

/// One entry of `types(...)`.
fn parse_type_entry(input: ParseStream<'_>, errors: &Errors) -> syn::Result<TypeDecl> {
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
    let mut options = TypeOptions::new(errors);
    if input.peek(token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        options.parse(&content, &ident, errors)?;
    }
    Ok(options.into_decl(ident))
}

/// The entries of `stalled_reasons(...)`: identifiers. A string is refused
/// with the identifier to write.
fn parse_reasons(input: ParseStream<'_>) -> syn::Result<Vec<Ident>> {
    let mut names = Vec::new();
    while !input.is_empty() {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            return Err(diag::error(
                lit.span(),
                "a stalled reason is declared as an identifier, not a string",
                format_args!("write `{}`", lit.value()),
            ));
        }
        names.push(Ident::parse_any(input)?);
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(names)
}

/// The options of one entry of `types(...)`, while they are parsed.
struct TypeOptions<'e> {
    negative: Attr<'e, Span>,
    lock: Attr<'e, Span>,
    paused: Attr<'e, Span>,
    deleting: Attr<'e, Span>,
    allow_progressive: Attr<'e, ()>,
    allow_negated: Attr<'e, ()>,
    rename: Attr<'e, LitStr>,
    doc: Attr<'e, LitStr>,
}

impl<'e> TypeOptions<'e> {
    fn new(errors: &'e Errors) -> Self {
        Self {
            negative: Attr::option(errors, "negative"),
            lock: Attr::option(errors, "lock"),
            paused: Attr::option(errors, "paused"),
            deleting: Attr::option(errors, "deleting"),
            allow_progressive: Attr::option(errors, "allow_progressive"),
            allow_negated: Attr::option(errors, "allow_negated"),
            rename: Attr::option(errors, "rename"),
            doc: Attr::option(errors, "doc"),
        }
    }

    /// Parses `option, ...`; an option that does not parse is reported and
    /// skipped.
    fn parse(&mut self, input: ParseStream<'_>, ty: &Ident, errors: &Errors) -> syn::Result<()> {
        while !input.is_empty() {
            if let Err(error) = self.parse_one(input, ty) {
                errors.push(error);
                skip_to_comma(input)?;
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    }

    /// One option of the type `ty`.
    fn parse_one(&mut self, input: ParseStream<'_>, ty: &Ident) -> syn::Result<()> {
        let key = Ident::parse_any(input)?;
        let name = key.unraw().to_string();
        let span = key.span();
        match name.as_str() {
            "negative" => self.negative.set(span, span),
            "lock" => self.lock.set(span, span),
            "paused" => self.paused.set(span, span),
            "deleting" => self.deleting.set(span, span),
            "allow_progressive" => self.allow_progressive.set(span, ()),
            "allow_negated" => self.allow_negated.set(span, ()),
            "rename" => {
                input.parse::<Token![=]>()?;
                self.rename.set(span, input.parse()?);
            }
            "doc" => {
                input.parse::<Token![=]>()?;
                self.doc.set(span, input.parse()?);
            }
            _ => {
                let options = one_of(TYPE_OPTIONS);
                let hint = match did_you_mean(&name, TYPE_OPTIONS) {
                    Some(close) => format!(
                        "did you mean `{close}`? The options of a condition type are {options}"
                    ),
                    None => format!("the options of a condition type are {options}"),
                };
                return Err(diag::error(
                    span,
                    format_args!("unknown option `{name}` of condition type `{}`", ty.unraw()),
                    hint,
                ));
            }
        }
        Ok(())
    }

    fn into_decl(self, ident: Ident) -> TypeDecl {
        let mut decl = TypeDecl::plain(ident);
        decl.negative = self.negative.get();
        decl.lock = self.lock.get();
        decl.paused = self.paused.get();
        decl.deleting = self.deleting.get();
        // Cluster API's name, `Deleting`, is progressive on purpose: it
        // says what the controller is doing while the object goes away.
        decl.allow_progressive = self.allow_progressive.get().is_some() || decl.deleting.is_some();
        decl.allow_negated = self.allow_negated.get().is_some();
        decl.doc = self.doc.get();
        if let Some(rename) = self.rename.get() {
            decl.wire = rename.value();
            decl.wire_span = rename.span();
            decl.renamed = true;
        }
        decl
    }
}

/// Skips what is left of a list item, up to its comma.
fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Skips the value of a key that was reported (`= ...` or `(...)`), so
/// parsing goes on with the next key.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    skip_to_comma(meta.input)
}

/// The content of `key(...)`, or an error showing the expected form.
fn parenthesized<'a>(
    meta: &ParseNestedMeta<'a>,
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

/// The value of `key = value`, refusing a missing value and a string (the
/// value is `what`, written without quotes).
fn unquoted_value<'a>(
    meta: &ParseNestedMeta<'a>,
    example: &str,
    missing: &str,
    what: &str,
) -> syn::Result<ParseStream<'a>> {
    let key = path_name(&meta.path);
    if !meta.input.peek(Token![=]) {
        return Err(diag::error(
            meta.path.span(),
            format_args!("`{key}` takes {missing}"),
            format_args!("write `{example}`"),
        ));
    }
    let value = meta.value()?;
    if value.peek(LitStr) {
        let lit: LitStr = value.parse()?;
        return Err(diag::error(
            lit.span(),
            format_args!("`{key}` takes {what}, not a string"),
            format_args!("write `{key} = {}`", lit.value()),
        ));
    }
    Ok(value)
}

/// The identifier of `key = Ident`.
fn ident_value(meta: &ParseNestedMeta<'_>, example: &str) -> syn::Result<Ident> {
    unquoted_value(meta, example, "a value", "an identifier")?.parse()
}

/// The `true` or `false` of `key = bool`.
fn flag_value(meta: &ParseNestedMeta<'_>, example: &str) -> syn::Result<Flag> {
    let takes = "`true` or `false`";
    let lit: syn::LitBool = unquoted_value(meta, example, takes, "a bool")?
        .parse()
        .map_err(|e| {
            diag::error(
                e.span(),
                format_args!("`{}` takes {takes}", path_name(&meta.path)),
                format_args!("write `{example}`"),
            )
        })?;
    Ok(Flag {
        key: meta.path.span(),
        value: lit.value,
    })
}

/// The path of `key = "path"` (the serde convention for crate paths).
fn path_value(meta: &ParseNestedMeta<'_>, example: &str) -> syn::Result<Path> {
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

/// Error for an unknown key, with a suggestion when one is close.
fn unknown_key(path: &Path, key: &str, known: &[&str], context: &str) -> syn::Error {
    let message = format!("unknown attribute `{key}` of {context}");
    let accepted = one_of(known);
    let help = match did_you_mean(key, known) {
        Some(close) => format!("did you mean `{close}`? Accepted keys: {accepted}"),
        None => format!("accepted keys: {accepted}"),
    };
    diag::error(path.span(), message, help)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages recorded while parsing `attr` as a resource's.
    fn resource_errors(attr: Attribute) -> (ResourceAttrs, Vec<String>) {
        let errors = Errors::new();
        let parsed = parse_resource(&[attr], &errors);
        (parsed, errors.into_messages())
    }

    #[test]
    fn every_listed_key_is_parsed() {
        // A key listed for "did you mean" but missing from the `match`
        // would be suggested and then refused.
        for key in RESOURCE_KEYS {
            let key: proc_macro2::TokenStream = key.parse().unwrap();
            let (_, messages) = resource_errors(syn::parse_quote!(#[konditions(#key)]));
            assert!(
                messages.iter().all(|m| !m.contains("unknown attribute")),
                "{key}: {messages:?}"
            );
        }
        for option in TYPE_OPTIONS {
            let option: proc_macro2::TokenStream = option.parse().unwrap();
            let (_, messages) =
                resource_errors(syn::parse_quote!(#[konditions(types(A(#option = "x")))]));
            assert!(
                messages.iter().all(|m| !m.contains("unknown option")),
                "{option}: {messages:?}"
            );
        }
    }

    #[test]
    fn every_listed_status_key_and_marker_is_parsed() {
        for key in STATUS_KEYS {
            let key: proc_macro2::TokenStream = key.parse().unwrap();
            let errors = Errors::new();
            parse_status(&[syn::parse_quote!(#[konditions(#key = false)])], &errors);
            let messages = errors.into_messages();
            assert!(
                messages.iter().all(|m| !m.contains("unknown attribute")),
                "{key}: {messages:?}"
            );
        }
        for key in FIELD_KEYS {
            let key: proc_macro2::TokenStream = key.parse().unwrap();
            let errors = Errors::new();
            let markers = parse_status_field(&[syn::parse_quote!(#[konditions(#key)])], &errors);
            assert!(errors.into_messages().is_empty(), "{key}");
            assert!(markers.conditions.or(markers.observed_generation).is_some());
            assert!(!markers.failed);
        }
    }

    #[test]
    fn flags_take_a_bool() {
        let (parsed, messages) = resource_errors(syn::parse_quote!(#[konditions(kstatus = false)]));
        assert!(messages.is_empty(), "{messages:?}");
        assert!(!parsed.kstatus.unwrap().value);
        for (attr, expected) in [
            (
                syn::parse_quote!(#[konditions(kstatus = "false")]),
                "`kstatus` takes a bool, not a string\nhelp: write `kstatus = false`",
            ),
            (
                syn::parse_quote!(#[konditions(kstatus)]),
                "`kstatus` takes `true` or `false`\nhelp: write `kstatus = false`",
            ),
            (
                syn::parse_quote!(#[konditions(kstatus = no)]),
                "`kstatus` takes `true` or `false`\nhelp: write `kstatus = false`",
            ),
        ] {
            let (parsed, messages) = resource_errors(attr);
            assert!(parsed.kstatus.is_none());
            assert_eq!(messages, [expected]);
        }
        let errors = Errors::new();
        let status = parse_status(
            &[syn::parse_quote!(#[konditions(observed_generation)])],
            &errors,
        );
        assert!(status.observed_generation.is_none());
        let messages = errors.into_messages();
        assert!(
            messages[0].contains("on the struct takes a value"),
            "{messages:?}"
        );
    }

    #[test]
    fn a_field_marker_takes_no_value_and_a_typo_is_a_failure() {
        let errors = Errors::new();
        let markers = parse_status_field(
            &[syn::parse_quote!(#[konditions(observed_generation = false)])],
            &errors,
        );
        assert!(markers.failed && markers.observed_generation.is_none());
        let messages = errors.into_messages();
        assert!(
            messages[0].contains("on a field takes no value"),
            "{messages:?}"
        );

        let errors = Errors::new();
        let markers = parse_status_field(
            &[syn::parse_quote!(#[konditions(observed_generaton, conditions)])],
            &errors,
        );
        assert!(markers.failed, "the typo is reported");
        assert!(markers.conditions.is_some(), "parsing goes on");
        let messages = errors.into_messages();
        assert!(
            messages[0].contains("did you mean `observed_generation`?"),
            "{messages:?}"
        );
    }

    #[test]
    fn stalled_reasons_are_identifiers() {
        let (parsed, messages) = resource_errors(syn::parse_quote!(
            #[konditions(stalled_reasons(TableMissing, InvalidValue,))]
        ));
        assert!(messages.is_empty(), "{messages:?}");
        let names: Vec<String> = parsed
            .stalled_reasons
            .unwrap()
            .names
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["TableMissing", "InvalidValue"]);
        let (_, messages) =
            resource_errors(syn::parse_quote!(#[konditions(stalled_reasons("TableMissing"))]));
        assert_eq!(
            messages,
            [
                "a stalled reason is declared as an identifier, not a string\nhelp: write `TableMissing`"
            ]
        );
    }

    #[test]
    fn a_duplicate_is_reported_and_the_first_value_kept() {
        let (parsed, messages) = resource_errors(syn::parse_quote!(
            #[konditions(summary = Ready, types(A(negative, negative)), summary = Done)]
        ));
        assert_eq!(parsed.summary.unwrap(), "Ready");
        assert_eq!(
            messages,
            [
                "duplicate `negative`\nhelp: give each option once",
                "duplicate `summary`\nhelp: give each key once"
            ]
        );
    }

    #[test]
    fn parsing_goes_on_after_a_bad_entry_or_key() {
        let (parsed, messages) = resource_errors(syn::parse_quote!(
            #[konditions(typs(X), types("A", B(negatve, rename = "b"), C), summary = Ready)]
        ));
        let types = parsed.types.unwrap();
        let names: Vec<String> = types.decls.iter().map(TypeDecl::name).collect();
        assert_eq!(names, ["B", "C"]);
        assert_eq!(types.decls[0].wire, "b", "options after a bad one are read");
        assert!(!types.empty);
        assert_eq!(parsed.summary.unwrap(), "Ready");
        assert_eq!(messages.len(), 3, "{messages:?}");
    }
}
