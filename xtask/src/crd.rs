//! `cargo xtask crd [--check]`: the CRD YAML of the examples, through
//! konditions' CRD library (`konditions_core::crd`).
//!
//! The CRD types live in the example operator, and xtask does not depend on
//! it (so that `cargo xtask controlplane up` does not compile an operator):
//! this runs konditions-examples' small `crd` binary, the same few lines a
//! user's own xtask has.

use anyhow::{Result, bail};

/// Writes the YAML, or with `check` fails when the committed YAML differs
/// from the types (the binary prints the diff).
pub(crate) fn run(check: bool) -> Result<()> {
    let status = crate::cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "konditions-examples",
            "--bin",
            "crd",
            "--",
        ])
        .args(check.then_some("--check"))
        .current_dir(crate::workspace::root())
        .status()?;
    if !status.success() {
        bail!(
            "the CRD YAML of konditions-examples {}",
            if check {
                "is out of date (diff above)"
            } else {
                "could not be written"
            }
        );
    }
    Ok(())
}
