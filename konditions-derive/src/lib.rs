//! Derive macros for konditions-core. Use them through `konditions_core`,
//! which re-exports them behind its default `derive` feature (its docs have
//! runnable examples).
//!
//! Each derive reads `parse → check → expand`, as thiserror's:
//!
//! - `parse` reads what the derive was given, unchecked: the
//!   `#[konditions(...)]` attributes (each key held by an `Attr` that
//!   reports a duplicate itself), kube's `#[kube(...)]`, the naming of
//!   serde's `#[serde(...)]`, and where the conditions are (the root
//!   struct, its status type, the fields of the conditions and of
//!   `observedGeneration`);
//! - `check` checks it against `metav1.Condition` (konditions-rules, the
//!   checks konditions-core runs at run time) and the Kubernetes API
//!   conventions, one function per rule, and builds the checked form,
//!   `ast`;
//! - `expand` generates code from `ast` alone, one generator per trait in
//!   its submodules;
//! - `diag` builds diagnostics and collects them in an `Errors` that must be
//!   finished (it panics when dropped unchecked): every problem is reported
//!   in one compile, and the items are generated even then.
//!
//! Every error carries the span of the tokens at fault and a `help:` line.

mod ast;
mod check;
mod diag;
mod expand;
mod parse;

use proc_macro::TokenStream;

use crate::diag::Errors;

/// Declares the conditions of a custom resource once, and implements
/// `konditions_core::ConditionalResource` for its root type.
///
/// # Where it goes
///
/// - On the spec struct of kube's `#[derive(CustomResource)]`, next to it.
///   The root type, its status and the kind are read from `#[kube(...)]`
///   (`kind`, `root`, `status`); `status = "..."` is required, as conditions
///   live in the status.
/// - Or on a root struct written by hand, with fields `metadata: ObjectMeta`
///   and `status: Option<MyStatus>` (generic roots are supported).
///
/// `ConditionalResource` is implemented with `resource_status` /
/// `resource_status_mut` over the root's `status` field and `generation()`
/// from `metadata.generation`. The status type must implement
/// `ConditionalStatus` (derive it); otherwise compilation fails at the
/// `status = "..."` value with "`MyStatus` does not hold conditions".
///
/// ```text
/// #[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
/// #[kube(group = "demo.yash.com", version = "v1", kind = "PostgresWriter", namespaced,
///        status = "PostgresWriterStatus")]
/// #[konditions(types(TableReady, RowWritten(lock)), summary = Ready, stalled_reasons(TableMissing))]
/// pub struct PostgresWriterSpec { /* ... */ }
///
/// #[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
/// #[serde(rename_all = "camelCase")]
/// pub struct PostgresWriterStatus {
///     pub conditions: Conditions<PostgresWriterCondition>,
///     #[serde(default, skip_serializing_if = "Option::is_none")]
///     pub observed_generation: Option<i64>,
/// }
/// ```
///
/// # Attribute syntax
///
/// `#[konditions(...)]` on the same struct; keys may be split over several
/// attributes, each key given once.
///
/// | key | meaning |
/// |-----|---------|
/// | `types(A, B(option, ...), ...)` | the condition types, in declaration order |
/// | `summary = Ready` | the summary condition; a name listed in `types` or a new one (then declared first) |
/// | `dependents(A, B)` | what the summary is computed from (default: every declared type but the summary, `Reconciling` and `Stalled`) |
/// | `enum_name = MyCondition` | name of the generated enum (default: kind + `Condition`) |
/// | `kstatus = false` | leave out kstatus' `Reconciling` and `Stalled` (default `true`: the enum has them, after the declared types) |
/// | `stalled_reasons(TableMissing, ...)` | the reasons that need a human: a bad dependent with one of them makes kstatus' `Stalled` True instead of `Reconciling` (`ConditionType::stalls`) |
/// | `crate = "path"` | path of konditions-core, for re-exports (default `::konditions_core`); a re-export of the crate itself, as serde and schemars are reached through it |
/// | `serde = "path"`, `schemars = "path"` | deprecated, with a warning: paths of serde and schemars, which the generated code now reaches through konditions-core |
///
/// Options of one entry of `types(...)`:
///
/// | option | meaning |
/// |--------|---------|
/// | `negative` | `False` is the good state (`Polarity::Negative`), as for `MemoryPressure` |
/// | `lock` | the lock (`konditions_core::lock`) writes it, never `apply_status` (`WrittenBy::Lock`); not on the summary |
/// | `allow_progressive` | keep an "-ing" name such as `Progressing` (established API) |
/// | `allow_negated` | keep a negated name such as `NotReady` (established API) |
/// | `rename = "example.com/Ready"` | wire spelling, when it differs from the variant name |
/// | `doc = "..."` | documentation of the variant |
/// | `paused` | Cluster API's `Paused` condition (`ConditionType::paused`): set with `set_paused`, never a dependent; one type at most, negative |
/// | `deleting` | Cluster API's `Deleting` condition (`ConditionType::deleting`): set with `set_deleting`, a negative dependent; one type at most, may end in "-ing" |
///
/// ```text
/// #[konditions(
///     types(
///         TableReady(doc = "The table exists and has the expected columns."),
///         RowWritten(lock),
///         DiskPressure(negative),
///         Progressing(allow_progressive),
///         BackupReady(rename = "backup.example.com/Ready"),
///     ),
///     summary = Ready,
///     dependents(TableReady, RowWritten, DiskPressure),
///     stalled_reasons(TableMissing, InvalidValue),
///     enum_name = WriterCondition,
///     crate = "my_operator::konditions",
/// )]
/// ```
///
/// Without `types(...)` and `summary`, no enum is generated: the condition
/// type is whatever the status's `Conditions<T, S>` holds (a hand-written
/// enum, or `String`).
///
/// # Generated items
///
/// The generated code needs neither serde nor schemars as a direct
/// dependency of your crate: `konditions-core` and `kube` are enough (kube's
/// own `CustomResource` and your `#[derive(Serialize, JsonSchema)]` still
/// need them, as for every kube-rs CRD).
///
/// With `types(...)` or `summary`, an enum (visibility of the struct) with
/// one variant per type, implementing `ConditionType` (`as_str`, `parse`,
/// `declared`, `polarity`, `summary`, `dependents`, `written_by`,
/// `reconciling`, `stalled`, `stalls`), `Clone`, `Copy`, `Debug`, `Eq`,
/// `Ord` (declaration order), `Hash`, `Display`, `AsRef<str>`, `FromStr`
/// (error: a generated `Parse<Enum>Error`), serde as the wire string and
/// `schemars::JsonSchema` as a string enum; with consts `ALL` (every type)
/// and a `const fn as_str`.
///
/// Unless `kstatus = false`, the enum ends with two more variants,
/// `Reconciling` and `Stalled` (wire names as kstatus spells them),
/// negative (kstatus reads them "abnormal-true"): `reconciling()` and
/// `stalled()` return them, `update_summary` computes them with the summary
/// from the same dependents, and they are not to be set by hand. They are
/// in `ALL` and `declared()`, never in `dependents()`. `stalls(reason)` is
/// true for the `stalled_reasons` (a `match` on the string). `dependents()`
/// is a static slice whenever there is a summary or kstatus: the listed
/// ones, or every type but the summary, `Reconciling` and `Stalled`.
/// `written_by()` returns `WrittenBy::Lock` for the types marked `lock`.
///
/// The enum has no catch-all variant: types it does not know are foreign,
/// and `Conditions` keeps them as they were written (`parse` returns
/// `None`). That keeps the enum `Copy`, `declared()` a static slice, and a
/// `match` over it exhaustive for the conditions this controller owns.
///
/// # Compile-time checks
///
/// - The type pattern and maximum length (316) of `metav1.Condition`.
/// - CamelCase names.
/// - Progressive names (`Deploying`): conditions describe a state, not a
///   state machine. Opt out per name with `allow_progressive`.
/// - Negated names (`NotReady`, `Unready`, `NoErrors`): `NotReady=False` is
///   a double negative. Opt out per name with `allow_negated`.
/// - Duplicate types; a negative or `lock` summary; dependents that are
///   undeclared, repeated, the summary itself, `Reconciling` or `Stalled`;
///   `dependents` without `summary`.
/// - With kstatus: no declared type named `Reconciling` or `Stalled` (as
///   variant or wire name; they are the derive's, and exempt from the
///   progressive-name rule). `stalled_reasons`: each a `metav1.Condition`
///   reason (`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`, at most 1024
///   characters) in CamelCase, given once; refused with `kstatus = false`
///   or without declared types (as are `kstatus` and `enum_name`).
/// - A missing `status` in `#[kube(...)]`; a hand-written root without
///   `metadata` or an `Option` `status` field; a status that does not
///   implement `ConditionalStatus`.
/// - Unknown keys, options and dependents (with a "did you mean"), keys
///   and options given twice, and use on enums or unions.
///
/// Every problem of a declaration is reported in one compile. The enum and
/// the `ConditionalResource` implementation are generated even then (from
/// what could be read), so the code that names them adds no errors of its
/// own: the declaration's errors are the only ones.
#[proc_macro_derive(ConditionalResource, attributes(konditions))]
pub fn derive_conditional_resource(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let errors = Errors::new();
    let resource = parse::resource(&input, &errors).map(|parsed| check::resource(parsed, &errors));
    let items = resource.map(|resource| expand::resource(&resource));
    errors.finish(items.unwrap_or_default()).into()
}

/// Implements `konditions_core::ConditionalStatus` for a status struct that
/// holds a `Conditions<T, S>` and `status.observedGeneration`.
///
/// The conditions are the field named `conditions`, or the field marked
/// `#[konditions(conditions)]` (which also works in tuple structs). The
/// condition type and status set are read from the field's type, which must
/// be `konditions_core::Conditions<T, S>` (directly or through an alias).
/// The struct must implement `Default`, as `ConditionalStatus` requires.
///
/// `status.observedGeneration` is the field named `observed_generation`,
/// or the field marked `#[konditions(observed_generation)]` (also in tuple
/// structs); it must be an `Option<i64>` (directly or through an alias).
/// `observed_generation()` and `observed_generation_mut()` reach it, and
/// `update_summary` sets it to the generation it computed the summary
/// for. kstatus (Flux, Argo CD, kpt) cannot tell a stale status from a
/// current one without it, so a struct without such a field is an error,
/// unless it opts out with `#[konditions(observed_generation = false)]`
/// (then both methods return `None`).
///
/// The field must be serialized as `observedGeneration`: with
/// `#[serde(rename_all = "camelCase")]` on the struct (the Kubernetes
/// convention) or `#[serde(rename = "observedGeneration")]` on the field.
/// When the struct or one of its fields has a `#[serde(...)]`, the derive
/// applies serde's naming rules (`rename_all`, `rename`, `skip`) and
/// refuses any other name; without one it cannot tell how the struct is
/// serialized, and does not check.
///
/// ```text
/// #[derive(ConditionalStatus, Serialize, Deserialize, Default)]
/// pub struct WriterStatus {
///     #[konditions(conditions)]
///     pub checks: Conditions<WriterCondition>,
///     #[konditions(observed_generation)]
///     #[serde(rename = "observedGeneration", default, skip_serializing_if = "Option::is_none")]
///     pub seen: Option<i64>,
///     pub last_row: Option<i64>,
/// }
/// ```
///
/// Container keys: `observed_generation = false` (no
/// `status.observedGeneration`), `crate = "path"` (path of
/// konditions-core). Field markers: `conditions`, `observed_generation`.
#[proc_macro_derive(ConditionalStatus, attributes(konditions))]
pub fn derive_conditional_status(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let errors = Errors::new();
    let status = parse::status(&input, &errors).and_then(check::status);
    let items = status.map(|status| expand::status(&status));
    errors.finish(items.unwrap_or_default()).into()
}
