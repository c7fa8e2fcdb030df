//! Builds kube-apiserver, etcd and kubectl from the upstream Go modules
//! pinned in `xtask/controlplane/go.mod`, and caches them.
//!
//! The build is keyed on go.mod, go.sum and the Go version: the binaries are
//! rebuilt only when one of those changes. A cold build takes minutes, so the
//! result is kept twice: under `target/controlplane/bin/<key>` (what the
//! workspace uses) and in the user cache (`$XDG_CACHE_HOME/konditions` or
//! `~/.cache/konditions`, or `$KONDITIONS_CACHE_DIR`), which survives a fresh
//! clone or `cargo clean`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::workspace;

/// The Go toolchain the pinned Kubernetes release needs.
const MIN_GO: (u32, u32) = (1, 26);
/// Bumped when the build recipe (flags, outputs) changes, to invalidate caches.
const RECIPE: &str = "recipe-1";

/// Paths of the three binaries and the versions they were built from.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) kube_apiserver: PathBuf,
    pub(crate) etcd: PathBuf,
    pub(crate) kubectl: PathBuf,
    pub(crate) kubernetes_version: String,
    pub(crate) etcd_version: String,
}

/// The versions pinned in go.mod.
struct Pins {
    kubernetes: String,
    etcd: String,
}

fn go_module_dir() -> PathBuf {
    workspace::root().join("xtask/controlplane")
}

fn read_pins(go_mod: &str) -> Result<Pins> {
    let find = |module: &str| {
        go_mod
            .lines()
            .map(str::trim)
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some(module)).then(|| words.next().map(str::to_owned))?
            })
            .with_context(|| format!("xtask/controlplane/go.mod does not require {module}"))
    };
    Ok(Pins {
        kubernetes: find("k8s.io/kubernetes")?,
        etcd: find("go.etcd.io/etcd/server/v3")?,
    })
}

/// `go version` as (major, minor), or a clear error when Go is missing.
fn go_version() -> Result<(String, (u32, u32))> {
    let out = Command::new("go")
        .args(["env", "GOVERSION"])
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run `go` ({e}). Go >= {}.{} is needed to build kube-apiserver and etcd \
                 from the upstream Go modules: install it and make sure `go` is on PATH",
                MIN_GO.0,
                MIN_GO.1
            )
        })?;
    if !out.status.success() {
        bail!(
            "`go env GOVERSION` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let full = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let numbers = full.trim_start_matches("go");
    let mut parts = numbers
        .split(['.', '-', ' '])
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => Ok((full, (major, minor))),
        _ => bail!("cannot read the Go version from `{full}`"),
    }
}

fn user_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KONDITIONS_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("konditions"))
}

fn cache_key(go_mod: &str, go_sum: &str, go_version: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [RECIPE, go_version, go_mod, go_sum] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

const NAMES: [&str; 3] = ["kube-apiserver", "etcd", "kubectl"];

fn complete(dir: &Path) -> bool {
    NAMES.iter().all(|n| dir.join(n).is_file())
}

/// Returns the binaries, building them first if no cache holds them.
pub(crate) fn ensure() -> Result<Binaries> {
    let module = go_module_dir();
    let go_mod =
        fs::read_to_string(module.join("go.mod")).context("reading xtask/controlplane/go.mod")?;
    let go_sum =
        fs::read_to_string(module.join("go.sum")).context("reading xtask/controlplane/go.sum")?;
    let pins = read_pins(&go_mod)?;
    let (go_full, go) = go_version()?;
    // A Go older than the module needs (but new enough to know GOTOOLCHAIN)
    // fetches the right toolchain through the module proxy.
    let toolchain = if go >= MIN_GO {
        "local"
    } else if go >= (1, 21) {
        "auto"
    } else {
        bail!(
            "Go {go_full} is too old: building Kubernetes {} needs Go >= {}.{}",
            pins.kubernetes,
            MIN_GO.0,
            MIN_GO.1
        );
    };
    let key = cache_key(&go_mod, &go_sum, &go_full);
    let dir = workspace::target_dir().join("controlplane/bin").join(&key);
    let binaries = Binaries {
        kube_apiserver: dir.join("kube-apiserver"),
        etcd: dir.join("etcd"),
        kubectl: dir.join("kubectl"),
        kubernetes_version: pins.kubernetes.clone(),
        etcd_version: pins.etcd.clone(),
    };
    if complete(&dir) {
        return Ok(binaries);
    }
    let user_cache = user_cache_dir().map(|c| c.join("controlplane").join(&key));
    if let Some(cached) = user_cache.as_deref().filter(|c| complete(c)) {
        install(cached, &dir)?;
        return Ok(binaries);
    }

    let staging = workspace::target_dir()
        .join("controlplane/bin")
        .join(format!("{key}.building-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    crate::say(&format!(
        "building kube-apiserver {} + kubectl and etcd {} from the Go modules \
         (once per go.sum; a cold build takes 5-10 minutes on 2 cores)...",
        pins.kubernetes, pins.etcd
    ));
    let started = Instant::now();
    let (major, minor) = split_version(&pins.kubernetes)?;
    let ldflags = format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={v} \
         -X k8s.io/component-base/version.gitMajor={major} \
         -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/component-base/version.gitTreeState=clean \
         -X k8s.io/client-go/pkg/version.gitVersion={v} \
         -X k8s.io/client-go/pkg/version.gitMajor={major} \
         -X k8s.io/client-go/pkg/version.gitMinor={minor}",
        v = pins.kubernetes
    );
    let output = Command::new("go")
        .current_dir(&module)
        .env("CGO_ENABLED", "0")
        .env("GOTOOLCHAIN", toolchain)
        .env("GOFLAGS", "-mod=readonly -buildvcs=false")
        .args(["build", "-trimpath", "-ldflags", &ldflags, "-o"])
        .arg(format!("{}/", staging.display()))
        .args([
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kubectl",
            "go.etcd.io/etcd/server/v3",
        ])
        .output()
        .context("running `go build`")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "`go build` of the control plane failed ({}). Its last output:\n{}\n\
             Check that the Go module proxy is reachable (GOPROXY={}) and that \
             xtask/controlplane/go.sum is committed and matches go.mod (`go mod tidy` in xtask/controlplane).",
            output.status,
            tail.join("\n"),
            std::env::var("GOPROXY").unwrap_or_else(|_| "default".into())
        );
    }
    // etcd's main package is the module root, so `go build` names it `server`.
    fs::rename(staging.join("server"), staging.join("etcd")).context("renaming the etcd binary")?;
    if !complete(&staging) {
        bail!(
            "`go build` succeeded but did not produce all of {NAMES:?} in {}",
            staging.display()
        );
    }
    crate::say(&format!(
        "built the control plane binaries in {:.0?}",
        started.elapsed()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staging, &dir).context("moving the built binaries into place")?;
    if let Some(cache) = user_cache {
        // Best effort: a read-only home only costs a rebuild next time.
        if let Err(e) = install(&dir, &cache) {
            crate::say(&format!(
                "note: could not store the binaries in {}: {e:#}",
                cache.display()
            ));
        }
    }
    Ok(binaries)
}

/// `v1.36.3` -> ("1", "36").
fn split_version(version: &str) -> Result<(String, String)> {
    let mut parts = version.trim_start_matches('v').split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => Ok((major.to_owned(), minor.to_owned())),
        _ => bail!("cannot read major.minor from Kubernetes version {version}"),
    }
}

/// Copies a complete set of binaries to `to`, atomically (a partial copy is
/// never seen as complete).
fn install(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().context("cache path has no parent")?;
    fs::create_dir_all(parent)?;
    let staging = parent.join(format!(".partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    for name in NAMES {
        fs::copy(from.join(name), staging.join(name)).with_context(|| format!("copying {name}"))?;
    }
    let _ = fs::remove_dir_all(to);
    fs::rename(&staging, to)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read_from_go_mod() {
        let go_mod = "module x\n\nrequire (\n\tk8s.io/kubernetes v1.36.3 // indirect\n\tgo.etcd.io/etcd/server/v3 v3.6.8\n)\n";
        let pins = read_pins(go_mod).unwrap();
        assert_eq!(pins.kubernetes, "v1.36.3");
        assert_eq!(pins.etcd, "v3.6.8");
        assert!(read_pins("module x\n").is_err());
    }

    #[test]
    fn version_is_split() {
        assert_eq!(split_version("v1.36.3").unwrap(), ("1".into(), "36".into()));
        assert!(split_version("v1").is_err());
    }

    #[test]
    fn cache_key_changes_with_inputs() {
        let a = cache_key("m", "s", "go1.26.8");
        assert_eq!(a, cache_key("m", "s", "go1.26.8"));
        assert_ne!(a, cache_key("m", "s2", "go1.26.8"));
        assert_ne!(a, cache_key("m", "s", "go1.26.9"));
        assert_eq!(a.len(), 16);
    }
}
