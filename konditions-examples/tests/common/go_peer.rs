//! The Go peer of the scale benchmark (`peer-go/`): its files and its
//! build, shared by the benchmark and the test that checks it builds.

use std::path::PathBuf;

/// The Go peer's files, compiled into the bench so that the build's cache
/// key is their content (as for konditions-testing's own pinned modules).
pub(crate) const GO_PEER: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../peer-go/go.mod")),
    ("go.sum", include_str!("../../peer-go/go.sum")),
    ("main.go", include_str!("../../peer-go/main.go")),
    ("api.go", include_str!("../../peer-go/api.go")),
];

/// The Go peer's binary, built once per machine and cached.
///
/// Through konditions-testing's pinned-Go build (a `#[doc(hidden)]` entry),
/// the one that already builds the control plane and the kstatus, Flux and
/// Argo CD tools: it finds Go, builds with `-mod=readonly` from go.sum through
/// the module proxy, keys the cache on the files and the Go version, and
/// serialises concurrent builds with a file lock. xtask would need a copy
/// of that machinery: it deliberately does not link konditions-testing.
pub(crate) fn go_peer() -> PathBuf {
    konditions_testing::build_go_program(
        "postgres-writer-peer",
        "the Go peer of the PostgresWriter operator (controller-runtime v0.25.3)",
        "postgres-writer-peer-1",
        GO_PEER,
        "postgres-writer-peer",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}
