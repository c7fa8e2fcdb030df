// The table every check of `metav1.Condition`'s `type` and `reason` must
// agree on, with the verdict of the API server. It is not a module of the
// crate: the tests that must agree include it.
//
// - konditions-rules (src/lib.rs): `check_type` and `check_reason`;
// - konditions-derive (src/check.rs): the compile-time check of declared
//   types and stalled reasons;
// - konditions-core (tests/apiserver_conditions.rs): the run-time
//   `validate_type` / `validate_reason`, and the real kube-apiserver
//   evaluating the CRD schema's pattern and length limits.
//
// A case is `(text, accepted by metav1.Condition)`. Add a case here and
// every check is held to it.

/// Condition types: lengths at and over 316, DNS-subdomain prefixes,
/// case, empty parts, slashes, unicode, whitespace.
pub(crate) fn types() -> Vec<(String, bool)> {
    let ok = |text: &str| (text.to_owned(), true);
    let bad = |text: &str| (text.to_owned(), false);
    vec![
        ok("Ready"),
        ok("A"),
        ok("9"),
        ok("a1"),
        ok("9Lives"),
        ok("Ready2"),
        ok("my-thing_v2.ok"),
        ok("example.com/Ready"),
        ok("a/B"),
        ok("x-1.y/Z"),
        ok("a-b.c/X_y.z-1"),
        ok("0.9/Ready"),
        // Exactly the limit, with and without a prefix.
        ok(&"A".repeat(316)),
        ok(&format!("{}/{}", "a".repeat(253), "B".repeat(62))),
        // One over.
        bad(&"A".repeat(317)),
        bad(&format!("{}/{}", "a".repeat(253), "B".repeat(63))),
        bad(""),
        bad("-Ready"),
        bad("Ready-"),
        bad("_Ready"),
        bad("Ready_"),
        bad(".Ready"),
        bad("Re ady"),
        bad(" Ready"),
        bad("Ready\n"),
        bad("Ready:"),
        // Prefixes: empty, upper case, empty labels, labels edged with `-`,
        // `_`, trailing slashes, a second slash.
        bad("/Ready"),
        bad("Example.com/Ready"),
        bad("EXAMPLE/Ready"),
        bad("a./B"),
        bad(".a/B"),
        bad("a..b/B"),
        bad("-a.com/B"),
        bad("a-.com/B"),
        bad("ex_ample.com/B"),
        bad("example.com/"),
        bad("Ready/"),
        bad("a//B"),
        bad("a/B/C"),
        // Unicode: in the name, in the prefix, and long enough to be over
        // 316 bytes but not 316 characters.
        bad("é"),
        bad("Prêt"),
        bad("example.com/Prêt"),
        bad("exämple.com/B"),
        bad(&format!("{}{}", "A".repeat(300), "é".repeat(10))),
    ]
}

/// Condition reasons: lengths at and over 1024, first and last characters,
/// the separators `,` and `:`, case, unicode, whitespace.
pub(crate) fn reasons() -> Vec<(String, bool)> {
    let ok = |text: &str| (text.to_owned(), true);
    let bad = |text: &str| (text.to_owned(), false);
    vec![
        ok("A"),
        ok("a"),
        ok("Ok"),
        ok("x9"),
        ok("TableMissing"),
        ok("table_missing"),
        ok("Some_Reason"),
        ok("Trailing_"),
        ok("A,B:C"),
        ok("A:_"),
        // Exactly the limit, and one over.
        ok(&"A".repeat(1024)),
        bad(&"A".repeat(1025)),
        bad(""),
        bad("9Lives"),
        bad("_x"),
        bad(",A"),
        bad(":A"),
        bad("End,"),
        bad("End:"),
        bad("a b"),
        bad(" A"),
        bad("A\n"),
        bad("dash-ed"),
        bad("dot.ted"),
        bad("slash/ed"),
        bad("Ünicode"),
        bad("Aé"),
        bad("Aéb"),
        bad(&format!("{}{}", "A".repeat(1000), "é".repeat(20))),
    ]
}
