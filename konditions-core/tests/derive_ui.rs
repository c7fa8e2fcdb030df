//! Compile tests of `#[derive(ConditionalResource)]` and
//! `#[derive(ConditionalStatus)]`: cases that must compile, and cases that
//! must fail with the diagnostics checked in next to them (`.stderr`).
//!
//! Regenerate the expected output with `TRYBUILD=overwrite` and read every
//! changed `.stderr` before committing it.

#[test]
fn derive_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
