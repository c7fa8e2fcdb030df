//! The checked form of a derive's input: what `check` builds from what
//! `parse` read, and the only thing `expand` reads.
//!
//! A checked form always generates code that compiles, also when checks
//! failed (their errors are recorded separately): a type declared twice is
//! kept once, dependents that are not declared are left out, a summary
//! marked `lock` loses the mark. So after an error the enum and the
//! implementations are still generated, and the user's code naming them
//! reports nothing more than the declaration's errors.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{DeriveInput, Ident, Path, Visibility};

use crate::parse::{Root, StatusField, TypeDecl};

/// `#[derive(ConditionalResource)]`, checked.
pub(crate) struct Resource {
    /// Where the generated code finds konditions-core, serde and schemars.
    pub(crate) paths: Paths,
    /// The deprecated keys that were given, each a warning.
    pub(crate) deprecated: Vec<DeprecatedKey>,
    /// The condition type of the resource.
    pub(crate) condition_type: ConditionTypeSource,
    /// The root struct, `None` when it could not be located (reported).
    pub(crate) root: Option<Root>,
}

/// Where the condition type of a resource comes from.
pub(crate) enum ConditionTypeSource {
    /// Declared with `types(...)` or `summary`: the enum the derive
    /// generates.
    /// Boxed: the other variants hold nothing.
    Generated(Box<ConditionEnum>),
    /// Not declared: the status's `Conditions<T, S>` holds it.
    OfStatus,
    /// Declared, but the kind that names the enum is unknown (reported):
    /// neither the enum nor `impl ConditionalResource` is generated.
    Unnamed,
}

/// A key of `#[konditions(...)]` that still works but has no use left.
pub(crate) struct DeprecatedKey {
    /// Where it was written.
    pub(crate) span: Span,
    /// The key (`serde`, `schemars`).
    pub(crate) key: &'static str,
}

/// The enum of condition types the derive generates.
pub(crate) struct ConditionEnum {
    /// Its name (`enum_name`, or the kind + `Condition`).
    pub(crate) name: Ident,
    /// Its visibility (the struct's).
    pub(crate) vis: Visibility,
    /// The kind, for docs and messages.
    pub(crate) kind: String,
    /// Its variants and what they mean.
    pub(crate) declaration: Declaration,
}

/// A checked declaration: every type in declaration order, the summary
/// included.
pub(crate) struct Declaration {
    /// Every declared type, each once.
    pub(crate) types: Vec<TypeDecl>,
    /// Index of the summary in `types`.
    pub(crate) summary: Option<usize>,
    /// Indices of the dependents in `types`, when given explicitly.
    pub(crate) dependents: Option<Vec<usize>>,
    /// Indices of kstatus' `Reconciling` and `Stalled` in `types` (the last
    /// two), unless `kstatus = false`.
    pub(crate) kstatus: Option<[usize; 2]>,
    /// The reasons of `stalled_reasons(...)`, each once.
    pub(crate) stalled_reasons: Vec<String>,
    /// Index of the type marked `paused` in `types`.
    pub(crate) paused: Option<usize>,
    /// Index of the type marked `deleting` in `types`.
    pub(crate) deleting: Option<usize>,
}

impl Declaration {
    /// Whether the type at `index` is computed by `update_summary` (the
    /// summary, `Reconciling`, `Stalled`).
    pub(crate) fn is_computed(&self, index: usize) -> bool {
        self.summary == Some(index) || self.kstatus.is_some_and(|k| k.contains(&index))
    }
}

/// `#[derive(ConditionalStatus)]`, checked: generated only when the
/// conditions field is found.
pub(crate) struct Status<'a> {
    /// The status struct.
    pub(crate) input: &'a DeriveInput,
    /// Path of konditions-core.
    pub(crate) krate: TokenStream,
    /// The field of the conditions.
    pub(crate) conditions: StatusField<'a>,
    /// The field of `status.observedGeneration`, unless opted out (or
    /// missing, reported).
    pub(crate) observed_generation: Option<StatusField<'a>>,
}

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
    pub(crate) fn new(krate: Option<&Path>, serde: Option<&Path>, schemars: Option<&Path>) -> Self {
        let krate = Self::core(krate);
        let reexported = |given: Option<&Path>, name: &str| match given {
            Some(path) => quote!(#path),
            None => {
                let name = Ident::new(name, Span::call_site());
                // The hidden module of core's release: the derive and core
                // are released together.
                let private = Ident::new(
                    concat!(
                        "__private_v",
                        env!("CARGO_PKG_VERSION_MAJOR"),
                        "_",
                        env!("CARGO_PKG_VERSION_MINOR")
                    ),
                    Span::call_site(),
                );
                quote!(#krate::#private::#name)
            }
        };
        Self {
            serde: reexported(serde, "serde"),
            schemars: reexported(schemars, "schemars"),
            krate,
        }
    }

    /// konditions-core at `crate = "..."` or `::konditions_core`.
    pub(crate) fn core(krate: Option<&Path>) -> TokenStream {
        krate.map_or_else(|| quote!(::konditions_core), |path| quote!(#path))
    }
}
