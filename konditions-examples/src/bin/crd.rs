//! Writes the CRD YAML of the examples into `deploy/crds/`, with each
//! kind's Argo CD health script and its `argocd-cm` snippet in
//! `deploy/crds/argocd/` (`cargo xtask crd` runs it), or with `--check`
//! fails with a diff when the committed files have drifted from the types. The same few lines a user's xtask has
//! (see docs/quick-start.md).
// A command-line tool: printing is its interface.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use konditions_core::crd::{Directory, Entry};
use konditions_examples::postgres_writer::{PostgresWriter, PostgresWriterCondition};

fn main() -> ExitCode {
    let check = std::env::args().skip(1).any(|arg| arg == "--check");
    let dir = Directory::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/crds"));
    let crds = [Entry::of::<PostgresWriter>().argocd_health::<PostgresWriterCondition>()];
    let result = if check {
        dir.check(crds)
            .map(|n| format!("{n} file(s) up to date in {}", dir.path().display()))
    } else {
        dir.write(crds).map(|files| {
            files
                .iter()
                .map(|f| format!("{:?} {}", f.action, f.path.display()))
                .collect::<Vec<_>>()
                .join("\n")
        })
    };
    match result {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
