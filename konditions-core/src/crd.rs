//! CRD YAML generation for your own `cargo xtask crd` (the `make manifests`
//! of kubebuilder), and the drift check CI runs.
//!
//! Give a [`Directory`] the CRDs of your types (`kube::CustomResourceExt::crd()`,
//! or several versions of one kind merged with `kube::core::crd::merge_crds`):
//!
//! * [`Directory::write`] writes one file per CRD, `<plural>.<group>.yaml`
//!   (the CRD's name), each starting with a header line that says which
//!   command regenerates it, and removes files of CRDs that no longer exist;
//!   for a CRD given as an [`Entry`] with
//!   [`argocd_health`](Entry::argocd_health), also the kind's Argo CD health
//!   script and the `argocd-cm` snippet that installs it, under `argocd/`
//!   (see [`argocd`](crate::argocd));
//! * [`Directory::check`] writes nothing and fails with a [`Drift`] (a
//!   unified diff per changed file, the missing files and the stale ones)
//!   when the committed YAML differs from the types, so a `main` can exit
//!   non-zero in CI.
//!
//! The output is deterministic: YAML from serde-saphyr (what kube-rs uses),
//! fields in declaration order, maps sorted, a trailing newline. Every CRD
//! goes through [`prepare`] first. Only files that start with the header
//! are ever removed or reported stale, so other YAML in the directory (a
//! `kustomization.yaml`, say) is left alone.
//!
//! A complete xtask (docs/quick-start.md has it with its Cargo.toml):
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use konditions_core::crd::Directory;
//! # fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> { vec![] }
//!
//! fn main() -> ExitCode {
//!     let check = std::env::args().any(|arg| arg == "--check");
//!     let dir = Directory::new("deploy/crds");
//!     let result = if check {
//!         dir.check(crds()).map(|n| format!("{n} file(s) up to date"))
//!     } else {
//!         dir.write(crds()).map(|files| format!("{} file(s) written", files.len()))
//!     };
//!     match result {
//!         Ok(summary) => { eprintln!("{summary}"); ExitCode::SUCCESS }
//!         Err(error) => { eprintln!("{error}"); ExitCode::FAILURE }
//!     }
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, JSONSchemaProps,
    JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

use crate::argocd::HealthScript;
use crate::{ConditionType, ConditionalResource};

/// The subdirectory of a [`Directory`] holding the Argo CD health scripts
/// and their `argocd-cm` snippets: a subdirectory, so that `kubectl apply -f
/// <directory>` installs the CRDs only.
pub const ARGOCD_DIR: &str = "argocd";

/// One CRD to write, and what to write with it.
///
/// A plain CRD converts into one; [`argocd_health`](Self::argocd_health)
/// adds the kind's Argo CD health script, from its condition types:
///
/// ```
/// # use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
/// use konditions_core::crd::{Directory, Entry};
/// use konditions_core::example::WidgetCondition;
///
/// let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "widgets.example.com"},
///     "spec": {"group": "example.com", "scope": "Namespaced", "versions": [],
///              "names": {"kind": "Widget", "plural": "widgets"}}
/// })).unwrap();
/// let files = Directory::new("deploy/crds")
///     .generate([Entry::new(crd).argocd_health::<WidgetCondition>()])
///     .unwrap();
/// let names: Vec<_> = files.keys().map(String::as_str).collect();
/// assert_eq!(names, [
///     "argocd/widgets.example.com.argocd-cm.yaml",
///     "argocd/widgets.example.com.health.lua",
///     "widgets.example.com.yaml",
/// ]);
/// ```
#[derive(Debug, Clone)]
pub struct Entry {
    crd: CustomResourceDefinition,
    health: Option<HealthScript>,
}

impl Entry {
    /// The CRD alone.
    pub fn new(crd: CustomResourceDefinition) -> Self {
        Self { crd, health: None }
    }

    /// The CRD of the kind `K` (kube's `K::crd()`), with printer columns
    /// for its summary condition unless the kind declares columns of its
    /// own (kube's `printcolumn`): `kubectl get` then shows `READY` and
    /// `REASON` (the summary's status and reason) and `AGE`.
    ///
    /// ```
    /// use konditions_core::crd::Entry;
    /// # use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
    /// # use kube::CustomResource;
    /// # #[derive(CustomResource, ConditionalResource, serde::Serialize, serde::Deserialize, Clone, Debug, schemars::JsonSchema)]
    /// # #[kube(group = "example.com", version = "v1", kind = "Bucket", namespaced, status = "BucketStatus")]
    /// # #[konditions(types(BucketCreated(lock)), summary = Ready)]
    /// # pub struct BucketSpec { region: String }
    /// # #[derive(ConditionalStatus, serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema)]
    /// # #[serde(rename_all = "camelCase")]
    /// # pub struct BucketStatus {
    /// #     #[serde(default)] conditions: Conditions<BucketCondition>,
    /// #     #[serde(default, skip_serializing_if = "Option::is_none")] observed_generation: Option<i64>,
    /// # }
    ///
    /// let entry = Entry::of::<Bucket>().argocd_health::<BucketCondition>();
    /// let columns = entry.crd().spec.versions[0].additional_printer_columns.clone().unwrap();
    /// let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
    /// assert_eq!(names, ["Ready", "Reason", "Age"]);
    /// assert_eq!(columns[0].json_path, r#".status.conditions[?(@.type=="Ready")].status"#);
    /// ```
    pub fn of<K>() -> Self
    where
        K: kube_core::CustomResourceExt + ConditionalResource,
    {
        let mut crd = K::crd();
        summary_columns::<K::Type>(&mut crd);
        Self::new(crd)
    }

    /// The CRD without the generation guard on its conditions (see
    /// [`remove_generation_guard`]): the API server then lets a write
    /// replace a condition with one of an older generation.
    ///
    /// ```
    /// use konditions_core::crd::Entry;
    /// # use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
    /// # use kube::CustomResource;
    /// # #[derive(CustomResource, ConditionalResource, serde::Serialize, serde::Deserialize, Clone, Debug, schemars::JsonSchema)]
    /// # #[kube(group = "example.com", version = "v1", kind = "Bucket", namespaced, status = "BucketStatus")]
    /// # #[konditions(types(BucketCreated), summary = Ready)]
    /// # pub struct BucketSpec { region: String }
    /// # #[derive(ConditionalStatus, serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema)]
    /// # #[serde(rename_all = "camelCase")]
    /// # pub struct BucketStatus {
    /// #     #[serde(default)] conditions: Conditions<BucketCondition>,
    /// #     #[serde(default, skip_serializing_if = "Option::is_none")] observed_generation: Option<i64>,
    /// # }
    ///
    /// let yaml = |entry: &Entry| serde_json::to_string(entry.crd()).unwrap();
    /// let guarded = Entry::of::<Bucket>();
    /// assert!(yaml(&guarded).contains("observedGeneration may not decrease"));
    /// let unguarded = Entry::of::<Bucket>().without_generation_guard();
    /// assert!(!yaml(&unguarded).contains("observedGeneration may not decrease"));
    /// ```
    pub fn without_generation_guard(mut self) -> Self {
        remove_generation_guard(&mut self.crd);
        self
    }

    /// The CRD.
    pub fn crd(&self) -> &CustomResourceDefinition {
        &self.crd
    }

    /// Adds the Argo CD health script of the CRD's kind for condition types
    /// `T` (the enum `#[derive(ConditionalResource)]` generates, e.g.
    /// `BucketCondition`).
    pub fn argocd_health<T: ConditionType>(mut self) -> Self {
        self.health = Some(HealthScript::new::<T>(
            &self.crd.spec.group,
            &self.crd.spec.names.kind,
        ));
        self
    }
}

impl From<CustomResourceDefinition> for Entry {
    fn from(crd: CustomResourceDefinition) -> Self {
        Self::new(crd)
    }
}

/// Adds `READY`, `REASON` (the summary condition of `T`) and `AGE` columns
/// to every version of `crd` that declares none; how many got them.
fn summary_columns<T: ConditionType>(crd: &mut CustomResourceDefinition) -> usize {
    let Some(summary) = T::summary() else {
        return 0;
    };
    let condition = |field: &str| {
        format!(
            r#".status.conditions[?(@.type=="{}")].{field}"#,
            summary.as_str()
        )
    };
    let column = |name: &str, type_: &str, json_path: String, description: String| {
        CustomResourceColumnDefinition {
            name: name.to_owned(),
            type_: type_.to_owned(),
            json_path,
            description: Some(description),
            ..Default::default()
        }
    };
    let columns = vec![
        column(
            summary.as_str(),
            "string",
            condition("status"),
            format!("The status of {}", summary.as_str()),
        ),
        column(
            "Reason",
            "string",
            condition("reason"),
            format!("Why {} has its status", summary.as_str()),
        ),
        column(
            "Age",
            "date",
            ".metadata.creationTimestamp".to_owned(),
            "When the object was created".to_owned(),
        ),
    ];
    let mut changed = 0;
    for version in &mut crd.spec.versions {
        if version
            .additional_printer_columns
            .as_ref()
            .is_none_or(Vec::is_empty)
        {
            version.additional_printer_columns = Some(columns.clone());
            changed += 1;
        }
    }
    changed
}

/// Removes the generation guard
/// ([`GENERATION_RULE`](crate::schema::GENERATION_RULE)) that the schema of
/// [`Conditions`](crate::Conditions) puts on each condition, from every
/// schema of every version of `crd`; returns how many it removed.
///
/// The guard is on by default: with it the API server refuses any write
/// that would replace a condition with one of an older generation. Remove
/// it when conditions are legitimately written back with an older
/// `observedGeneration` (for example objects restored from a backup whose
/// conditions claim generations their new copy has not reached, until
/// every such condition has been rewritten).
///
/// ```
/// use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
/// use konditions_core::{Conditions, crd::remove_generation_guard};
///
/// let conditions = schemars::schema_for!(Conditions);
/// let mut crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "widgets.example.com"},
///     "spec": {"group": "example.com", "scope": "Namespaced",
///         "names": {"kind": "Widget", "plural": "widgets"},
///         "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
///             "type": "object",
///             "properties": {"status": {"type": "object", "properties": {"conditions": conditions}}}}}}]}
/// })).unwrap();
/// assert_eq!(remove_generation_guard(&mut crd), 1);
/// assert_eq!(remove_generation_guard(&mut crd), 0);
/// ```
pub fn remove_generation_guard(crd: &mut CustomResourceDefinition) -> usize {
    crd.spec
        .versions
        .iter_mut()
        .filter_map(|v| v.schema.as_mut()?.open_api_v3_schema.as_mut())
        .map(without_guard)
        .sum()
}

/// Removes the guard from `schema` and the schemas under it.
fn without_guard(schema: &mut JSONSchemaProps) -> usize {
    let mut removed = 0;
    if let Some(rules) = &mut schema.x_kubernetes_validations {
        let before = rules.len();
        rules.retain(|r| r.rule != crate::schema::GENERATION_RULE);
        removed += before - rules.len();
        if rules.is_empty() {
            schema.x_kubernetes_validations = None;
        }
    }
    let nested = schema
        .properties
        .iter_mut()
        .flat_map(|p| p.values_mut())
        .chain(match &mut schema.items {
            Some(JSONSchemaPropsOrArray::Schema(item)) => vec![&mut **item],
            Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().collect(),
            None => Vec::new(),
        })
        .chain(match &mut schema.additional_properties {
            Some(JSONSchemaPropsOrBool::Schema(values)) => Some(&mut **values),
            _ => None,
        });
    removed + nested.map(without_guard).sum::<usize>()
}

/// The command named in the header and in drift errors, unless
/// [`Directory::command`] says otherwise.
pub const DEFAULT_COMMAND: &str = "cargo xtask crd";

/// Normalises a CRD before it is rendered; [`Directory`] applies it to
/// every CRD, and konditions-testing to every CRD it installs, so what
/// tests install is what you commit.
///
/// It clears what an API server fills in: `status`, and in `metadata` the
/// `resourceVersion`, `uid`, `generation`, `creationTimestamp` and
/// `managedFields`, so a CRD read back from a cluster renders like the one
/// built from the types. And it adds konditions' schema fix-up: the
/// `status` default that makes kstatus report an object no controller has
/// touched as in progress ([`kstatus::status_default`](crate::kstatus::status_default)).
///
/// ```
/// use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
///
/// let mut crd = CustomResourceDefinition::default();
/// crd.metadata.resource_version = Some("42".into());
/// crd.status = Some(Default::default());
/// konditions_core::crd::prepare(&mut crd);
/// assert_eq!(crd.metadata.resource_version, None);
/// assert!(crd.status.is_none());
/// ```
pub fn prepare(crd: &mut CustomResourceDefinition) {
    let meta = &mut crd.metadata;
    meta.resource_version = None;
    meta.uid = None;
    meta.generation = None;
    meta.creation_timestamp = None;
    meta.managed_fields = None;
    crd.status = None;
    // kstatus: an object no controller has touched reads as "generation
    // not observed yet" (see the kstatus module).
    crate::kstatus::status_default(crd);
}

/// A directory of generated CRD YAML: where [`write`](Self::write) puts it
/// and what [`check`](Self::check) compares against.
///
/// ```
/// use konditions_core::crd::Directory;
///
/// let dir = Directory::new("deploy/crds").command("cargo xtask crd");
/// assert_eq!(dir.path(), std::path::Path::new("deploy/crds"));
/// assert_eq!(dir.header(), "# Generated by `cargo xtask crd` from the Rust types; do not edit.\n");
/// ```
#[derive(Debug, Clone)]
pub struct Directory {
    path: PathBuf,
    command: String,
}

/// What [`Directory::write`] did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// The file did not exist.
    Created,
    /// The file existed with other content.
    Updated,
    /// The file already held exactly this content (it is not rewritten).
    Unchanged,
    /// A generated file whose CRD no longer exists.
    Removed,
}

/// One file [`Directory::write`] looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// The file's path.
    pub path: PathBuf,
    /// What happened to it.
    pub action: FileAction,
}

impl Directory {
    /// The directory `path` (relative paths are relative to the current
    /// directory: an xtask usually anchors them with `CARGO_MANIFEST_DIR`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            command: DEFAULT_COMMAND.to_owned(),
        }
    }

    /// The command that regenerates the files, for the header line and the
    /// drift error (default [`DEFAULT_COMMAND`]).
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = command.into();
        self
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first line of every generated file; files starting with it are
    /// the ones this directory owns.
    pub fn header(&self) -> String {
        format!(
            "# Generated by `{}` from the Rust types; do not edit.\n",
            self.command
        )
    }

    /// The first line of every generated Lua file: [`header`](Self::header)
    /// as a Lua comment.
    pub fn lua_header(&self) -> String {
        format!(
            "-- Generated by `{}` from the Rust types; do not edit.\n",
            self.command
        )
    }

    /// The file a CRD is written to: `<plural>.<group>.yaml`, its name.
    ///
    /// # Errors
    /// [`CrdError::Name`] when `metadata.name` is missing or is not
    /// `<spec.names.plural>.<spec.group>` (the API server would refuse it).
    ///
    /// ```
    /// # use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    /// let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
    ///     "metadata": {"name": "buckets.example.com"},
    ///     "spec": {"group": "example.com", "scope": "Namespaced", "versions": [],
    ///              "names": {"kind": "Bucket", "plural": "buckets"}}
    /// })).unwrap();
    /// assert_eq!(konditions_core::crd::Directory::file_name(&crd).unwrap(), "buckets.example.com.yaml");
    /// ```
    pub fn file_name(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
        let expected = format!("{}.{}", crd.spec.names.plural, crd.spec.group);
        match crd.metadata.name.as_deref() {
            Some(name) if name == expected => Ok(format!("{name}.yaml")),
            found => Err(CrdError::Name {
                found: found.map(str::to_owned),
                expected,
            }),
        }
    }

    /// The file content for one CRD: the header, then the YAML of the CRD
    /// after [`prepare`], ending with a newline.
    ///
    /// # Errors
    /// [`CrdError::Serialize`] when the CRD cannot be written as YAML.
    pub fn render(&self, crd: &CustomResourceDefinition) -> Result<String, CrdError> {
        let mut crd = crd.clone();
        prepare(&mut crd);
        let yaml = serde_saphyr::to_string(&crd).map_err(|source| CrdError::Serialize {
            name: crd.metadata.name.clone().unwrap_or_default(),
            source,
        })?;
        let header = self.header();
        let mut out = String::with_capacity(header.len() + yaml.len() + 1);
        out.push_str(&header);
        out.push_str(&yaml);
        if !out.ends_with('\n') {
            out.push('\n');
        }
        Ok(out)
    }

    /// File name (relative to the directory) -> content for `crds`: each
    /// CRD's YAML and, for an [`Entry`] with
    /// [`argocd_health`](Entry::argocd_health), `argocd/<name>.health.lua`
    /// and `argocd/<name>.argocd-cm.yaml`.
    ///
    /// # Errors
    /// A [`CrdError::Name`] or [`CrdError::Serialize`] of one CRD, or
    /// [`CrdError::Duplicate`] when two CRDs have one name (merge the
    /// versions of one kind with `kube::core::crd::merge_crds`).
    pub fn generate(
        &self,
        crds: impl IntoIterator<Item = impl Into<Entry>>,
    ) -> Result<BTreeMap<String, String>, CrdError> {
        let mut files = BTreeMap::new();
        for entry in crds {
            let Entry { crd, health } = entry.into();
            let name = Self::file_name(&crd)?;
            let content = self.render(&crd)?;
            let stem = name.trim_end_matches(".yaml").to_owned();
            if files.insert(name, content).is_some() {
                return Err(CrdError::Duplicate { name: stem });
            }
            if let Some(health) = health {
                files.insert(
                    format!("{ARGOCD_DIR}/{stem}.health.lua"),
                    format!("{}{}", self.lua_header(), health.lua()),
                );
                files.insert(
                    format!("{ARGOCD_DIR}/{stem}.argocd-cm.yaml"),
                    format!("{}{}", self.header(), health.config_map()),
                );
            }
        }
        Ok(files)
    }

    /// The generated files currently in the directory and its `argocd/`
    /// subdirectory (those starting with the header), by relative name. A
    /// missing directory has none.
    fn committed(&self) -> Result<BTreeMap<String, String>, CrdError> {
        let mut files = BTreeMap::new();
        let (header, lua_header) = (self.header(), self.lua_header());
        for (prefix, dir) in [
            ("", self.path.clone()),
            ("argocd/", self.path.join(ARGOCD_DIR)),
        ] {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CrdError::io(&dir, e)),
            };
            for entry in entries {
                let path = entry.map_err(|e| CrdError::io(&dir, e))?.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let header = if name.ends_with(".yaml") {
                    &header
                } else if name.ends_with(".lua") {
                    &lua_header
                } else {
                    continue;
                };
                if !path.is_file() {
                    continue;
                }
                let content = fs::read_to_string(&path).map_err(|e| CrdError::io(&path, e))?;
                if content.starts_with(header.as_str()) {
                    files.insert(format!("{prefix}{name}"), content);
                }
            }
        }
        Ok(files)
    }

    /// Writes the YAML of `crds` (files whose content is already right are
    /// not touched) and removes generated files no CRD produces any more.
    /// Creates the directory if needed.
    ///
    /// # Errors
    /// Those of [`generate`](Self::generate), and [`CrdError::Io`].
    pub fn write(
        &self,
        crds: impl IntoIterator<Item = impl Into<Entry>>,
    ) -> Result<Vec<WrittenFile>, CrdError> {
        let generated = self.generate(crds)?;
        fs::create_dir_all(&self.path).map_err(|e| CrdError::io(&self.path, e))?;
        let committed = self.committed()?;
        let mut report = Vec::new();
        for name in committed.keys().filter(|n| !generated.contains_key(*n)) {
            let path = self.path.join(name);
            fs::remove_file(&path).map_err(|e| CrdError::io(&path, e))?;
            report.push(WrittenFile {
                path,
                action: FileAction::Removed,
            });
        }
        for (name, content) in &generated {
            let path = self.path.join(name);
            let action = match fs::read_to_string(&path) {
                Ok(existing) if existing == *content => FileAction::Unchanged,
                Ok(_) => FileAction::Updated,
                Err(_) => FileAction::Created,
            };
            if action != FileAction::Unchanged {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| CrdError::io(parent, e))?;
                }
                fs::write(&path, content).map_err(|e| CrdError::io(&path, e))?;
            }
            report.push(WrittenFile { path, action });
        }
        Ok(report)
    }

    /// Compares the directory with what [`write`](Self::write) would write,
    /// without writing; returns how many files are up to date.
    ///
    /// # Errors
    /// [`CrdError::Drift`] when a file differs, is missing or is stale; the
    /// errors of [`generate`](Self::generate); [`CrdError::Io`].
    pub fn check(
        &self,
        crds: impl IntoIterator<Item = impl Into<Entry>>,
    ) -> Result<usize, CrdError> {
        let generated = self.generate(crds)?;
        let committed = self.committed()?;
        let mut drift = Drift {
            dir: self.path.clone(),
            command: self.command.clone(),
            changed: Vec::new(),
            missing: Vec::new(),
            stale: Vec::new(),
        };
        for (name, want) in &generated {
            match committed.get(name) {
                Some(have) if have == want => {}
                Some(have) => drift.changed.push(ChangedFile {
                    name: name.clone(),
                    diff: similar::TextDiff::from_lines(have, want)
                        .unified_diff()
                        .context_radius(3)
                        .header(&format!("committed/{name}"), &format!("generated/{name}"))
                        .to_string(),
                }),
                None => drift.missing.push(name.clone()),
            }
        }
        drift.stale = committed
            .keys()
            .filter(|n| !generated.contains_key(*n))
            .cloned()
            .collect();
        if drift.changed.is_empty() && drift.missing.is_empty() && drift.stale.is_empty() {
            Ok(generated.len())
        } else {
            Err(CrdError::Drift(drift))
        }
    }
}

/// A generated file whose committed content differs from the types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    /// The file name.
    pub name: String,
    /// A unified diff from the committed file to the generated one.
    pub diff: String,
}

/// How a directory differs from the types; its `Display` is the whole
/// report: what to run, then each changed file's diff, the missing files
/// and the stale ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The directory checked.
    pub dir: PathBuf,
    /// The command that regenerates it.
    pub command: String,
    /// Files whose content differs.
    pub changed: Vec<ChangedFile>,
    /// Files a CRD produces that do not exist.
    pub missing: Vec<String>,
    /// Generated files no CRD produces any more.
    pub stale: Vec<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the CRD YAML in {} is out of date: run `{}` and commit the result",
            self.dir.display(),
            self.command
        )?;
        for file in &self.changed {
            write!(f, "\n{} differs from the types:\n{}", file.name, file.diff)?;
        }
        if !self.missing.is_empty() {
            write!(
                f,
                "\nmissing (a CRD produces them): {}",
                self.missing.join(", ")
            )?;
        }
        if !self.stale.is_empty() {
            write!(
                f,
                "\nstale (generated, but no CRD produces them any more): {}",
                self.stale.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Why CRD YAML could not be generated, written or checked.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The CRD's name is missing or is not `<plural>.<group>`.
    #[error("a CRD is named {found:?}, but a CRD must be named `<plural>.<group>`: {expected:?}")]
    Name {
        /// `metadata.name`.
        found: Option<String>,
        /// `<spec.names.plural>.<spec.group>`.
        expected: String,
    },
    /// Two CRDs have one name.
    #[error(
        "two CRDs are named {name}: give each kind one CRD, with its versions merged by \
         `kube::core::crd::merge_crds`"
    )]
    Duplicate {
        /// The name.
        name: String,
    },
    /// serde-saphyr refused the CRD.
    #[error("writing CRD {name} as YAML")]
    Serialize {
        /// The CRD's name.
        name: String,
        /// serde-saphyr's error.
        source: serde_saphyr::SerializeError,
    },
    /// Reading or writing the directory failed.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The committed YAML differs from the types.
    #[error("{0}")]
    Drift(Drift),
}

impl CrdError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(plural: &str, versions: &[&str]) -> CustomResourceDefinition {
        let versions: Vec<_> = versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({"name": v, "served": true, "storage": i == 0,
                       "schema": {"openAPIV3Schema": {"type": "object",
                           "properties": {"spec": {"type": "object", "properties": {
                               "size": {"type": "integer"}, "name": {"type": "string"}}}}}}})
            })
            .collect();
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.example.com")},
            "spec": {"group": "example.com", "scope": "Namespaced", "versions": versions,
                     "names": {"kind": "Thing", "plural": plural, "singular": "thing"}}
        }))
        .unwrap()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "konditions-crd-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn summary_columns_go_to_versions_without_columns_of_their_own() {
        use crate::example::WidgetCondition;
        let mut thing = crd("things", &["v2", "v1"]);
        let own = CustomResourceColumnDefinition {
            name: "Size".into(),
            type_: "integer".into(),
            json_path: ".spec.size".into(),
            ..Default::default()
        };
        thing.spec.versions[1].additional_printer_columns = Some(vec![own.clone()]);
        assert_eq!(summary_columns::<WidgetCondition>(&mut thing), 1);
        let v2 = thing.spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap();
        let shown: Vec<_> = v2
            .iter()
            .map(|c| (c.name.as_str(), c.type_.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "Ready",
                    "string",
                    r#".status.conditions[?(@.type=="Ready")].status"#
                ),
                (
                    "Reason",
                    "string",
                    r#".status.conditions[?(@.type=="Ready")].reason"#
                ),
                ("Age", "date", ".metadata.creationTimestamp"),
            ]
        );
        // Declared columns are the kind's choice.
        assert_eq!(
            thing.spec.versions[1].additional_printer_columns,
            Some(vec![own])
        );
        // Without a summary there is nothing to show.
        let mut plain = crd("plain", &["v1"]);
        assert_eq!(summary_columns::<String>(&mut plain), 0);
        assert_eq!(plain.spec.versions[0].additional_printer_columns, None);
    }

    #[test]
    fn rendering_is_deterministic_and_ends_with_a_newline() {
        let dir = Directory::new("x");
        let a = dir.render(&crd("things", &["v1", "v2"])).unwrap();
        assert_eq!(a, dir.render(&crd("things", &["v1", "v2"])).unwrap());
        assert!(a.starts_with(&dir.header()));
        assert!(a.ends_with('\n') && !a.ends_with("\n\n"));
        // Multi-version: both versions, in order.
        let v1 = a.find("name: v1").unwrap();
        let v2 = a.find("name: v2").unwrap();
        assert!(v1 < v2, "{a}");
        // Map keys sorted (properties is a BTreeMap).
        assert!(a.find("name:\n").unwrap() < a.find("size:").unwrap(), "{a}");
    }

    #[test]
    fn write_then_check_is_clean_and_rewrites_nothing() {
        let path = scratch("clean");
        let dir = Directory::new(&path);
        let files = dir
            .write([crd("things", &["v1"]), crd("gadgets", &["v1"])])
            .unwrap();
        let actions: Vec<_> = files.iter().map(|f| f.action).collect();
        assert_eq!(actions, [FileAction::Created, FileAction::Created]);
        assert_eq!(
            dir.check([crd("things", &["v1"]), crd("gadgets", &["v1"])])
                .unwrap(),
            2
        );
        let again = dir
            .write([crd("things", &["v1"]), crd("gadgets", &["v1"])])
            .unwrap();
        assert!(again.iter().all(|f| f.action == FileAction::Unchanged));
        fs::remove_dir_all(path).unwrap();
    }

    #[test]
    fn check_reports_changed_missing_and_stale_files() {
        let path = scratch("drift");
        let dir = Directory::new(&path).command("cargo xtask crd --write");
        dir.write([crd("things", &["v1"]), crd("olds", &["v1"])])
            .unwrap();
        // Hand-written YAML in the same directory is none of our business.
        fs::write(path.join("kustomization.yaml"), "resources: []\n").unwrap();

        let err = dir
            .check([crd("things", &["v1", "v2"]), crd("news", &["v1"])])
            .unwrap_err();
        let CrdError::Drift(drift) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(drift.missing, ["news.example.com.yaml"]);
        assert_eq!(drift.stale, ["olds.example.com.yaml"]);
        assert_eq!(drift.changed.len(), 1);
        let diff = &drift.changed[0].diff;
        assert!(
            diff.contains("--- committed/things.example.com.yaml"),
            "{diff}"
        );
        assert!(diff.contains("+  - name: v2"), "{diff}");
        let report = err.to_string();
        assert!(report.contains("run `cargo xtask crd --write`"), "{report}");
        assert!(report.contains("missing (a CRD produces them): news.example.com.yaml"));
        assert!(report.contains(
            "stale (generated, but no CRD produces them any more): olds.example.com.yaml"
        ));

        // Writing fixes all three and leaves the hand-written file alone.
        let files = dir
            .write([crd("things", &["v1", "v2"]), crd("news", &["v1"])])
            .unwrap();
        let removed: Vec<_> = files
            .iter()
            .filter(|f| f.action == FileAction::Removed)
            .map(|f| f.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(removed, ["olds.example.com.yaml"]);
        assert!(path.join("kustomization.yaml").is_file());
        dir.check([crd("things", &["v1", "v2"]), crd("news", &["v1"])])
            .unwrap();
        fs::remove_dir_all(path).unwrap();
    }

    #[test]
    fn argocd_health_files_are_written_checked_and_removed_with_their_crd() {
        use crate::example::WidgetCondition;
        let path = scratch("argocd");
        let dir = Directory::new(&path);
        let with_health = || Entry::new(crd("things", &["v1"])).argocd_health::<WidgetCondition>();
        dir.write([with_health()]).unwrap();
        let lua = fs::read_to_string(path.join("argocd/things.example.com.health.lua")).unwrap();
        assert!(lua.starts_with(&dir.lua_header()), "{lua}");
        assert!(lua.contains("Argo CD health of example.com/Thing"), "{lua}");
        let cm = fs::read_to_string(path.join("argocd/things.example.com.argocd-cm.yaml")).unwrap();
        assert!(
            cm.contains("resource.customizations.health.example.com_Thing: |"),
            "{cm}"
        );
        assert_eq!(dir.check([with_health()]).unwrap(), 3);

        // A changed script is drift; a CRD without health leaves them stale.
        fs::write(
            path.join("argocd/things.example.com.health.lua"),
            format!("{lua}-- edit\n"),
        )
        .unwrap();
        let err = dir.check([with_health()]).unwrap_err();
        assert!(
            matches!(&err, CrdError::Drift(d) if d.changed[0].name == "argocd/things.example.com.health.lua"),
            "{err}"
        );
        let err = dir.check([crd("things", &["v1"])]).unwrap_err();
        let CrdError::Drift(drift) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            drift.stale,
            [
                "argocd/things.example.com.argocd-cm.yaml",
                "argocd/things.example.com.health.lua"
            ]
        );
        dir.write([crd("things", &["v1"])]).unwrap();
        assert!(!path.join("argocd/things.example.com.health.lua").exists());
        assert_eq!(dir.check([crd("things", &["v1"])]).unwrap(), 1);
        fs::remove_dir_all(path).unwrap();
    }

    #[test]
    fn a_missing_directory_is_all_missing() {
        let dir = Directory::new(scratch("absent"));
        let err = dir.check([crd("things", &["v1"])]).unwrap_err();
        assert!(matches!(&err, CrdError::Drift(d) if d.missing == ["things.example.com.yaml"]));
    }

    #[test]
    fn bad_names_and_duplicates_are_refused() {
        let dir = Directory::new("x");
        let mut unnamed = crd("things", &["v1"]);
        unnamed.metadata.name = None;
        assert!(matches!(
            dir.generate([unnamed]),
            Err(CrdError::Name { found: None, .. })
        ));
        let mut wrong = crd("things", &["v1"]);
        wrong.metadata.name = Some("thing.example.com".into());
        let err = dir.generate([wrong]).unwrap_err();
        assert!(err.to_string().contains("\"things.example.com\""), "{err}");
        let err = dir
            .generate([crd("things", &["v1"]), crd("things", &["v2"])])
            .unwrap_err();
        assert!(err.to_string().contains("merge_crds"), "{err}");
    }

    #[test]
    fn server_fields_are_not_rendered() {
        let dir = Directory::new("x");
        let mut from_server = crd("things", &["v1"]);
        from_server.metadata.uid = Some("0b1c".into());
        from_server.metadata.generation = Some(3);
        from_server.status = Some(Default::default());
        assert_eq!(
            dir.render(&from_server).unwrap(),
            dir.render(&crd("things", &["v1"])).unwrap()
        );
    }
}
