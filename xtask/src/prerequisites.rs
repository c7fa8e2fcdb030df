//! Installs what the test command and the demo need on a fresh Debian
//! machine, and explains what it cannot install. (Go is konditions-testing's
//! business: it says so itself when it has to build the control plane.)

use std::process::Command;

use anyhow::{Result, bail};

/// Whether something is installed.
type Check = fn() -> bool;

/// Debian packages, each with the check that shows it is present.
const DEBIAN_PACKAGES: &[(&str, Check)] = &[
    ("postgresql", crate::postgres::installed),
    // runuser: PostgreSQL runs as `postgres` when the suite runs as root.
    ("util-linux", || has("runuser")),
];

fn has(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs missing Debian packages (as root, through apt-get) and checks the
/// toolchains that cannot come from there.
pub(crate) fn ensure() -> Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(_, present)| !present())
        .map(|(package, _)| *package)
        .collect();
    if !missing.is_empty() {
        if !nix::unistd::geteuid().is_root() || !has("apt-get") {
            bail!(
                "missing Debian packages: {}. Install them (`sudo apt-get install {}`) and run again",
                missing.join(", "),
                missing.join(" ")
            );
        }
        crate::say(&format!(
            "installing Debian packages: {}",
            missing.join(", ")
        ));
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    Ok(())
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status()?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}
