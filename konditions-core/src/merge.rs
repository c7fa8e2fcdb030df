//! Merging many conditions into one: the summary of an object's own
//! conditions, the aggregate of one condition across many objects, and the
//! mirror of a child's condition on its parent.
//!
//! The rules follow Cluster API's `util/conditions` (the metav1.Condition
//! "v1beta2" conditions, v1.14), so that a parent summarising its children
//! reads the same in a konditions operator as in a Cluster API one:
//!
//! * each merged condition has a [`Priority`]: an *issue* (a condition in its
//!   bad state), *unknown*, or *info* (in its good state);
//! * the result is bad when there is an issue, else Unknown when there is an
//!   unknown, else good;
//! * a [summary](summarize) message lists every condition that is not as
//!   expected, one `* Type: message` line each, in the order the types are
//!   given; an [`aggregate`] message groups the objects by kind and
//!   message (`* Deployments a, b: message`) and names at most
//!   [`Aggregate::limit`] groups, counting the rest (`And 2 Deployments with
//!   other issues`);
//! * a [`mirror`] copies a child's condition, naming the child.
//!
//! The [`MergeStrategy`] decides priorities, the reason and the summary's
//! lines; [`DefaultMerge`] is the one used unless another is given.
//!
//! Where konditions deliberately differs from Cluster API (each difference
//! is checked by the differential test, `tests/capi_differential.rs`):
//!
//! 1. **Reason of one issue**: when exactly one condition explains a bad
//!    (or Unknown) result, the result carries that condition's own reason
//!    (e.g. `QuotaExceeded`), which says more than `IssuesReported` and is
//!    what [`ConditionType::stalls`](crate::ConditionType::stalls) judges.
//!    Several issues give Cluster API's `IssuesReported` (`UnknownReported`).
//!    [`DefaultMerge::generic_reasons`] restores Cluster API's reasons.
//! 2. **All good**: the reason is [`AS_EXPECTED_REASON`] (Cluster API:
//!    `InfoReported`), and when no good condition has a message the summary
//!    says [`SUMMARY_TRUE_MESSAGE`](crate::SUMMARY_TRUE_MESSAGE) (Cluster API:
//!    an empty message).
//! 3. **Stale conditions**: a condition whose `observedGeneration` is older
//!    than its object's `metadata.generation` describes a spec that no
//!    longer exists: it counts as Unknown, reason
//!    [`INITIAL_REASON`](crate::INITIAL_REASON) (Cluster API reads it as
//!    current).
//! 4. **Mirror names its source**: the mirrored message ends with
//!    `(from Deployment web)` (Cluster API copies the message unchanged); a
//!    mirrored reason that is not a valid metav1 reason becomes
//!    [`NO_REASON_REPORTED_REASON`].
//! 5. **Message limit**: a message longer than metav1's 32768 bytes is cut
//!    at a line, with a count of the lines left out (Cluster API writes it
//!    and the API server refuses the status).
//! 6. **Plurals**: kinds are pluralised by the regular English rules
//!    ([`pluralize`]); Cluster API's dictionary also knows irregular nouns.
//! 7. **One condition per type**: of an object listing a type twice, the
//!    first counts (Cluster API's summary counts each).
//!
//! The guide's page `docs/children.md` shows all of it on a parent with
//! Deployments and child resources.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{Polarity, Status, Verdict};

/// The reason of a merged condition with several issues (Cluster API's).
pub const ISSUES_REPORTED_REASON: &str = "IssuesReported";
/// The reason of a merged condition with several unknowns and no issue.
pub const UNKNOWN_REPORTED_REASON: &str = "UnknownReported";
/// Cluster API's reason when every condition is good.
pub const INFO_REPORTED_REASON: &str = "InfoReported";
/// konditions' reason when every condition is good.
pub const AS_EXPECTED_REASON: &str = crate::SUMMARY_TRUE_REASON;
/// The reason of a condition expected but not reported.
pub const NOT_YET_REPORTED_REASON: &str = "NotYetReported";
/// The message of a summarised condition expected but not reported.
pub const NOT_YET_REPORTED_MESSAGE: &str = "Condition not yet reported";
/// The reason of a mirrored condition whose own reason is not a valid
/// metav1 reason (e.g. empty).
pub const NO_REASON_REPORTED_REASON: &str = "NoReasonReported";
/// How many groups an aggregate message names before counting the rest.
pub const DEFAULT_AGGREGATE_LIMIT: usize = 3;

/// A condition as merging reads it: borrowed text and the standard
/// tri-state status, from any object (a konditions resource, a Deployment,
/// a `DynamicObject`).
///
/// ```
/// use konditions_core::Status;
/// use konditions_core::merge::Reported;
/// let c = Reported::new("Available", Status::False, "MinimumReplicasUnavailable", "1/3 available");
/// assert_eq!(c.type_, "Available");
/// assert_eq!(c.observed_generation, None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reported<'a> {
    /// The condition type.
    pub type_: Cow<'a, str>,
    /// The status; statuses beyond the tri-state map through their truth.
    pub status: Status,
    /// The reason.
    pub reason: Cow<'a, str>,
    /// The message.
    pub message: Cow<'a, str>,
    /// The generation the condition was computed for, when it says.
    pub observed_generation: Option<i64>,
}

impl<'a> Reported<'a> {
    /// A condition without `observedGeneration`.
    pub fn new(
        type_: impl Into<Cow<'a, str>>,
        status: Status,
        reason: impl Into<Cow<'a, str>>,
        message: impl Into<Cow<'a, str>>,
    ) -> Self {
        Self {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            observed_generation: None,
        }
    }

    /// The same condition with `observedGeneration`.
    ///
    /// ```
    /// use konditions_core::Status;
    /// use konditions_core::merge::Reported;
    /// let c = Reported::new("Ready", Status::True, "Up", "").observed_generation(Some(3));
    /// assert_eq!(c.observed_generation, Some(3));
    /// ```
    #[must_use]
    pub fn observed_generation(mut self, generation: Option<i64>) -> Self {
        self.observed_generation = generation;
        self
    }

    /// Parses a wire status: anything but `True` and `False` is Unknown,
    /// as Cluster API and kstatus read it.
    ///
    /// ```
    /// use konditions_core::Status;
    /// use konditions_core::merge::Reported;
    /// assert_eq!(Reported::status_of("False"), Status::False);
    /// assert_eq!(Reported::status_of("Maybe"), Status::Unknown);
    /// ```
    pub fn status_of(wire: &str) -> Status {
        match wire {
            "True" => Status::True,
            "False" => Status::False,
            _ => Status::Unknown,
        }
    }

    /// Whether this condition was computed for an older generation than
    /// `generation`.
    fn is_stale(&self, generation: Option<i64>) -> bool {
        matches!((self.observed_generation, generation), (Some(seen), Some(current)) if seen < current)
    }

    /// Rule 3 of the [module documentation](self): a stale condition reads
    /// as Unknown, saying which generation it was computed for.
    fn fresh_or_unknown(self, generation: Option<i64>) -> Reported<'a> {
        if !self.is_stale(generation) {
            return self;
        }
        let message = format!(
            "Computed for generation {}, the object is at generation {}",
            self.observed_generation.unwrap_or_default(),
            generation.unwrap_or_default()
        );
        Reported {
            status: Status::Unknown,
            reason: Cow::Borrowed(crate::INITIAL_REASON),
            message: Cow::Owned(message),
            ..self
        }
    }

    fn into_owned(self) -> Reported<'static> {
        Reported {
            type_: Cow::Owned(self.type_.into_owned()),
            status: self.status,
            reason: Cow::Owned(self.reason.into_owned()),
            message: Cow::Owned(self.message.into_owned()),
            observed_generation: self.observed_generation,
        }
    }
}

/// How a merged condition weighs: issues decide over unknowns, unknowns
/// over infos.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// The condition is in its bad state.
    Issue,
    /// The condition's state is not known.
    Unknown,
    /// The condition is in its good state.
    Info,
}

/// The conditions being merged, split by [`Priority`], each in merge order.
#[derive(Debug, Default)]
pub struct Split<'r, 'a> {
    /// The issues.
    pub issues: Vec<&'r Reported<'a>>,
    /// The unknowns.
    pub unknowns: Vec<&'r Reported<'a>>,
    /// The infos.
    pub infos: Vec<&'r Reported<'a>>,
}

/// How conditions merge: a condition's [`Priority`], the merged reason, and
/// the summary's lines. Replace it to change any of them; the status always
/// follows the priorities (issue: bad, unknown: Unknown, otherwise good).
///
/// ```
/// use std::borrow::Cow;
/// use konditions_core::Status;
/// use konditions_core::merge::{summarize, DefaultMerge, MergeStrategy, Priority, Reported, Split, Summary, Object};
///
/// /// Counts the issues in the reason; everything else as the default.
/// struct Counting(DefaultMerge);
/// impl MergeStrategy for Counting {
///     fn priority(&self, c: &Reported<'_>) -> Priority { self.0.priority(c) }
///     fn reason(&self, split: &Split<'_, '_>) -> Cow<'static, str> {
///         match split.issues.len() {
///             0 => self.0.reason(split).into_owned().into(),
///             n => format!("Issues{n}").into(),
///         }
///     }
/// }
/// let object = Object::new("Widget", "w").condition(Reported::new("A", Status::False, "Down", "a is down"));
/// let strategy = Counting(DefaultMerge::default());
/// let ready = summarize(&object, "Ready", &Summary::of(["A"]).strategy(&strategy)).unwrap();
/// assert_eq!((ready.status, &*ready.reason, &*ready.message), (Status::False, "Issues1", "* A: a is down"));
/// ```
pub trait MergeStrategy {
    /// The priority of one condition.
    fn priority(&self, condition: &Reported<'_>) -> Priority;

    /// The merged reason.
    fn reason(&self, split: &Split<'_, '_>) -> Cow<'static, str>;

    /// The summary message's lines (`* Type: message`), to reorder, drop or
    /// add to. Default: unchanged.
    fn summary_lines(&self, lines: Vec<String>) -> Vec<String> {
        lines
    }
}

/// The default [`MergeStrategy`]: `True` is good except for the types
/// declared negative; one issue's reason explains the result (rule 1 of the
/// [module documentation](self)), several give `IssuesReported`.
///
/// ```
/// use konditions_core::Status;
/// use konditions_core::merge::{DefaultMerge, MergeStrategy, Priority, Reported};
/// let merge = DefaultMerge::default().negative(["Degraded"]);
/// assert_eq!(merge.priority(&Reported::new("Degraded", Status::True, "Slow", "")), Priority::Issue);
/// assert_eq!(merge.priority(&Reported::new("Ready", Status::True, "Up", "")), Priority::Info);
/// assert_eq!(merge.priority(&Reported::new("Ready", Status::Unknown, "Probing", "")), Priority::Unknown);
/// ```
#[derive(Clone, Debug, Default)]
pub struct DefaultMerge {
    negative: BTreeSet<String>,
    generic_reasons: bool,
}

impl DefaultMerge {
    /// The same strategy with `types` read as negative (`False` is good).
    #[must_use]
    pub fn negative<I, T>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.negative.extend(types.into_iter().map(Into::into));
        self
    }

    /// The same strategy with Cluster API's reasons only: `IssuesReported`,
    /// `UnknownReported` and `InfoReported`, however many conditions explain
    /// the result.
    ///
    /// ```
    /// use konditions_core::Status;
    /// use konditions_core::merge::{summarize, DefaultMerge, Object, Reported, Summary};
    /// let object = Object::new("Widget", "w").condition(Reported::new("A", Status::False, "Down", ""));
    /// let merge = DefaultMerge::default().generic_reasons();
    /// let ready = summarize(&object, "Ready", &Summary::of(["A"]).strategy(&merge)).unwrap();
    /// assert_eq!(ready.reason, "IssuesReported");
    /// ```
    #[must_use]
    pub fn generic_reasons(mut self) -> Self {
        self.generic_reasons = true;
        self
    }

    /// Whether `type_` was declared negative.
    fn is_negative(&self, type_: &str) -> bool {
        self.negative.contains(type_)
    }
}

impl MergeStrategy for DefaultMerge {
    fn priority(&self, condition: &Reported<'_>) -> Priority {
        match (condition.status, self.is_negative(&condition.type_)) {
            (Status::True, false) | (Status::False, true) => Priority::Info,
            (Status::True, true) | (Status::False, false) => Priority::Issue,
            (Status::Unknown, _) => Priority::Unknown,
        }
    }

    fn reason(&self, split: &Split<'_, '_>) -> Cow<'static, str> {
        let own = |one: &[&Reported<'_>]| match one {
            [single]
                if !self.generic_reasons
                    && crate::validation::validate_reason(&single.reason).is_ok() =>
            {
                Some(Cow::Owned(single.reason.clone().into_owned()))
            }
            _ => None,
        };
        if !split.issues.is_empty() {
            own(&split.issues).unwrap_or(Cow::Borrowed(ISSUES_REPORTED_REASON))
        } else if !split.unknowns.is_empty() {
            own(&split.unknowns).unwrap_or(Cow::Borrowed(UNKNOWN_REPORTED_REASON))
        } else if self.generic_reasons {
            Cow::Borrowed(INFO_REPORTED_REASON)
        } else {
            Cow::Borrowed(AS_EXPECTED_REASON)
        }
    }
}

/// Why conditions could not be merged. The cases are Cluster API's: a
/// request that cannot mean anything.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A summary of no condition types.
    #[error("a summary needs at least one condition type to summarise")]
    NoTypes,
    /// The summary's own type among the types it summarises.
    #[error("a summary cannot summarise its own type `{0}`")]
    TargetInTypes(String),
    /// The same type overridden twice.
    #[error("the condition `{0}` is overridden more than once")]
    DuplicateOverride(String),
    /// An override of a condition the object does not have.
    #[error("the override of `{0}` needs the object to have that condition")]
    OverrideOfMissing(String),
    /// Every summarised type is missing and ignored when missing.
    #[error("nothing to summarise: every condition type is missing and ignored when missing")]
    NothingToSummarize,
    /// An aggregate over no object.
    #[error("an aggregate needs at least one object")]
    NoObjects,
    /// An aggregate whose negative types are not exactly its source type.
    #[error("an aggregate may only declare its source type `{0}` negative")]
    NegativeNotSource(String),
}

/// An object whose conditions can be merged: its kind and name (for
/// aggregate and mirror messages), generation and conditions.
///
/// Implemented for konditions resources, for the workloads of
/// `k8s_openapi` (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job), for
/// kube's `DynamicObject` and for [`Object`]; see
/// [`children`](crate::children).
pub trait ConditionSource {
    /// The object's kind, e.g. `Deployment`.
    fn kind(&self) -> Cow<'_, str>;
    /// The object's name.
    fn name(&self) -> Cow<'_, str>;
    /// `metadata.generation`; stale conditions read as Unknown against it.
    fn generation(&self) -> Option<i64>;
    /// The object's conditions, in the order the object lists them.
    fn reported(&self) -> Vec<Reported<'_>>;

    /// The condition of `type_`, if the object has it.
    fn find_reported(&self, type_: &str) -> Option<Reported<'_>> {
        self.reported().into_iter().find(|c| c.type_ == type_)
    }
}

/// An object given as plain data: for objects of no Rust type, and tests.
///
/// ```
/// use konditions_core::Status;
/// use konditions_core::merge::{ConditionSource, Object, Reported};
/// let web = Object::new("Deployment", "web").generation(2)
///     .condition(Reported::new("Available", Status::True, "MinimumReplicasAvailable", ""));
/// assert_eq!(web.find_reported("Available").unwrap().status, Status::True);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object {
    /// The kind.
    pub kind: String,
    /// The name.
    pub name: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The conditions.
    pub conditions: Vec<Reported<'static>>,
}

impl Object {
    /// An object of `kind` named `name`, without conditions.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
            ..Self::default()
        }
    }

    /// The same object at `generation`.
    #[must_use]
    pub fn generation(mut self, generation: i64) -> Self {
        self.generation = Some(generation);
        self
    }

    /// The same object with one more condition.
    #[must_use]
    pub fn condition(mut self, condition: Reported<'_>) -> Self {
        self.conditions.push(condition.into_owned());
        self
    }
}

impl ConditionSource for Object {
    fn kind(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.kind)
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.name)
    }
    fn generation(&self) -> Option<i64> {
        self.generation
    }
    fn reported(&self) -> Vec<Reported<'_>> {
        self.conditions
            .iter()
            .map(|c| Reported {
                type_: Cow::Borrowed(&c.type_),
                status: c.status,
                reason: Cow::Borrowed(&c.reason),
                message: Cow::Borrowed(&c.message),
                observed_generation: c.observed_generation,
            })
            .collect()
    }
}

/// What a [summary](summarize) summarises and how: the types in order,
/// their polarity, the types that may be missing, overrides for this
/// summary only, and the merge strategy.
///
/// ```
/// use konditions_core::Status;
/// use konditions_core::merge::{summarize, Object, Reported, Summary};
/// let object = Object::new("Widget", "w")
///     .condition(Reported::new("A", Status::False, "Down", "a is down"))
///     .condition(Reported::new("B", Status::Unknown, "Probing", ""));
/// let ready = summarize(&object, "Ready", &Summary::of(["A", "B", "C"]).ignore_if_missing(["C"])).unwrap();
/// assert_eq!(ready.status, Status::False);
/// assert_eq!(ready.reason, "Down"); // one issue: its own reason
/// assert_eq!(ready.message, "* A: a is down\n* B: Probing");
/// ```
#[derive(Clone, Default)]
pub struct Summary<'s> {
    types: Vec<String>,
    negative: Vec<String>,
    ignore_if_missing: BTreeSet<String>,
    overrides: Vec<Reported<'static>>,
    strategy: Option<&'s dyn MergeStrategy>,
    good: Option<Polarity>,
}

impl std::fmt::Debug for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Summary")
            .field("types", &self.types)
            .field("negative", &self.negative)
            .field("ignore_if_missing", &self.ignore_if_missing)
            .field("overrides", &self.overrides)
            .field("custom_strategy", &self.strategy.is_some())
            .finish()
    }
}

impl<'s> Summary<'s> {
    /// A summary of `types`, in the order its message lists them.
    pub fn of<I, T>(types: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self {
            types: types.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Options only (no types): for the typed summary, whose types are the
    /// declared dependents.
    ///
    /// ```
    /// use konditions_core::merge::Summary;
    /// let options = Summary::options().ignore_if_missing(["BucketCreated"]);
    /// assert!(format!("{options:?}").contains("BucketCreated"));
    /// ```
    pub fn options() -> Self {
        Self::default()
    }

    /// Reads `types` as negative (`False` is good) with the default strategy.
    #[must_use]
    pub fn negative<I, T>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.negative.extend(types.into_iter().map(Into::into));
        self
    }

    /// Leaves `types` out when the object does not have them (instead of
    /// counting them Unknown, `NotYetReported`).
    #[must_use]
    pub fn ignore_if_missing<I, T>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.ignore_if_missing
            .extend(types.into_iter().map(|t| t.as_ref().to_owned()));
        self
    }

    /// Summarises `verdict` in place of the object's condition of `type_`,
    /// for this summary only (the object is not changed). The object must
    /// have that condition.
    ///
    /// ```
    /// use konditions_core::{Status, Verdict};
    /// use konditions_core::merge::{summarize, Object, Reported, Summary};
    /// let object = Object::new("Widget", "w").condition(Reported::new("A", Status::False, "Down", ""));
    /// let summary = Summary::of(["A"]).override_with("A", Verdict::new(Status::True, "Ignored"));
    /// assert_eq!(summarize(&object, "Ready", &summary).unwrap().status, Status::True);
    /// ```
    #[must_use]
    pub fn override_with(mut self, type_: impl AsRef<str>, verdict: Verdict<'_, Status>) -> Self {
        self.overrides.push(Reported {
            type_: Cow::Owned(type_.as_ref().to_owned()),
            status: verdict.status,
            reason: Cow::Owned(verdict.reason.into_owned()),
            message: Cow::Owned(verdict.message.into_owned()),
            observed_generation: None,
        });
        self
    }

    /// Merges with `strategy` instead of [`DefaultMerge`] (which then
    /// ignores [`negative`](Self::negative): the strategy decides).
    #[must_use]
    pub fn strategy(mut self, strategy: &'s dyn MergeStrategy) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// The strategy given, if any.
    pub(crate) fn custom_strategy(&self) -> Option<&'s dyn MergeStrategy> {
        self.strategy
    }

    /// The conditions of `types` the summary merges, in that order: the
    /// object's (stale ones Unknown), overridden ones replaced, missing ones
    /// Unknown unless ignored.
    pub(crate) fn in_scope<O: ConditionSource + ?Sized>(
        &self,
        object: &O,
        types: &[&str],
    ) -> Result<Vec<Reported<'static>>, MergeError> {
        let generation = object.generation();
        let reported = object.reported();
        let mut overrides: HashMap<&str, &Reported<'static>> = HashMap::new();
        for o in &self.overrides {
            if overrides.insert(&o.type_, o).is_some() {
                return Err(MergeError::DuplicateOverride(o.type_.to_string()));
            }
            if !reported.iter().any(|c| c.type_ == o.type_) {
                return Err(MergeError::OverrideOfMissing(o.type_.to_string()));
            }
        }
        let conditions: Vec<Reported<'static>> = types
            .iter()
            .filter_map(|&type_| {
                // The first condition of a type counts, as a lookup finds it.
                match reported.iter().find(|c| c.type_ == type_) {
                    Some(c) => Some(match overrides.get(type_) {
                        Some(o) => (*o).clone(),
                        None => c.clone().fresh_or_unknown(generation).into_owned(),
                    }),
                    None if self.ignore_if_missing.contains(type_) => None,
                    None => Some(Reported::new(
                        type_.to_owned(),
                        Status::Unknown,
                        NOT_YET_REPORTED_REASON,
                        NOT_YET_REPORTED_MESSAGE,
                    )),
                }
            })
            .collect();
        if conditions.is_empty() {
            return Err(MergeError::NothingToSummarize);
        }
        Ok(conditions)
    }

    /// The summary's own polarity: with [`Polarity::Negative`] the good
    /// result is `False`. Default positive.
    #[must_use]
    pub fn polarity(mut self, polarity: Polarity) -> Self {
        self.good = Some(polarity);
        self
    }
}

/// The merged status for `split` and the target's polarity.
fn merged_status(split: &Split<'_, '_>, polarity: Polarity) -> Status {
    let good = polarity == Polarity::Positive;
    if !split.issues.is_empty() {
        if good { Status::False } else { Status::True }
    } else if !split.unknowns.is_empty() {
        Status::Unknown
    } else if good {
        Status::True
    } else {
        Status::False
    }
}

fn split<'r, 'a>(conditions: &'r [Reported<'a>], strategy: &dyn MergeStrategy) -> Split<'r, 'a> {
    let mut split = Split::default();
    for c in conditions {
        match strategy.priority(c) {
            Priority::Issue => split.issues.push(c),
            Priority::Unknown => split.unknowns.push(c),
            Priority::Info => split.infos.push(c),
        }
    }
    split
}

/// Whether Cluster API reads `message` as a list: it holds a `*` followed
/// by white space.
fn has_bullet(message: &str) -> bool {
    message
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'*' && matches!(w[1], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
}

/// A message after `* Subject:`: on the same line when it is one line,
/// otherwise indented below, every line a bullet.
fn after_colon(message: &str) -> String {
    if !message.contains('\n') && !has_bullet(message) {
        return format!(" {message}");
    }
    let lines: Vec<&str> = message.split('\n').collect();
    let mixed = lines.iter().any(|l| !has_bullet(l));
    let mut out = String::with_capacity(message.len() + 4 * lines.len());
    for line in &lines {
        out.push_str("\n  ");
        if mixed {
            out.push_str(if has_bullet(line) { "  " } else { "* " });
        }
        out.push_str(line);
    }
    out
}

/// Joins `lines` into a message of at most metav1's limit: lines that do
/// not fit are dropped and counted (rule 5 of the module documentation).
pub(crate) fn bounded_lines(lines: Vec<String>) -> String {
    let limit = crate::validation::MAX_MESSAGE_LEN;
    let total: usize = lines
        .iter()
        .map(|l| l.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    if total <= limit {
        return lines.join("\n");
    }
    let count = lines.len();
    let mut out = String::new();
    for (kept, line) in lines.into_iter().enumerate() {
        // Room for the separator, this line, and the worst-case tail.
        let tail = format!("\n* ... and {} more", count - kept);
        let sep = usize::from(!out.is_empty());
        if out.len() + sep + line.len() + tail.len() + 20 > limit {
            if kept == 0 {
                // One line alone too long: its beginning, cut at a character.
                let mut end = limit.saturating_sub(tail.len() + 20);
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                out.push_str(&line[..end]);
                out.push('…');
                if count > 1 {
                    out.push_str(&format!("\n* ... and {} more", count - 1));
                }
                return out;
            }
            out.push_str(&tail);
            return out;
        }
        if sep == 1 {
            out.push('\n');
        }
        out.push_str(&line);
    }
    out
}

/// The summary of `object`'s conditions of [`Summary::of`]'s types, as the
/// condition `target` (whose type may not be among them).
///
/// A type the object does not have counts as Unknown, reason
/// [`NOT_YET_REPORTED_REASON`], unless [ignored when
/// missing](Summary::ignore_if_missing); a stale condition counts as
/// Unknown (rule 3 of the [module documentation](self)).
///
/// ```
/// use konditions_core::Status;
/// use konditions_core::merge::{summarize, Object, Reported, Summary};
/// let object = Object::new("Widget", "w")
///     .condition(Reported::new("A", Status::True, "Up", ""))
///     .condition(Reported::new("Degraded", Status::True, "Slow", "p99 is 2s"))
///     .condition(Reported::new("B", Status::False, "Down", "b is down"));
/// let ready = summarize(&object, "Ready", &Summary::of(["A", "B", "Degraded", "C"]).negative(["Degraded"])).unwrap();
/// assert_eq!(ready.status, Status::False);
/// assert_eq!(ready.reason, "IssuesReported");
/// assert_eq!(ready.message, "* B: b is down\n* Degraded: p99 is 2s\n* C: Condition not yet reported");
/// ```
pub fn summarize<O: ConditionSource + ?Sized>(
    object: &O,
    target: &str,
    summary: &Summary<'_>,
) -> Result<Verdict<'static, Status>, MergeError> {
    if summary.types.is_empty() {
        return Err(MergeError::NoTypes);
    }
    if summary.types.iter().any(|t| t == target) {
        return Err(MergeError::TargetInTypes(target.to_owned()));
    }
    let default;
    let strategy: &dyn MergeStrategy = match summary.strategy {
        Some(s) => s,
        None => {
            default = DefaultMerge::default().negative(summary.negative.iter().cloned());
            &default
        }
    };
    let types: Vec<&str> = summary.types.iter().map(String::as_str).collect();
    let conditions = summary.in_scope(object, &types)?;
    Ok(merge_summary(
        &conditions,
        strategy,
        summary.good.unwrap_or_default(),
    ))
}

/// The summary verdict of `conditions` (in message order).
pub(crate) fn merge_summary(
    conditions: &[Reported<'_>],
    strategy: &dyn MergeStrategy,
    polarity: Polarity,
) -> Verdict<'static, Status> {
    let split = split(conditions, strategy);
    let status = merged_status(&split, polarity);
    let good = split.issues.is_empty() && split.unknowns.is_empty();
    let mut lines = Vec::new();
    for c in conditions {
        if strategy.priority(c) == Priority::Info && (!good || c.message.is_empty()) {
            continue;
        }
        let rest = if c.message.is_empty() {
            format!(" {}", c.reason)
        } else {
            after_colon(&c.message)
        };
        lines.push(format!("* {}:{rest}", c.type_));
    }
    let lines = strategy.summary_lines(lines);
    let message = if good && lines.is_empty() {
        crate::SUMMARY_TRUE_MESSAGE.to_owned()
    } else {
        bounded_lines(lines)
    };
    Verdict {
        status,
        reason: strategy.reason(&split),
        message: Cow::Owned(message),
    }
}

/// What an [aggregate] aggregates: the source condition type, its
/// polarity, how many groups its message names, the merge strategy.
///
/// ```
/// use konditions_core::merge::Aggregate;
/// let options = Aggregate::of("Available").limit(5);
/// assert!(format!("{options:?}").contains("Available"));
/// ```
#[derive(Clone)]
pub struct Aggregate<'s> {
    type_: String,
    negative: bool,
    limit: usize,
    strategy: Option<&'s dyn MergeStrategy>,
}

impl std::fmt::Debug for Aggregate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregate")
            .field("type_", &self.type_)
            .field("negative", &self.negative)
            .field("limit", &self.limit)
            .field("custom_strategy", &self.strategy.is_some())
            .finish()
    }
}

impl<'s> Aggregate<'s> {
    /// An aggregate of each object's condition `type_`.
    pub fn of(type_: impl Into<String>) -> Self {
        Self {
            type_: type_.into(),
            negative: false,
            limit: DEFAULT_AGGREGATE_LIMIT,
            strategy: None,
        }
    }

    /// An aggregate of each child's condition `type_`, a declared type of
    /// the children's kind: its wire name and its polarity.
    ///
    /// ```
    /// use konditions_core::Status;
    /// use konditions_core::example::WidgetCondition;
    /// use konditions_core::merge::{aggregate, Aggregate, Object, Reported};
    /// // Degraded is negative: True is the bad state, and the aggregate says True.
    /// let options = Aggregate::of_type(&WidgetCondition::Degraded);
    /// let child = Object::new("Widget", "w").condition(Reported::new("Degraded", Status::True, "Slow", "p99 2s"));
    /// assert_eq!(aggregate(&[child], &options).unwrap().status, Status::True);
    /// ```
    pub fn of_type<T: crate::ConditionType>(type_: &T) -> Self {
        let options = Self::of(type_.as_str());
        match type_.polarity() {
            Polarity::Negative => options.negative(),
            Polarity::Positive => options,
        }
    }

    /// The source type is negative (`False` is good), and so is the result.
    #[must_use]
    pub fn negative(mut self) -> Self {
        self.negative = true;
        self
    }

    /// Names at most `limit` groups of objects in the message (default
    /// [`DEFAULT_AGGREGATE_LIMIT`]) and counts the others.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Merges with `strategy` instead of [`DefaultMerge`].
    #[must_use]
    pub fn strategy(mut self, strategy: &'s dyn MergeStrategy) -> Self {
        self.strategy = Some(strategy);
        self
    }
}

/// A condition of one object, with the object it comes from.
struct Owned<'a> {
    kind: Cow<'a, str>,
    name: Cow<'a, str>,
    condition: Reported<'a>,
}

/// The aggregate of the condition [`Aggregate::of`] across `objects`: bad
/// when any object's is bad, Unknown when any is unknown or missing, good
/// when all are good. The message groups the objects by kind, then by
/// message, issues first, larger groups first:
/// `* Deployments api, web: 0/3 replicas available`, naming at most
/// [`Aggregate::limit`] groups and counting the others
/// (`And 2 Deployments with other issues`).
///
/// ```
/// use konditions_core::Status;
/// use konditions_core::merge::{aggregate, Aggregate, Object, Reported};
/// let deployment = |name: &str, status, message: &str| Object::new("Deployment", name)
///     .condition(Reported::new("Available", status, "Replicas", message.to_owned()));
/// let children = [
///     deployment("web", Status::False, "0/3 available"),
///     deployment("api", Status::False, "0/3 available"),
///     deployment("db", Status::True, ""),
/// ];
/// let available = aggregate(&children, &Aggregate::of("Available")).unwrap();
/// assert_eq!(available.status, Status::False);
/// assert_eq!(available.message, "* Deployments api, web: 0/3 available");
/// ```
pub fn aggregate<O: ConditionSource>(
    objects: &[O],
    aggregate: &Aggregate<'_>,
) -> Result<Verdict<'static, Status>, MergeError> {
    if objects.is_empty() {
        return Err(MergeError::NoObjects);
    }
    let default;
    let strategy: &dyn MergeStrategy = match aggregate.strategy {
        Some(s) => s,
        None => {
            let negative = aggregate.negative.then(|| aggregate.type_.clone());
            default = DefaultMerge::default().negative(negative);
            &default
        }
    };
    let owned: Vec<Owned<'_>> = objects
        .iter()
        .map(|o| {
            let condition = match o.find_reported(&aggregate.type_) {
                Some(c) => c.fresh_or_unknown(o.generation()),
                None => Reported::new(
                    aggregate.type_.as_str(),
                    Status::Unknown,
                    NOT_YET_REPORTED_REASON,
                    format!("Condition {} not yet reported", aggregate.type_),
                ),
            };
            Owned {
                kind: o.kind(),
                name: o.name(),
                condition,
            }
        })
        .collect();
    let conditions: Vec<Reported<'_>> = owned.iter().map(|o| o.condition.clone()).collect();
    let split = split(&conditions, strategy);
    let polarity = if aggregate.negative {
        Polarity::Negative
    } else {
        Polarity::Positive
    };
    let status = merged_status(&split, polarity);
    let mut budget = aggregate.limit;
    let lines = if !split.issues.is_empty() || !split.unknowns.is_empty() {
        let bad: Vec<&Owned<'_>> = owned
            .iter()
            .filter(|o| strategy.priority(&o.condition) == Priority::Issue)
            .chain(
                owned
                    .iter()
                    .filter(|o| strategy.priority(&o.condition) == Priority::Unknown),
            )
            .collect();
        group_lines(&bad, &mut budget, false, strategy)
    } else {
        let good: Vec<&Owned<'_>> = owned.iter().collect();
        group_lines(&good, &mut budget, true, strategy)
    };
    Ok(Verdict {
        status,
        reason: strategy.reason(&split),
        message: Cow::Owned(bounded_lines(lines)),
    })
}

/// A group of objects of one kind sharing a message.
struct Group<'o> {
    priority: Priority,
    names: Vec<&'o str>,
}

/// The aggregate message's lines for `conditions`, naming groups while
/// `budget` lasts.
fn group_lines(
    conditions: &[&Owned<'_>],
    budget: &mut usize,
    drop_empty: bool,
    strategy: &dyn MergeStrategy,
) -> Vec<String> {
    // A message's priority is the highest of its conditions, across kinds.
    let mut priority_of: HashMap<&str, Priority> = HashMap::new();
    let mut by_kind: BTreeMap<&str, Vec<(&str, Vec<&str>)>> = BTreeMap::new();
    for o in conditions {
        if drop_empty && o.condition.message.is_empty() {
            continue;
        }
        let message: &str = &o.condition.message;
        let p = strategy.priority(&o.condition);
        priority_of
            .entry(message)
            .and_modify(|q| *q = (*q).min(p))
            .or_insert(p);
        let groups = by_kind.entry(&o.kind).or_default();
        match groups.iter_mut().find(|(m, _)| *m == message) {
            Some((_, names)) => names.push(&o.name),
            None => groups.push((message, vec![&o.name])),
        }
    }
    let mut lines = Vec::new();
    for (kind, groups) in by_kind {
        let plural = pluralize(kind);
        let mut groups: Vec<(&str, Group<'_>)> = groups
            .into_iter()
            .map(|(m, names)| {
                let priority = priority_of[m];
                (m, Group { priority, names })
            })
            .collect();
        // Names joined in the order the objects were given break ties.
        groups.sort_by(|(_, a), (_, b)| {
            a.priority
                .cmp(&b.priority)
                .then(b.names.len().cmp(&a.names.len()))
                .then_with(|| a.names.join(",").cmp(&b.names.join(",")))
        });
        let mut others: BTreeMap<Priority, usize> = BTreeMap::new();
        for (message, mut group) in groups {
            if *budget == 0 {
                *others.entry(group.priority).or_default() += group.names.len();
                continue;
            }
            group.names.sort_unstable();
            let names = &group.names;
            let subject = match names.len() {
                1 => format!("* {kind} {}:", names[0]),
                2 | 3 => format!("* {plural} {}:", names.join(", ")),
                n => format!(
                    "* {plural} {}, ... ({} more):",
                    names[..3].join(", "),
                    n - 3
                ),
            };
            lines.push(format!("{subject}{}", after_colon(message)));
            *budget -= 1;
        }
        for (priority, count) in others {
            let what = match (priority, drop_empty) {
                (Priority::Issue, false) => "with other issues",
                (Priority::Unknown, false) => "with status unknown",
                (Priority::Info, true) => "with additional info",
                _ => continue,
            };
            let noun = if count == 1 { kind } else { &plural };
            lines.push(format!("And {count} {noun} {what}"));
        }
    }
    lines
}

/// The plural of a kind, by the regular English rules (`Deployment`:
/// `Deployments`, `Policy`: `Policies`, `Ingress`: `Ingresses`).
///
/// ```
/// use konditions_core::merge::pluralize;
/// assert_eq!(pluralize("Deployment"), "Deployments");
/// assert_eq!(pluralize("NetworkPolicy"), "NetworkPolicies");
/// assert_eq!(pluralize("Ingress"), "Ingresses");
/// assert_eq!(pluralize("Gateway"), "Gateways");
/// ```
pub fn pluralize(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    let ends = |s: &str| lower.ends_with(s);
    if ends("s") || ends("x") || ends("z") || ends("ch") || ends("sh") {
        format!("{kind}es")
    } else if ends("y") && !lower[..lower.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u']) {
        format!("{}ies", &kind[..kind.len() - 1])
    } else {
        format!("{kind}s")
    }
}

/// The condition `type_` of `object`, mirrored: its status, reason and
/// message, the message ending with the object it comes from
/// (`(from Deployment web)`). When the object has no such condition:
/// `fallback` if given, else Unknown, [`NOT_YET_REPORTED_REASON`]. A stale
/// condition mirrors as Unknown.
///
/// ```
/// use konditions_core::{Status, Verdict};
/// use konditions_core::merge::{mirror, Object, Reported};
/// let web = Object::new("Deployment", "web")
///     .condition(Reported::new("Available", Status::False, "MinimumReplicasUnavailable", "1/3 available"));
/// let v = mirror(&web, "Available", None);
/// assert_eq!((v.status, &*v.reason, &*v.message), (Status::False, "MinimumReplicasUnavailable", "1/3 available (from Deployment web)"));
/// let empty = Object::new("Deployment", "api");
/// let v = mirror(&empty, "Available", Some(Verdict::new(Status::False, "NotCreated")));
/// assert_eq!(v.reason, "NotCreated");
/// ```
pub fn mirror<O: ConditionSource + ?Sized>(
    object: &O,
    type_: &str,
    fallback: Option<Verdict<'_, Status>>,
) -> Verdict<'static, Status> {
    match object.find_reported(type_) {
        Some(c) => {
            let c = c.fresh_or_unknown(object.generation());
            let from = format!("{} {}", object.kind(), object.name());
            let message = if c.message.is_empty() {
                format!("From {from}")
            } else {
                bounded_lines(vec![format!("{} (from {from})", c.message)])
            };
            let reason = if crate::validation::validate_reason(&c.reason).is_ok() {
                c.reason.into_owned()
            } else {
                NO_REASON_REPORTED_REASON.to_owned()
            };
            Verdict::new(c.status, reason).message(message)
        }
        None => match fallback {
            Some(f) => {
                Verdict::new(f.status, f.reason.into_owned()).message(f.message.into_owned())
            }
            None => Verdict::new(Status::Unknown, NOT_YET_REPORTED_REASON)
                .message(format!("Condition {type_} not yet reported")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(conditions: &[(&str, Status, &str, &str)]) -> Object {
        conditions
            .iter()
            .fold(Object::new("Widget", "w"), |o, (t, s, r, m)| {
                o.condition(Reported::new(*t, *s, *r, *m))
            })
    }

    #[test]
    fn multiline_messages_are_indented_as_bullets() {
        assert_eq!(after_colon("one line"), " one line");
        assert_eq!(after_colon("a\nb"), "\n  * a\n  * b");
        assert_eq!(after_colon("* a\n* b"), "\n  * a\n  * b");
        assert_eq!(after_colon("head\n* a"), "\n  * head\n    * a");
        assert_eq!(after_colon("2 * 3"), "\n  2 * 3");
    }

    #[test]
    fn summary_lists_issues_and_unknowns_in_type_order() {
        let o = object(&[
            ("B", Status::Unknown, "Probing", ""),
            ("A", Status::False, "Down", "a down"),
            ("C", Status::True, "Up", "c fine"),
        ]);
        let v = summarize(&o, "Ready", &Summary::of(["A", "B", "C"])).unwrap();
        assert_eq!(v.status, Status::False);
        assert_eq!(v.reason, "Down");
        assert_eq!(v.message, "* A: a down\n* B: Probing");
    }

    #[test]
    fn all_good_lists_infos_with_messages() {
        let o = object(&[
            ("A", Status::True, "Up", "a fine"),
            ("B", Status::True, "Up", ""),
        ]);
        let v = summarize(&o, "Ready", &Summary::of(["A", "B"])).unwrap();
        assert_eq!((v.status, &*v.reason), (Status::True, AS_EXPECTED_REASON));
        assert_eq!(v.message, "* A: a fine");
        let o = object(&[("B", Status::True, "Up", "")]);
        let v = summarize(&o, "Ready", &Summary::of(["B"])).unwrap();
        assert_eq!(v.message, crate::SUMMARY_TRUE_MESSAGE);
    }

    #[test]
    fn summary_errors_are_capis() {
        let o = object(&[("A", Status::True, "Up", "")]);
        assert_eq!(
            summarize(&o, "Ready", &Summary::of(Vec::<String>::new())),
            Err(MergeError::NoTypes)
        );
        assert_eq!(
            summarize(&o, "Ready", &Summary::of(["A", "Ready"])),
            Err(MergeError::TargetInTypes("Ready".into()))
        );
        assert_eq!(
            summarize(&o, "Ready", &Summary::of(["B"]).ignore_if_missing(["B"])),
            Err(MergeError::NothingToSummarize)
        );
        let v = Verdict::new(Status::True, "X");
        assert_eq!(
            summarize(
                &o,
                "Ready",
                &Summary::of(["A"]).override_with("B", v.clone())
            ),
            Err(MergeError::OverrideOfMissing("B".into()))
        );
        assert_eq!(
            summarize(
                &o,
                "Ready",
                &Summary::of(["A"])
                    .override_with("A", v.clone())
                    .override_with("A", v)
            ),
            Err(MergeError::DuplicateOverride("A".into()))
        );
    }

    #[test]
    fn stale_conditions_are_unknown() {
        let o = Object::new("Widget", "w")
            .generation(3)
            .condition(Reported::new("A", Status::True, "Up", "").observed_generation(Some(2)));
        let v = summarize(&o, "Ready", &Summary::of(["A"])).unwrap();
        assert_eq!(v.status, Status::Unknown);
        assert_eq!(
            v.message,
            "* A: Computed for generation 2, the object is at generation 3"
        );
    }

    #[test]
    fn aggregate_counts_groups_beyond_the_limit() {
        let children: Vec<Object> = (0..6)
            .map(|i| {
                Object::new("Deployment", format!("d{i}")).condition(Reported::new(
                    "Available",
                    Status::False,
                    "Down",
                    format!("message {i}"),
                ))
            })
            .collect();
        let v = aggregate(&children, &Aggregate::of("Available")).unwrap();
        assert_eq!(v.reason, ISSUES_REPORTED_REASON);
        assert_eq!(
            v.message,
            "* Deployment d0: message 0\n* Deployment d1: message 1\n* Deployment d2: message 2\nAnd 3 Deployments with other issues"
        );
        let v = aggregate(&children[..1], &Aggregate::of("Available")).unwrap();
        assert_eq!(v.reason, "Down");
        assert_eq!(
            aggregate(&Vec::<Object>::new(), &Aggregate::of("Available")),
            Err(MergeError::NoObjects)
        );
    }

    #[test]
    fn aggregate_of_missing_conditions_is_unknown() {
        let children = [
            Object::new("Deployment", "a"),
            Object::new("Deployment", "b"),
        ];
        let v = aggregate(&children, &Aggregate::of("Available")).unwrap();
        assert_eq!(
            (v.status, &*v.reason),
            (Status::Unknown, UNKNOWN_REPORTED_REASON)
        );
        assert_eq!(
            v.message,
            "* Deployments a, b: Condition Available not yet reported"
        );
    }

    #[test]
    fn long_messages_are_cut_with_a_count() {
        let lines: Vec<String> = (0..2000)
            .map(|i| format!("* T{i}: {}", "x".repeat(40)))
            .collect();
        let message = bounded_lines(lines);
        assert!(message.len() <= crate::validation::MAX_MESSAGE_LEN);
        assert!(
            message.ends_with("more"),
            "{}",
            &message[message.len() - 40..]
        );
        let one = bounded_lines(vec!["é".repeat(40_000)]);
        assert!(one.len() <= crate::validation::MAX_MESSAGE_LEN);
    }
}
