//! The Cluster API side of the differential test of konditions' condition
//! algebra: the cases (serde types of the oracle protocol, CAPI's own table
//! tests as data, a seeded generator of more) and the Go oracle built against
//! sigs.k8s.io/cluster-api v1.14.2 that answers them (`tests/capi/`).
//!
//! The protocol: the oracle reads one JSON array of [`Case`]s on stdin and
//! writes one JSON array of [`Answer`]s, same order, on stdout.
#![allow(dead_code, unreachable_pub)] // each user takes what it needs

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// The oracle's Go module, compiled in so that the build's cache key is its
/// content.
const ORACLE_MODULE: &[(&str, &str)] = &[
    ("go.mod", include_str!("../capi/go.mod")),
    ("go.sum", include_str!("../capi/go.sum")),
    ("main.go", include_str!("../capi/main.go")),
];

/// CAPI's own table tests of summary, aggregate and mirror, transcribed
/// (`tests/capi/cases/README.md` says which).
const TRANSCRIBED: &str = include_str!("../capi/cases/capi_tests.json");

/// One condition as the protocol writes it: metav1.Condition's wire names,
/// without the transition time (CAPI's merge ignores it when all are equal).
///
/// Status is a string, not konditions' enum: the cases carry what CAPI's
/// tests carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
}

/// An object conditions are read from; its kind and name show in aggregate
/// messages ("* Machines a, b: ...").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obj {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    pub conditions: Vec<Condition>,
}

/// `NewSummaryCondition(object, target, ForConditionTypes, NegativePolarityConditionTypes,
/// IgnoreTypesIfMissing, OverrideConditions)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Summary {
    pub object: Obj,
    pub target: String,
    /// In order: the order decides the order of the message's lines.
    pub for_types: Vec<String>,
    #[serde(default)]
    pub negative: Vec<String>,
    #[serde(default)]
    pub ignore_if_missing: Vec<String>,
    #[serde(default)]
    pub r#override: Vec<Condition>,
}

/// `NewAggregateCondition(objects, sourceType, TargetConditionType, NegativePolarityConditionTypes)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Aggregate {
    pub objects: Vec<Obj>,
    pub source_type: String,
    /// Empty: CAPI's default, the source type.
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub negative: Vec<String>,
}

/// `NewMirrorCondition(object, sourceType, TargetConditionType, FallbackCondition)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mirror {
    pub object: Obj,
    pub source_type: String,
    /// Empty: CAPI's default, the source type.
    #[serde(default)]
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

/// Mirror's `FallbackCondition`: used when the source condition is absent
/// (and only if its status is not empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// What a case asks CAPI to compute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Operation {
    Summary(Summary),
    Aggregate(Aggregate),
    Mirror(Mirror),
}

impl Operation {
    /// The type of the condition the operation produces.
    pub fn target_type(&self) -> &str {
        match self {
            Self::Summary(s) => &s.target,
            Self::Aggregate(Aggregate {
                target,
                source_type,
                ..
            })
            | Self::Mirror(Mirror {
                target,
                source_type,
                ..
            }) => {
                if target.is_empty() {
                    source_type
                } else {
                    target
                }
            }
        }
    }

    /// `summary`, `aggregate` or `mirror`, as the protocol names it.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Summary(_) => "summary",
            Self::Aggregate(_) => "aggregate",
            Self::Mirror(_) => "mirror",
        }
    }
}

/// What CAPI's own test expects, for transcribed cases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expected {
    /// `{"error": true}`: CAPI returns an error.
    Error {
        /// Always true in the data.
        error: bool,
    },
    /// The condition's status, reason and message (its type is the case's
    /// target).
    Condition {
        status: String,
        reason: String,
        message: String,
    },
}

/// One case of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Unique in a run: the answers are matched to cases by it.
    pub name: String,
    #[serde(flatten)]
    pub operation: Operation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expected>,
}

/// CAPI's answer to one case: a condition or CAPI's error message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub name: String,
    pub condition: Option<Condition>,
    pub error: Option<String>,
}

impl Answer {
    /// Whether the answer is what `expected` says (status, reason and
    /// message; any error message for an expected error).
    pub fn matches(&self, expected: &Expected) -> bool {
        match (expected, &self.condition, &self.error) {
            (Expected::Error { .. }, None, Some(_)) => true,
            (
                Expected::Condition {
                    status,
                    reason,
                    message,
                },
                Some(c),
                None,
            ) => c.status == *status && c.reason == *reason && c.message == *message,
            _ => false,
        }
    }
}

/// Why the oracle gave no answers.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    #[error("building the Cluster API oracle: {0}")]
    Build(String),
    #[error("running the Cluster API oracle {}: {source}", program.display())]
    Run {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("the Cluster API oracle failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("encoding the cases: {0}")]
    Encode(serde_json::Error),
    #[error("reading the oracle's answers: {0}")]
    Decode(serde_json::Error),
    #[error("the oracle answered {answers} cases of {cases}")]
    Count { cases: usize, answers: usize },
    #[error("the oracle's answer {index} is for {answer:?}, the case is {case:?}")]
    Order {
        index: usize,
        case: String,
        answer: String,
    },
}

/// Why the cases could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("the cases are not the protocol's JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("case name {0:?} appears more than once")]
    DuplicateName(String),
}

/// The oracle binary: built from `tests/capi/` once per machine, then
/// cached. A cold build compiles about 800 Go packages (CAPI's `util`
/// brings controller-runtime and client-go): 4 min 41 s with nothing
/// downloaded, 2 min 11 s with the Go module cache filled (2 busy cores).
pub fn oracle() -> Result<PathBuf, OracleError> {
    konditions_testing::build_go_program(
        "capi-conditions",
        "the Cluster API conditions oracle (sigs.k8s.io/cluster-api v1.14.2 util/conditions)",
        "capi-conditions-1",
        ORACLE_MODULE,
        "capi-conditions",
    )
    .map_err(OracleError::Build)
}

/// CAPI's answers to `cases`, in their order.
pub fn run(cases: &[Case]) -> Result<Vec<Answer>, OracleError> {
    let program = oracle()?;
    let input = serde_json::to_vec(cases).map_err(OracleError::Encode)?;
    let run_error = |source| OracleError::Run {
        program: program.clone(),
        source,
    };
    let mut child = Command::new(&program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(run_error)?;
    // Fed from a thread: the answers may fill the stdout pipe before the
    // oracle has read everything (it does not today; nothing to rely on).
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| run_error(std::io::Error::other("the oracle's stdin was not captured")))?;
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().map_err(run_error)?;
    let fed = feeder
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the stdin thread panicked")));
    if !output.status.success() {
        return Err(OracleError::Failed {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    // The oracle reads all of its input before answering: a write error
    // after a successful run would be a broken pipe worth knowing about.
    fed.map_err(run_error)?;
    let answers: Vec<Answer> =
        serde_json::from_slice(&output.stdout).map_err(OracleError::Decode)?;
    if answers.len() != cases.len() {
        return Err(OracleError::Count {
            cases: cases.len(),
            answers: answers.len(),
        });
    }
    if let Some((index, (case, answer))) = cases
        .iter()
        .zip(&answers)
        .enumerate()
        .find(|(_, (case, answer))| case.name != answer.name)
    {
        return Err(OracleError::Order {
            index,
            case: case.name.clone(),
            answer: answer.name.clone(),
        });
    }
    Ok(answers)
}

/// Cases from the protocol's JSON (an array of cases with unique names).
pub fn parse_cases(json: &str) -> Result<Vec<Case>, CasesError> {
    let cases: Vec<Case> = serde_json::from_str(json)?;
    let mut names = std::collections::HashSet::new();
    if let Some(duplicate) = cases.iter().find(|c| !names.insert(c.name.as_str())) {
        return Err(CasesError::DuplicateName(duplicate.name.clone()));
    }
    Ok(cases)
}

/// CAPI's own table-test cases, each with its `expected`
/// (`tests/capi/cases/capi_tests.json`).
pub fn transcribed_cases() -> Result<Vec<Case>, CasesError> {
    parse_cases(TRANSCRIBED)
}

/// A small deterministic random source (SplitMix64): the generated cases
/// depend on the seed only, so a failing case is reproduced by its seed and
/// index, on any machine and Rust version.
#[derive(Clone, Debug)]
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; the slight modulo bias does not matter
    /// for test inputs).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `items` in a random order.
    pub fn shuffled<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        let mut out = items.to_vec();
        for i in (1..out.len()).rev() {
            out.swap(i, self.below(i + 1));
        }
        out
    }
}

/// Condition types of generated cases; the last two are usually declared
/// negative-polarity (True is the bad state).
pub const TYPES: &[&str] = &[
    "Ready",
    "Available",
    "Synced",
    "Healthy",
    "Degraded",
    "Stalled",
];

/// The types generated cases usually declare negative.
pub const NEGATIVE_TYPES: &[&str] = &["Degraded", "Stalled"];

/// Kinds of generated objects; their plurals (CAPI uses flect) are not all
/// "+s": Policies, Ingresses.
pub const KINDS: &[&str] = &[
    "Machine",
    "MachineSet",
    "Cluster",
    "Policy",
    "Ingress",
    "PostgresWriter",
];

const STATUSES: &[&str] = &["True", "False", "Unknown"];

const REASONS: &[&str] = &["AsExpected", "Failed", "Waiting", "Reconciling", "NotFound"];

/// Messages of generated conditions: few, so that aggregate groups objects
/// by message; the odd ones probe CAPI's bullet handling (a `*` followed by
/// whitespace anywhere in a line counts as a bullet).
pub const MESSAGES: &[&str] = &[
    "",
    "",
    "all good",
    "2 of 3 replicas ready",
    "waiting for the database",
    "* one bullet",
    "line one\nline two",
    "* first\n* second",
    "first\n* nested detail",
    "* outer\n  * inner\n* next",
    "2 * 3 is six",
    "no*bullet here",
    "trailing newline\n",
    "tab\t*\tseparated",
    "ends with a star *",
];

/// Object names of generated aggregates: unique within a case (CAPI's order
/// of equal messages would otherwise depend on Go's map order), sorting
/// differently as bytes and as numbers.
const NAMES: &[&str] = &[
    "web-0", "web-1", "web-10", "web-2", "db", "api-a", "api-b", "cache", "Zeta", "alpha",
];

fn condition(rng: &mut Seeded, type_: &str) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: (*rng.pick(STATUSES)).to_owned(),
        reason: (*rng.pick(REASONS)).to_owned(),
        message: (*rng.pick(MESSAGES)).to_owned(),
        observed_generation: rng.chance(30).then(|| rng.below(5) as i64),
    }
}

/// Some of `types` (each kept with probability `percent`), in a random order.
fn some_of(rng: &mut Seeded, types: &[&str], percent: u64) -> Vec<String> {
    rng.shuffled(types)
        .into_iter()
        .filter(|_| rng.chance(percent))
        .map(str::to_owned)
        .collect()
}

fn obj(rng: &mut Seeded, kind: &str, name: &str, types: &[String]) -> Obj {
    Obj {
        kind: kind.to_owned(),
        name: name.to_owned(),
        generation: rng.chance(50).then(|| 1 + rng.below(5) as i64),
        conditions: types.iter().map(|t| condition(rng, t)).collect(),
    }
}

/// Sets most of `conditions` to their good status (False for the negative
/// types, True for the others): uniform statuses rarely give an all-good
/// summary or aggregate, whose rules (info messages) differ.
fn mostly_healthy(rng: &mut Seeded, conditions: &mut [Condition], negative: &[String]) {
    for c in conditions {
        if rng.chance(90) {
            let good = if negative.contains(&c.type_) {
                "False"
            } else {
                "True"
            };
            c.status = good.to_owned();
        }
    }
}

fn negatives(rng: &mut Seeded) -> Vec<String> {
    let mut negative = some_of(rng, NEGATIVE_TYPES, 70);
    // Now and then a usually positive type is negative, to keep polarity a
    // property of the list, not of the name.
    if rng.chance(15) {
        let extra = *rng.pick(TYPES);
        if !negative.iter().any(|t| t == extra) {
            negative.push(extra.to_owned());
        }
    }
    negative
}

/// A random summary over one object: missing conditions, ignored ones,
/// overrides; a few cases CAPI rejects (no types, the target among them, an
/// override of an absent or repeated type).
pub fn summary(rng: &mut Seeded) -> Summary {
    let target = "Ready".to_owned();
    let sources: Vec<&str> = TYPES.iter().copied().filter(|t| *t != target).collect();
    let present = some_of(rng, &sources, 60);
    let kind = *rng.pick(KINDS);
    let mut object = obj(rng, kind, "subject", &present);
    let negative = negatives(rng);
    let healthy = rng.chance(35);
    if healthy {
        mostly_healthy(rng, &mut object.conditions, &negative);
    }
    let mut for_types = some_of(rng, &sources, 60);
    if for_types.is_empty() && rng.chance(80) {
        for_types.push((*rng.pick(&sources)).to_owned());
    }
    if rng.chance(4) {
        let at = rng.below(for_types.len() + 1);
        for_types.insert(at, target.clone());
    }
    // A healthy object's summary is True only when missing types are ignored.
    let ignore_percent = if healthy { 75 } else { 30 };
    let ignore_if_missing = for_types
        .iter()
        .filter(|_| rng.chance(ignore_percent))
        .cloned()
        .collect();
    let mut overrides = Vec::new();
    if !present.is_empty() && rng.chance(25) {
        let type_ = rng.pick(&present).clone();
        overrides.push(condition(rng, &type_));
        if rng.chance(10) {
            overrides.push(condition(rng, &type_));
        }
    }
    if rng.chance(4) {
        let type_ = *rng.pick(&sources);
        overrides.push(condition(rng, type_));
    }
    Summary {
        object,
        target,
        for_types,
        negative,
        ignore_if_missing,
        r#override: overrides,
    }
}

/// A random aggregate over 0 to 6 objects of one or two kinds; some miss
/// the condition, some carry others; a few cases CAPI rejects (no objects,
/// a negative list other than the source type).
pub fn aggregate(rng: &mut Seeded) -> Aggregate {
    let source_type = (*rng.pick(TYPES)).to_owned();
    let count = if rng.chance(5) { 0 } else { 1 + rng.below(6) };
    let kinds = [*rng.pick(KINDS), *rng.pick(KINDS)];
    let negative = if rng.chance(3) {
        vec![(*rng.pick(TYPES)).to_owned()]
    } else if NEGATIVE_TYPES.contains(&source_type.as_str()) || rng.chance(10) {
        vec![source_type.clone()]
    } else {
        Vec::new()
    };
    let healthy = rng.chance(35);
    let names = rng.shuffled(NAMES);
    let objects = names[..count]
        .iter()
        .map(|name| {
            let kind = if rng.chance(70) { kinds[0] } else { kinds[1] };
            let mut types = some_of(rng, TYPES, 25);
            types.retain(|t| *t != source_type);
            if !rng.chance(15) {
                let at = rng.below(types.len() + 1);
                types.insert(at, source_type.clone());
            }
            let mut object = obj(rng, kind, name, &types);
            if healthy {
                mostly_healthy(rng, &mut object.conditions, &negative);
            }
            object
        })
        .collect();
    let target = if rng.chance(30) {
        "Aggregated".to_owned()
    } else {
        source_type.clone()
    };
    Aggregate {
        objects,
        source_type,
        target,
        negative,
    }
}

/// A random mirror: the source condition present or not, with or without
/// a fallback, to the same or another type.
pub fn mirror(rng: &mut Seeded) -> Mirror {
    let source_type = (*rng.pick(TYPES)).to_owned();
    let mut types = some_of(rng, TYPES, 40);
    types.retain(|t| *t != source_type);
    if rng.chance(55) {
        let at = rng.below(types.len() + 1);
        types.insert(at, source_type.clone());
    }
    let kind = *rng.pick(KINDS);
    let object = obj(rng, kind, "source", &types);
    let fallback = rng.chance(50).then(|| {
        let c = condition(rng, &source_type);
        Fallback {
            status: c.status,
            reason: c.reason,
            message: c.message,
        }
    });
    let target = if rng.chance(40) {
        "Mirrored".to_owned()
    } else {
        source_type.clone()
    };
    Mirror {
        object,
        source_type,
        target,
        fallback,
    }
}

/// `count` random cases from `seed`, summaries, aggregates and mirrors in
/// turn, named `gen/<op>/<index>`; the same seed and count give the same
/// cases.
pub fn generated_cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = Seeded::new(seed);
    (0..count)
        .map(|index| {
            let operation = match index % 3 {
                0 => Operation::Summary(summary(&mut rng)),
                1 => Operation::Aggregate(aggregate(&mut rng)),
                _ => Operation::Mirror(mirror(&mut rng)),
            };
            Case {
                name: format!("gen/{}/{index:04}", operation.op()),
                operation,
                expected: None,
            }
        })
        .collect()
}
