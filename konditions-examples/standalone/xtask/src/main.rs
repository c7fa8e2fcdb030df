//! `cargo xtask crd [--check]`: writes the CRD YAML of the operator's types
//! into deploy/crds/, or checks that the committed YAML is up to date.
use std::process::ExitCode;

use konditions_core::crd::Directory;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("crd") {
        eprintln!("usage: cargo xtask crd [--check]");
        return ExitCode::FAILURE;
    }
    let dir = Directory::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/crds"));
    let result = if args.iter().any(|a| a == "--check") {
        dir.check(bucket_operator::crds())
            .map(|n| format!("{n} CRD file(s) up to date"))
    } else {
        dir.write(bucket_operator::crds())
            .map(|files| format!("{} CRD file(s) generated", files.len()))
    };
    match result {
        Ok(summary) => eprintln!("{summary}"),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
