//! A declaration the derive refuses, with the diagnostics checked in next
//! to it. Regenerate with `TRYBUILD=overwrite` and read the diff.

#[test]
fn bad_declarations_do_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
