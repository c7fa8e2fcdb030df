//! Where kube-apiserver, etcd and kubectl come from, in this order:
//!
//! 1. an explicit directory ([`Builder::binaries`](crate::Builder::binaries));
//! 2. `KUBEBUILDER_ASSETS`, the directory setup-envtest fills (all three
//!    binaries side by side), so kubebuilder users reuse what they have;
//! 3. the konditions cache (`$KONDITIONS_CACHE_DIR`, else
//!    `$XDG_CACHE_HOME/konditions` or `~/.cache/konditions`), keyed on the
//!    pinned Go module and the Go version;
//! 4. built now from the Go module pinned in this crate
//!    (`controlplane/go.mod`, Kubernetes and etcd through the Go module
//!    proxy, no downloads of prebuilt binaries), then cached.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::go::{Go, GoModule};

/// The three binaries of a control plane, side by side in one directory.
///
/// ```no_run
/// let binaries = konditions_testing::Binaries::find().unwrap();
/// println!("kubectl is {}", binaries.kubectl().display());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    dir: PathBuf,
    origin: Origin,
}

/// Where a [`Binaries`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The directory given to the builder.
    Explicit,
    /// `KUBEBUILDER_ASSETS`.
    KubebuilderAssets,
    /// The konditions cache, built earlier.
    Cache,
    /// Built just now from the pinned Go module.
    Built,
}

/// The names a binaries directory must hold.
pub const BINARY_NAMES: [&str; 3] = ["kube-apiserver", "etcd", "kubectl"];

const GO_MOD: &str = include_str!("../controlplane/go.mod");
const GO_SUM: &str = include_str!("../controlplane/go.sum");

/// The module that pins Kubernetes and etcd. Its cache key is the one
/// `cargo xtask controlplane` used before this crate built the binaries,
/// so existing caches are reused.
fn module() -> GoModule {
    let kubernetes = pinned(GO_MOD, "k8s.io/kubernetes").unwrap_or("v0.0.0");
    let (major, minor) = major_minor(kubernetes);
    GoModule {
        name: "controlplane",
        what: "kube-apiserver, kubectl and etcd",
        cold_build: "5-10 minutes on 2 cores",
        recipe: "recipe-1",
        files: &[("go.mod", GO_MOD), ("go.sum", GO_SUM)],
        packages: &[
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kubectl",
            "go.etcd.io/etcd/server/v3",
        ],
        // etcd's main package is its module root, so Go names it `server`.
        outputs: &[
            ("kube-apiserver", "kube-apiserver"),
            ("kubectl", "kubectl"),
            ("server", "etcd"),
        ],
        // /version reports the real release, as in an official build.
        ldflags: format!(
            "-s -w -X k8s.io/component-base/version.gitVersion={kubernetes} \
             -X k8s.io/component-base/version.gitMajor={major} \
             -X k8s.io/component-base/version.gitMinor={minor} \
             -X k8s.io/component-base/version.gitTreeState=clean \
             -X k8s.io/client-go/pkg/version.gitVersion={kubernetes} \
             -X k8s.io/client-go/pkg/version.gitMajor={major} \
             -X k8s.io/client-go/pkg/version.gitMinor={minor}"
        ),
    }
}

/// The version a go.mod requires of `module`.
fn pinned<'a>(go_mod: &'a str, module: &str) -> Option<&'a str> {
    go_mod.lines().map(str::trim).find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(module)).then(|| words.next())?
    })
}

/// `v1.36.3` -> ("1", "36").
fn major_minor(version: &str) -> (&str, &str) {
    let mut parts = version.trim_start_matches('v').split('.');
    (parts.next().unwrap_or("0"), parts.next().unwrap_or("0"))
}

/// The Kubernetes release the pinned Go module builds, e.g. `v1.36.3`.
pub fn pinned_kubernetes_version() -> &'static str {
    pinned(GO_MOD, "k8s.io/kubernetes").unwrap_or("unknown")
}

/// The etcd release the pinned Go module builds, e.g. `v3.6.8`.
pub fn pinned_etcd_version() -> &'static str {
    pinned(GO_MOD, "go.etcd.io/etcd/server/v3").unwrap_or("unknown")
}

/// The inputs of the lookup, so tests can vary them.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub(crate) explicit: Option<PathBuf>,
    pub(crate) kubebuilder_assets: Option<PathBuf>,
    pub(crate) cache: PathBuf,
    pub(crate) go: Vec<PathBuf>,
}

impl Lookup {
    pub(crate) fn from_env(explicit: Option<PathBuf>) -> Self {
        Self {
            explicit,
            kubebuilder_assets: std::env::var_os("KUBEBUILDER_ASSETS")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cache: crate::go::cache_root(),
            go: Go::default_candidates(),
        }
    }

    pub(crate) fn find(&self) -> Result<Binaries, Error> {
        if let Some(dir) = &self.explicit {
            return Binaries::in_dir(dir, "the binaries directory", Origin::Explicit);
        }
        if let Some(dir) = &self.kubebuilder_assets {
            return Binaries::in_dir(dir, "KUBEBUILDER_ASSETS", Origin::KubebuilderAssets);
        }
        let go = Go::find(
            &self.go,
            "kube-apiserver, etcd and kubectl",
            ", or set KUBEBUILDER_ASSETS to a directory holding the three (the layout of \
             setup-envtest)",
            &self.cache,
        )?;
        let module = module();
        if let Some(dir) = module.cached(&go, &self.cache) {
            return Ok(Binaries {
                dir,
                origin: Origin::Cache,
            });
        }
        let dir = module.ensure(&go, &self.cache)?;
        Ok(Binaries {
            dir,
            origin: Origin::Built,
        })
    }
}

impl Binaries {
    /// Finds the binaries in `KUBEBUILDER_ASSETS`, else in the konditions
    /// cache, else builds them from the pinned Go module (with progress on
    /// stderr) and caches them.
    ///
    /// # Errors
    /// [`Error::IncompleteBinaries`] when `KUBEBUILDER_ASSETS` lacks one of
    /// them; [`Error::NoGo`] when nothing is cached and Go cannot build
    /// them; [`Error::GoBuild`] when the build fails.
    pub fn find() -> Result<Self, Error> {
        Lookup::from_env(None).find()
    }

    /// The binaries in `dir`, checked to be all there.
    ///
    /// # Errors
    /// [`Error::IncompleteBinaries`] naming the missing ones.
    pub fn at(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::in_dir(dir.as_ref(), "the binaries directory", Origin::Explicit)
    }

    fn in_dir(dir: &Path, origin_name: &'static str, origin: Origin) -> Result<Self, Error> {
        let missing: Vec<&'static str> = BINARY_NAMES
            .into_iter()
            .filter(|name| !executable(&dir.join(name)))
            .collect();
        if !missing.is_empty() {
            return Err(Error::IncompleteBinaries {
                origin: origin_name,
                dir: dir.to_owned(),
                missing,
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            origin,
        })
    }

    /// The directory holding the three.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where they were found.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// kube-apiserver.
    pub fn kube_apiserver(&self) -> PathBuf {
        self.dir.join("kube-apiserver")
    }

    /// etcd.
    pub fn etcd(&self) -> PathBuf {
        self.dir.join("etcd")
    }

    /// kubectl.
    pub fn kubectl(&self) -> PathBuf {
        self.dir.join("kubectl")
    }
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("konditions-binaries-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn lookup(cache: &Path) -> Lookup {
        Lookup {
            explicit: None,
            kubebuilder_assets: None,
            cache: cache.to_owned(),
            go: vec![PathBuf::from("/nonexistent/go")],
        }
    }

    #[test]
    fn the_pins_are_read_from_go_mod() {
        assert!(pinned_kubernetes_version().starts_with("v1."));
        assert!(pinned_etcd_version().starts_with("v3."));
        assert_eq!(
            pinned(
                "require (\n\tk8s.io/kubernetes v1.36.3 // indirect\n)",
                "k8s.io/kubernetes"
            ),
            Some("v1.36.3")
        );
        assert_eq!(major_minor("v1.36.3"), ("1", "36"));
    }

    #[test]
    fn no_go_and_no_binaries_names_both_ways_out() {
        let cache = scratch("empty-cache");
        let error = lookup(&cache).find().unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, Error::NoGo { .. }), "{text}");
        assert!(text.contains("/nonexistent/go: cannot run it"), "{text}");
        assert!(text.contains("Install Go >= 1.26"), "{text}");
        assert!(text.contains("set KUBEBUILDER_ASSETS"), "{text}");
        assert!(text.contains(&cache.display().to_string()), "{text}");
    }

    #[test]
    fn kubebuilder_assets_with_wrong_files_says_which_are_missing() {
        use std::os::unix::fs::PermissionsExt;
        let assets = scratch("assets");
        // etcd is there; kubectl is there but not executable; no kube-apiserver.
        for name in ["etcd", "kubectl", "kube-controller-manager"] {
            std::fs::write(assets.join(name), "#!/bin/sh\n").unwrap();
        }
        std::fs::set_permissions(assets.join("etcd"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let mut lookup = lookup(&assets);
        lookup.kubebuilder_assets = Some(assets.clone());
        let error = lookup.find().unwrap_err();
        match &error {
            Error::IncompleteBinaries {
                origin, missing, ..
            } => {
                assert_eq!(*origin, "KUBEBUILDER_ASSETS");
                assert_eq!(missing, &["kube-apiserver", "kubectl"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            error.to_string().contains("lacks kube-apiserver, kubectl"),
            "{error}"
        );

        // Complete: found, before the cache and without Go.
        for name in ["kube-apiserver", "kubectl"] {
            std::fs::write(assets.join(name), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(assets.join(name), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let found = lookup.find().unwrap();
        assert_eq!(found.origin(), Origin::KubebuilderAssets);
        assert_eq!(found.etcd(), assets.join("etcd"));

        // An explicit directory wins over KUBEBUILDER_ASSETS.
        let explicit = scratch("explicit");
        lookup.explicit = Some(explicit.clone());
        let error = lookup.find().unwrap_err();
        assert!(
            matches!(&error, Error::IncompleteBinaries { origin: "the binaries directory", dir, .. } if *dir == explicit),
            "{error:?}"
        );
        std::fs::remove_dir_all(assets).unwrap();
        std::fs::remove_dir_all(explicit).unwrap();
    }
}
