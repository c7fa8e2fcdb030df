//! Where things are: the workspace root and the directories xtask writes to.

use std::path::PathBuf;

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `<root>/target`. Deliberately not `$CARGO_TARGET_DIR`: the control plane's
/// state must be found by every cargo invocation, whatever target dir it uses.
pub(crate) fn target_dir() -> PathBuf {
    root().join("target")
}
