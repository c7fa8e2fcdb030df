//! The Cluster API oracle is faithful: built against sigs.k8s.io/cluster-api
//! v1.14.2, it reproduces what CAPI's own table tests expect for every
//! transcribed case, and it answers every generated case (the inputs of the
//! differential test with konditions' algebra).
//!
//! Needs Go (1.26, or one that fetches it) and the module proxy for the first
//! build; no control plane.

mod capi_support;

use capi_support::{Answer, Case, Expected, Operation, generated_cases, run, transcribed_cases};

/// The seed of the generated cases the differential test uses.
const SEED: u64 = 27;
const GENERATED: usize = 600;

fn answers(cases: &[Case]) -> Vec<Answer> {
    run(cases).unwrap_or_else(|e| panic!("{e}"))
}

fn describe(answer: &Answer) -> String {
    match (&answer.condition, &answer.error) {
        (Some(c), _) => format!(
            "{} / {} / {:?}  (type {})",
            c.status, c.reason, c.message, c.type_
        ),
        (None, Some(e)) => format!("error: {e}"),
        (None, None) => "neither a condition nor an error".to_owned(),
    }
}

#[test]
fn the_oracle_reproduces_every_transcribed_capi_test_case() {
    let cases = transcribed_cases().unwrap_or_else(|e| panic!("{e}"));
    let answers = answers(&cases);
    let mut differences = Vec::new();
    let mut counts = [0usize; 3];
    for (case, answer) in cases.iter().zip(&answers) {
        let Some(expected) = &case.expected else {
            differences.push(format!("{}: no \"expected\" in the data", case.name));
            continue;
        };
        counts[match case.operation {
            Operation::Summary(_) => 0,
            Operation::Aggregate(_) => 1,
            Operation::Mirror(_) => 2,
        }] += 1;
        let right_type = answer
            .condition
            .as_ref()
            .is_none_or(|c| c.type_ == case.operation.target_type());
        if !answer.matches(expected) || !right_type {
            let expected = match expected {
                Expected::Error { .. } => "an error".to_owned(),
                Expected::Condition {
                    status,
                    reason,
                    message,
                } => format!(
                    "{status} / {reason} / {message:?}  (type {})",
                    case.operation.target_type()
                ),
            };
            differences.push(format!(
                "{}\n    expected: {expected}\n    CAPI:     {}",
                case.name,
                describe(answer)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} transcribed cases differ from CAPI v1.14.2:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
    // Every operation is covered by CAPI's own expectations.
    assert!(
        counts.iter().all(|n| *n > 0),
        "cases per summary/aggregate/mirror: {counts:?}"
    );
}

#[test]
fn the_oracle_answers_every_generated_case_in_order() {
    let cases = generated_cases(SEED, GENERATED);
    assert_eq!(
        cases,
        generated_cases(SEED, GENERATED),
        "the generator depends on its seed only"
    );
    // `run` already checked the count and the order of the answers.
    let answers = answers(&cases);
    let mut errors = 0;
    let mut statuses = std::collections::BTreeMap::<(&str, &str), usize>::new();
    for (case, answer) in cases.iter().zip(&answers) {
        match (&answer.condition, &answer.error) {
            (Some(c), None) => {
                assert_eq!(
                    c.type_,
                    case.operation.target_type(),
                    "{}: the condition's type",
                    case.name
                );
                *statuses
                    .entry((case.operation.op(), c.status.as_str()))
                    .or_default() += 1;
            }
            (None, Some(_)) => errors += 1,
            _ => panic!("{}: {}", case.name, describe(answer)),
        }
    }
    // The generator reaches what the differential test should compare:
    // every status from every operation, and some of CAPI's refusals, but
    // mostly answers.
    for op in ["summary", "aggregate", "mirror"] {
        for status in ["True", "False", "Unknown"] {
            assert!(
                statuses.get(&(op, status)).is_some_and(|n| *n > 0),
                "no generated {op} gives {status}: {statuses:?}"
            );
        }
    }
    assert!(
        errors > 0 && errors < GENERATED / 5,
        "{errors} of {GENERATED} generated cases are CAPI errors"
    );
}
