//! Compile tests of konditions' derives, kept out of konditions-core (as
//! serde keeps its derive tests in `test_suite`): nothing here is published.
//!
//! `tests/ui.rs` hands the cases in `tests/ui/pass` (must compile, and their
//! `main` runs) and `tests/ui/fail` (must fail with the diagnostics in the
//! `.stderr` next to them) to [trybuild]. trybuild builds the cases as a
//! crate of its own, in `target/tests/trybuild`, against the
//! dev-dependencies of this crate only; keep them to what the cases use.
//!
//! ```text
//! cargo test -p konditions-ui-tests
//! ```
//!
//! The dependencies include serde and schemars because the kube cases derive
//! their traits, as users do. `pass/without_serde_dependency.rs` proves the
//! derives themselves need neither: it makes `::serde` and `::schemars` name
//! `core` (`extern crate core as serde;`), so a path of the generated code
//! through either fails to resolve there, as it would in a crate without
//! them, and it checks that premise first.
//!
//! # The snapshots belong to one toolchain
//!
//! rustc's wording and layout of diagnostics change between releases, so a
//! `.stderr` recorded with one rustc does not match the output of another.
//! The toolchain the snapshots belong to is pinned in `rust-toolchain.toml`
//! next to this crate's `Cargo.toml` (the file rustup reads; it applies when
//! cargo runs in this directory). Before comparing anything, the test runs
//! `rustc -vV` (or `$RUSTC -vV`) and compares its `release` with the pin.
//!
//! On another rustc the test **fails** (it does not skip: a skipped check in
//! CI checks nothing) with a message naming both versions and the two ways
//! out:
//!
//! - run the cases on the pinned toolchain:
//!   `rustup toolchain install 1.95.0`, then
//!   `cargo +1.95.0 test -p konditions-ui-tests` (or run `cargo test` from
//!   this directory, where rustup applies the pin itself);
//! - or move the pin: set `channel` in `rust-toolchain.toml` to your
//!   release, run `TRYBUILD=overwrite cargo test -p konditions-ui-tests`,
//!   read every changed `.stderr`, and commit the pin and the snapshots
//!   together.
//!
//! The rest of the workspace builds and tests on any supported rustc; only
//! this test needs the pinned one.
//!
//! # Adding a case
//!
//! A case is a small crate root (`fn main`) under `tests/ui/pass` or
//! `tests/ui/fail`. For a new failing case, run
//! `TRYBUILD=overwrite cargo test -p konditions-ui-tests` on the pinned
//! toolchain and read the `.stderr` it writes: every diagnostic of the
//! derives points at the tokens at fault and carries a `help:` line.
//!
//! [trybuild]: https://docs.rs/trybuild
