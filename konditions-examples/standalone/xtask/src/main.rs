//! `cargo xtask crd [--check]`: writes the CRD YAML of the operator's types
//! into deploy/crds/, with the Argo CD health script of each kind and the
//! argocd-cm snippet installing it in deploy/crds/argocd/, or checks that the
//! committed files are up to date.
use std::process::ExitCode;

use bucket_operator::transfer::{Transfer, TransferCondition};
use bucket_operator::{Bucket, BucketCondition};
use konditions_core::crd::{Directory, Entry};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("crd") {
        eprintln!("usage: cargo xtask crd [--check]");
        return ExitCode::FAILURE;
    }
    let dir = Directory::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/crds"));
    let crds = || {
        [
            Entry::of::<Bucket>().argocd_health::<BucketCondition>(),
            Entry::of::<Transfer>().argocd_health::<TransferCondition>(),
        ]
    };
    let result = if args.iter().any(|a| a == "--check") {
        dir.check(crds()).map(|n| format!("{n} file(s) up to date"))
    } else {
        dir.write(crds())
            .map(|files| format!("{} file(s) generated", files.len()))
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
