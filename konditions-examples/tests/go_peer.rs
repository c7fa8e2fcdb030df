//! The Go peer the scale benchmark runs beside the operator
//! (`benches/operator_scale.rs`) builds from its pinned modules and starts:
//! a broken `peer-go/` shows here, not only when someone runs the bench.

#[path = "common/go_peer.rs"]
mod go_peer;

#[test]
fn the_go_peer_builds_and_starts() {
    let peer = go_peer::go_peer();
    let output = std::process::Command::new(&peer)
        .arg("-h")
        .output()
        .expect("run the Go peer");
    let usage = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {usage}", output.status);
    // The flags the benchmark sets through their environment variables.
    for flag in [
        "-reconcile-concurrency",
        "-watch-namespace",
        "-leader-elect",
        "-metrics-bind-address",
    ] {
        assert!(usage.contains(flag), "{flag} missing from:\n{usage}");
    }
}
