//! A control plane for your shell from the konditions-testing the tests
//! already build: `cargo run --example controlplane -- up|down|env|status`.

fn main() -> std::process::ExitCode {
    konditions_testing::cli::main()
}
