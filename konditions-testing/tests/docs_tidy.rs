//! Tidy checks: policies as plain tests, so the docs cannot drift from the
//! code they describe.
//!
//! - Every environment variable the harness reads, and every `KONDITIONS_*`
//!   variable any crate of the repository reads, is in the table of
//!   docs/testing.md, and every variable of that table is read by the code;
//!   no page of the guide names a `KONDITIONS_*` variable that does not
//!   exist.
//! - The kstatus rules docs/health.md states for conditions (which
//!   condition, which status, which verdict) are what the real kstatus
//!   computes, and they name the conditions konditions-testing's own
//!   compliance check treats as kstatus'.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::json;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("konditions-testing is in the repository")
        .to_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The words of `text` that start with `prefix` and go on with capitals,
/// digits and underscores (`KONDITIONS_CACHE_DIR`).
fn names_with_prefix(text: &str, prefix: &str) -> BTreeSet<String> {
    let is_name = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        if text[..at].chars().next_back().is_some_and(is_name) {
            continue; // inside a longer word
        }
        let name: String = text[at..].chars().take_while(|c| is_name(*c)).collect();
        if name.len() > prefix.len() {
            names.insert(name);
        }
    }
    names
}

/// The names read with a literal: `var("NAME")`, `var_os("NAME")`.
fn literal_reads(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for call in ["var(\"", "var_os(\""] {
        for (at, _) in text.match_indices(call) {
            let rest = &text[at + call.len()..];
            if let Some(end) = rest.find('"') {
                names.insert(rest[..end].to_owned());
            }
        }
    }
    names
}

/// The variables of the table under `## Environment variables` in
/// docs/testing.md: the backquoted names of each row's first cell.
fn documented_variables(testing_md: &str) -> BTreeSet<String> {
    let section = testing_md
        .split("\n## Environment variables\n")
        .nth(1)
        .expect("docs/testing.md has a section `## Environment variables`");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut names = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with('|')) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for (i, part) in first_cell.split('`').enumerate() {
            if i % 2 == 1
                && !part.is_empty()
                && part.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                names.insert(part.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_environment_variables_the_code_reads_are_the_documented_ones() {
    let root = repository();
    let mut read_by_harness = BTreeSet::new();
    for file in rust_files(&root.join("konditions-testing/src")) {
        read_by_harness.extend(literal_reads(&read(&file)));
    }
    let mut konditions_variables = BTreeSet::new();
    for dir in [
        "konditions-core/src",
        "konditions-derive/src",
        "konditions-testing/src",
        "konditions-examples/src",
        "xtask/src",
    ] {
        for file in rust_files(&root.join(dir)) {
            konditions_variables.extend(names_with_prefix(&read(&file), "KONDITIONS_"));
        }
    }
    assert!(
        konditions_variables.contains("KONDITIONS_KUBECONFIG"),
        "the scan finds nothing: {konditions_variables:?}"
    );
    let code: BTreeSet<String> = read_by_harness
        .union(&konditions_variables)
        .cloned()
        .collect();

    let documented = documented_variables(&read(&root.join("docs/testing.md")));
    let undocumented: Vec<_> = code.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "read by the code, missing from the table in docs/testing.md: {undocumented:?}"
    );
    let unread: Vec<_> = documented.difference(&code).collect();
    assert!(
        unread.is_empty(),
        "in the table of docs/testing.md, read by no code: {unread:?}"
    );

    // The guide and the README name no KONDITIONS_* variable that does not exist.
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.push(root.join("README.md"));
    for page in pages {
        let named = names_with_prefix(&read(&page), "KONDITIONS_");
        let unknown: Vec<_> = named.difference(&konditions_variables).collect();
        assert!(
            unknown.is_empty(),
            "{} names variables no code reads: {unknown:?}",
            page.display()
        );
    }
}

/// One rule: an object whose only condition is `type`=`status` gets
/// `verdict` from kstatus.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ConditionRule {
    condition: String,
    status: String,
    verdict: String,
}

/// The rules for conditions in the list under "kstatus, in this order:" of
/// docs/health.md: in the items about a condition, `` `Type=Status` `` or
/// `` `Type` `` then `` `Status` ``s, each followed by a **Verdict**.
fn documented_condition_rules(health_md: &str) -> Vec<ConditionRule> {
    let list = health_md
        .split("kstatus, in this order:\n")
        .nth(1)
        .expect("docs/health.md lists kstatus' rules after `kstatus, in this order:`");
    let list = list.trim_start().split("\n\n").next().unwrap_or(list);
    // One string per numbered item (items continue on indented lines).
    let mut items: Vec<String> = Vec::new();
    for line in list.lines() {
        if line.starts_with(|c: char| c.is_ascii_digit()) {
            items.push(line.to_owned());
        } else if let Some(item) = items.last_mut() {
            item.push(' ');
            item.push_str(line.trim());
        }
    }
    let statuses = ["True", "False", "Unknown"];
    let mut rules = Vec::new();
    for item in items.iter().filter(|i| i.contains("condition")) {
        let (mut condition, mut pending) = (String::new(), Vec::<String>::new());
        // Tokens: `code` and **bold**, in order.
        let mut rest = item.as_str();
        while let Some(at) = rest.find(['`', '*']) {
            let (token, after) = if rest[at..].starts_with("**") {
                let body = &rest[at + 2..];
                let end = body.find("**").expect("closed bold");
                (("bold", &body[..end]), &body[end + 2..])
            } else if rest[at..].starts_with('`') {
                let body = &rest[at + 1..];
                let end = body.find('`').expect("closed code");
                (("code", &body[..end]), &body[end + 1..])
            } else {
                (("", ""), &rest[at + 1..])
            };
            match token {
                ("code", text) if statuses.contains(&text) => pending.push(text.to_owned()),
                ("code", text) => match text.split_once('=') {
                    Some((name, status)) => {
                        condition = name.to_owned();
                        pending = vec![status.to_owned()];
                    }
                    None => {
                        condition = text.to_owned();
                        pending.clear();
                    }
                },
                ("bold", verdict) => {
                    for status in pending.drain(..) {
                        rules.push(ConditionRule {
                            condition: condition.clone(),
                            status,
                            verdict: verdict.to_owned(),
                        });
                    }
                }
                _ => {}
            }
            rest = after;
        }
    }
    rules
}

#[test]
fn the_kstatus_rules_in_the_docs_are_what_kstatus_computes() {
    let rules = documented_condition_rules(&read(&repository().join("docs/health.md")));

    let check = konditions_testing::ComplianceCheck::new("Ready");
    let mut kstatus_conditions: BTreeSet<String> = check.negative_types().iter().cloned().collect();
    kstatus_conditions.insert("Ready".into());
    let documented: BTreeSet<String> = rules.iter().map(|r| r.condition.clone()).collect();
    assert_eq!(
        documented, kstatus_conditions,
        "docs/health.md's kstatus conditions against konditions-testing's ({rules:?})"
    );

    for rule in &rules {
        let object = json!({
            "apiVersion": "example.com/v1", "kind": "Bucket",
            "metadata": {"name": "b", "namespace": "n", "generation": 1},
            "status": {"observedGeneration": 1, "conditions": [{
                "type": rule.condition, "status": rule.status,
                "reason": "Documented", "message": "as the docs say",
            }]},
        });
        let computed = konditions_testing::try_kstatus(&object).unwrap();
        assert_eq!(
            computed.status, rule.verdict,
            "docs/health.md says {rule:?}; kstatus: {computed:?}"
        );
    }
}

#[test]
fn the_rule_reader_reads_both_forms_of_rule() {
    let text = "kstatus, in this order:\n\n\
        1. `metadata.deletionTimestamp` set: **Terminating**;\n\
        2. a condition `Reconciling=True`: **InProgress**; `Stalled=True`:\n   \
        **Failed**, with `Stalled`'s message;\n\
        3. a condition `Ready`: `True` **Current**, `False` or `Unknown`\n   **InProgress**;\n\n\
        Other text with a condition `Ready=True`: **Nothing**.\n";
    let rule = |condition: &str, status: &str, verdict: &str| ConditionRule {
        condition: condition.into(),
        status: status.into(),
        verdict: verdict.into(),
    };
    assert_eq!(
        documented_condition_rules(text),
        [
            rule("Reconciling", "True", "InProgress"),
            rule("Stalled", "True", "Failed"),
            rule("Ready", "True", "Current"),
            rule("Ready", "False", "InProgress"),
            rule("Ready", "Unknown", "InProgress"),
        ]
    );
}
