//! Compile tests of `#[derive(ConditionalResource)]` and
//! `#[derive(ConditionalStatus)]`: cases that must compile, and cases that
//! must fail with the diagnostics checked in next to them (`.stderr`).
//!
//! The snapshots belong to the rustc pinned in `rust-toolchain.toml`; on
//! another rustc this test fails with what to do (see the crate docs).
//! Regenerate the expected output with `TRYBUILD=overwrite` and read every
//! changed `.stderr` before committing it.

use std::process::Command;

/// `rust-toolchain.toml` of this crate: the toolchain of the snapshots.
const TOOLCHAIN_FILE: &str = include_str!("../rust-toolchain.toml");

#[test]
fn derive_ui() {
    require_pinned_rustc();
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}

/// Panics, saying what to do, unless the rustc that trybuild's cargo will
/// run is the pinned release.
fn require_pinned_rustc() {
    let pinned = pinned_channel(TOOLCHAIN_FILE);
    let running = running_rustc_release();
    if running != pinned {
        panic!("{}", mismatch(pinned, &running));
    }
}

/// What a contributor on another rustc reads: both versions and the two
/// ways out.
fn mismatch(pinned: &str, running: &str) -> String {
    // Snapshots are recorded on stable releases only: a nightly or beta
    // changes its diagnostics from one day to the next.
    let new_pin = if running.contains('-') {
        "a stable release (nightly and beta diagnostics change too often to pin)".to_owned()
    } else {
        format!("`channel = \"{running}\"`")
    };
    format!(
        "\n\
         The .stderr snapshots of konditions-ui-tests belong to rustc {pinned} \
         (pinned in konditions-ui-tests/rust-toolchain.toml), but this test runs rustc {running}.\n\
         Diagnostics change between rustc releases, so the snapshots are not compared on another one.\n\
         Either run the cases on the pinned toolchain:\n\
         \n    rustup toolchain install {pinned}\n    cargo +{pinned} test -p konditions-ui-tests\n\n\
         or move the pin: set {new_pin} in konditions-ui-tests/rust-toolchain.toml, then run\n\
         \n    TRYBUILD=overwrite cargo test -p konditions-ui-tests\n\n\
         on that toolchain, read every changed .stderr, and commit the pin and the snapshots together.\n"
    )
}

/// The `channel = "..."` of a `rust-toolchain.toml`.
fn pinned_channel(file: &str) -> &str {
    file.lines()
        .filter_map(|line| line.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|value| value.trim().trim_matches('"'))
        .next()
        .expect("konditions-ui-tests/rust-toolchain.toml has a `channel = \"1.x.y\"` line")
}

/// The `release` of `rustc -vV`, for the rustc cargo runs (`$RUSTC`, else
/// `rustc` on the `PATH`, which rustup resolves to the same toolchain as
/// the cargo running this test).
fn running_rustc_release() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{} -vV`: {e}", rustc.to_string_lossy()));
    assert!(
        output.status.success(),
        "`{} -vV` failed: {}",
        rustc.to_string_lossy(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("release: "))
        .map(str::to_owned)
        .expect("`rustc -vV` prints a `release: ` line")
}

#[test]
fn reads_the_pinned_channel() {
    assert_eq!(
        pinned_channel("[toolchain]\nchannel = \"1.95.0\"\n"),
        "1.95.0"
    );
    assert_eq!(
        pinned_channel("[toolchain]\n  channel=\"1.96.1\""),
        "1.96.1"
    );
}

#[test]
fn a_mismatch_names_both_releases_and_both_ways_out() {
    let message = mismatch("1.95.0", "1.96.0");
    assert!(message.contains("belong to rustc 1.95.0"), "{message}");
    assert!(message.contains("runs rustc 1.96.0"), "{message}");
    assert!(
        message.contains("cargo +1.95.0 test -p konditions-ui-tests"),
        "{message}"
    );
    assert!(message.contains("set `channel = \"1.96.0\"`"), "{message}");
    assert!(message.contains("TRYBUILD=overwrite"), "{message}");

    let nightly = mismatch("1.95.0", "1.97.0-nightly");
    assert!(nightly.contains("set a stable release"), "{nightly}");
    assert!(
        !nightly.contains("channel = \"1.97.0-nightly\""),
        "{nightly}"
    );
}
