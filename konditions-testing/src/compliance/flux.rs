//! The oracle of the compliance check: Flux's own status checks
//! (`github.com/fluxcd/pkg/runtime/conditions/check` v0.117.0, built from
//! `fluxcheck/` like the kstatus tool), run on the same objects as the Rust
//! check, which must reach the same verdicts.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ComplianceCheck, Rule};
use crate::go::GoModule;

const GO_MOD: &str = include_str!("../../fluxcheck/go.mod");
const GO_SUM: &str = include_str!("../../fluxcheck/go.sum");
const MAIN_GO: &str = include_str!("../../fluxcheck/main.go");

fn module() -> GoModule {
    GoModule {
        name: "flux-check",
        what: "the Flux status-check tool (github.com/fluxcd/pkg/runtime v0.117.0)",
        cold_build: "a few minutes",
        recipe: "flux-check-1",
        files: &[("go.mod", GO_MOD), ("go.sum", GO_SUM), ("main.go", MAIN_GO)],
        packages: &["."],
        outputs: &[("flux-check", "flux-check")],
        ldflags: "-s -w".to_owned(),
    }
}

#[derive(Debug, Deserialize)]
struct FluxVerdict {
    fail: Vec<String>,
    warn: Vec<String>,
}

fn tool() -> PathBuf {
    static TOOL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TOOL.get_or_init(|| crate::go::built_tool(&module(), "flux-check"))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Flux's checks on `objects`, each as the set of check IDs that fired.
fn flux(negative: &[String], objects: &[Value]) -> Vec<BTreeSet<&'static str>> {
    let verdicts: Vec<FluxVerdict> = crate::go::run_json(
        &tool(),
        &json!({"negativePolarity": negative, "objects": objects}),
    )
    .unwrap_or_else(|e| panic!("flux-check: {e}"));
    verdicts
        .into_iter()
        .map(|v| {
            v.fail
                .iter()
                .chain(&v.warn)
                .map(|message| flux_id(message))
                .collect()
        })
        .collect()
}

/// The check a message of Flux's comes from (the checks are unexported:
/// their messages are all the tool can report).
fn flux_id(message: &str) -> &'static str {
    const IDS: &[(&str, &str)] = &[
        (
            "Negative polarity condition cannot be True when Ready",
            "FAIL0001",
        ),
        ("Ready condition must always be present", "FAIL0002"),
        ("Ready condition must be False when Reconciling", "FAIL0003"),
        ("Ready condition must be False when Stalled", "FAIL0004"),
        ("Only one of Reconciling condition or Stalled", "FAIL0005"),
        (
            "The ObservedGeneration must be less than or equal",
            "FAIL0006",
        ),
        (
            "Ready condition must be False when the ObservedGeneration",
            "FAIL0007",
        ),
        (
            "Ready condition must be False when any of the status condition",
            "FAIL0008",
        ),
        (
            "The status conditions' ObservedGenerations must be equal",
            "FAIL0009",
        ),
        (
            "A mid-reconciliation patched status must have Reconciling=True",
            "FAIL0011",
        ),
        ("Negative polarity condition present when Ready", "WARN0001"),
        (
            "Ready condition should have the value of the negative",
            "WARN0002",
        ),
        ("Reconciling condition can be removed", "WARN0003"),
        ("Stalled condition can be removed", "WARN0004"),
        (
            "Missing ObservedGeneration from status condition",
            "WARN0005",
        ),
    ];
    IDS.iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|(_, id)| *id)
        .unwrap_or_else(|| panic!("a message of Flux's this test does not know: {message}"))
}

/// Flux's checks the Rust check states exactly; FAIL0005 is compared as an
/// implication (the Rust rule is narrower), FAIL0003 and WARN0002 are not
/// rules of the Rust check (see the module documentation).
const EXACT: &[Rule] = &[
    Rule::AbnormalWhileReady,
    Rule::SummaryMissing,
    Rule::StalledButNotFalse,
    Rule::ObservedGenerationAhead,
    Rule::ReadyForOlderGeneration,
    Rule::ReadyWithStaleCondition,
    Rule::ReadyWithOtherGeneration,
    Rule::UnknownWithoutReconciling,
    Rule::NegativePresentWhileReady,
    Rule::ReconcilingFalse,
    Rule::StalledFalse,
    Rule::ConditionWithoutObservedGeneration,
];

fn condition(type_: &str, status: &str, observed: Option<i64>) -> Value {
    let mut c = json!({"type": type_, "status": status, "reason": "Some",
        "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"});
    if let Some(g) = observed {
        c["observedGeneration"] = json!(g);
    }
    c
}

/// Every combination of: the summary, Reconciling, Stalled and a custom
/// negative condition (absent, True, False, Unknown), the root
/// observedGeneration (absent, behind, current, ahead) and the conditions'
/// own (absent, behind, current). Without the summary, the custom negative
/// condition stays absent: Flux's WARN0002 dereferences the absent Ready
/// then (a nil pointer panic in v0.117.0).
fn objects() -> Vec<Value> {
    let states = [None, Some("True"), Some("False"), Some("Unknown")];
    let generation = 3;
    let mut all = Vec::new();
    for ready in states {
        for reconciling in states {
            for stalled in states {
                for degraded in states {
                    if ready.is_none() && degraded.is_some() {
                        continue;
                    }
                    for root in [None, Some(2), Some(3), Some(4)] {
                        for own in [None, Some(2), Some(3)] {
                            let conditions: Vec<Value> = [
                                ("Ready", ready),
                                ("Reconciling", reconciling),
                                ("Stalled", stalled),
                                ("Degraded", degraded),
                            ]
                            .into_iter()
                            .filter_map(|(t, s)| s.map(|s| condition(t, s, own)))
                            .collect();
                            let mut status = json!({"conditions": conditions});
                            if let Some(g) = root {
                                status["observedGeneration"] = json!(g);
                            }
                            all.push(json!({
                                "apiVersion": "example.com/v1", "kind": "Bucket",
                                "metadata": {"name": "b", "namespace": "n", "generation": generation},
                                "status": status,
                            }));
                        }
                    }
                }
            }
        }
    }
    all
}

#[test]
fn the_rust_check_and_flux_agree_on_every_combination() {
    let check = ComplianceCheck::new("Ready").negative(["Degraded"]);
    let objects = objects();
    let verdicts = flux(check.negative_types(), &objects);
    assert_eq!(verdicts.len(), objects.len());
    let mut fired: std::collections::BTreeMap<&str, usize> = Default::default();
    for (object, flux) in objects.iter().zip(&verdicts) {
        let rust: BTreeSet<&str> = check
            .violations(object)
            .iter()
            .map(|v| v.rule.flux_check())
            .collect();
        for rule in EXACT {
            let id = rule.flux_check();
            assert_eq!(
                rust.contains(id),
                flux.contains(id),
                "{id} ({rule:?}): Rust {rust:?}, Flux {flux:?} on {object}"
            );
            if rust.contains(id) {
                *fired.entry(id).or_default() += 1;
            }
        }
        if rust.contains("FAIL0005") {
            assert!(flux.contains("FAIL0005"), "{object}");
        }
    }
    // Every compared rule fired on some object and was silent on others.
    for rule in EXACT {
        let n = fired.get(rule.flux_check()).copied().unwrap_or(0);
        assert!(
            n > 0 && n < objects.len(),
            "{rule:?} fired on {n} of {} objects",
            objects.len()
        );
    }
    // The count goes to the test's output (`--nocapture`) for the notes.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("compared on {} objects: {fired:?}", objects.len());
    }
}

#[test]
fn objects_konditions_writes_agree_with_flux_too() {
    use konditions_core::example::WidgetCondition::{self, *};
    use konditions_core::{Conditions, ManualClock, Status, Verdict};
    let clock = ManualClock::default();
    let check = ComplianceCheck::of::<WidgetCondition>();
    let mut objects = Vec::new();
    let verdicts: &[&[(WidgetCondition, Status, &str)]] = &[
        &[],
        &[(DatabaseReady, Status::True, "Connected")],
        &[
            (DatabaseReady, Status::True, "Connected"),
            (BucketCreated, Status::True, "Created"),
            (Degraded, Status::False, "AllReplicas"),
        ],
        &[(DatabaseReady, Status::False, "Refused")],
        &[
            (DatabaseReady, Status::True, "Connected"),
            (BucketCreated, Status::False, "QuotaExceeded"),
        ],
        &[(Degraded, Status::True, "OneReplica")],
    ];
    for set in verdicts {
        for generation in [1, 2] {
            let mut list = Conditions::<WidgetCondition>::default();
            for (type_, status, reason) in *set {
                list.set_with(
                    &clock,
                    Some(generation),
                    type_,
                    Verdict::new(*status, *reason),
                )
                .unwrap();
            }
            list.update_summary_with(&clock, Some(generation)).unwrap();
            objects.push(json!({
                "apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w", "namespace": "n", "generation": generation},
                "status": {"observedGeneration": generation, "conditions": list},
            }));
        }
    }
    let verdicts = flux(check.negative_types(), &objects);
    for (object, flux) in objects.iter().zip(&verdicts) {
        let violations = check.violations(object);
        let rust: BTreeSet<&str> = violations.iter().map(|v| v.rule.flux_check()).collect();
        for rule in EXACT {
            let id = rule.flux_check();
            assert_eq!(
                rust.contains(id),
                flux.contains(id),
                "{id}: Rust {rust:?}, Flux {flux:?} on {object}"
            );
        }
        // What konditions writes breaks no failure rule.
        assert!(
            violations
                .iter()
                .all(|v| v.rule.severity() == super::Severity::Warning),
            "{violations:?} on {object}"
        );
        // Reconciling and Stalled are present only while True: Flux's own
        // checks find none to remove.
        assert!(
            !flux.contains("WARN0003") && !flux.contains("WARN0004"),
            "Flux {flux:?} on {object}"
        );
    }
}
