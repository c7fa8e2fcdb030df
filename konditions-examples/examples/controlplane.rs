//! A control plane for your shell, from the konditions-testing your tests
//! already build: `cargo run --example controlplane -- up|down|env|status`
//! (see `konditions_testing::cli`). After a green `cargo test`, which builds
//! examples too, it starts in seconds with nothing to compile.
//!
//! `cargo xtask controlplane` runs this, so xtask itself links none of the
//! harness.

fn main() -> std::process::ExitCode {
    konditions_testing::cli::main()
}
