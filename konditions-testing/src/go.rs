//! Builds binaries from a pinned Go module shipped inside this crate, once
//! per machine: the result is cached under [`cache_root`] keyed on the
//! module's files and the Go version, so tests never rebuild.
//!
//! The module's files are compiled into the crate (`include_str!`) and
//! written to a scratch directory for the build, so the crate's own source
//! may be read-only (a registry or git checkout). Concurrent builds of one
//! module (several test binaries starting at once) are serialised with a
//! file lock: the first builds, the others wait and find the result.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::{Error, say as progress};

/// The Go toolchain the pinned modules need (Kubernetes 1.36 needs 1.26).
pub(crate) const MIN_GO: (u32, u32) = (1, 26);
const MIN_GO_TEXT: &str = "1.26";

/// A pinned Go module and what to build from it.
pub(crate) struct GoModule {
    /// Names the cache subdirectory; also used in messages.
    pub(crate) name: &'static str,
    /// What the build produces, for messages.
    pub(crate) what: &'static str,
    /// How long a cold build takes, for the progress message.
    pub(crate) cold_build: &'static str,
    /// Bumped when the build recipe (flags, outputs) changes.
    pub(crate) recipe: &'static str,
    /// The module's files, in the order they enter the cache key.
    pub(crate) files: &'static [(&'static str, &'static str)],
    /// The packages to build.
    pub(crate) packages: &'static [&'static str],
    /// `go build` output name -> installed name.
    pub(crate) outputs: &'static [(&'static str, &'static str)],
    /// `-ldflags` of the build.
    pub(crate) ldflags: String,
}

/// A Go toolchain that can build the modules.
#[derive(Debug, Clone)]
pub(crate) struct Go {
    program: PathBuf,
    /// `go env GOVERSION`, e.g. `go1.26.8`.
    version: String,
    /// `GOTOOLCHAIN` for the build: `local` when new enough, `auto` to let
    /// an older Go fetch the toolchain through the module proxy.
    toolchain: &'static str,
}

impl Go {
    /// `go` from PATH, else from `$GOROOT/bin` or `/usr/local/go/bin` (where
    /// Go's own installer puts it, often not on PATH).
    pub(crate) fn default_candidates() -> Vec<PathBuf> {
        let mut candidates = vec![PathBuf::from("go")];
        if let Some(root) = std::env::var_os("GOROOT") {
            candidates.push(PathBuf::from(root).join("bin/go"));
        }
        candidates.push(PathBuf::from("/usr/local/go/bin/go"));
        candidates
    }

    /// The first usable toolchain of `candidates`; the error names the
    /// two ways out.
    pub(crate) fn find(
        candidates: &[PathBuf],
        what: &'static str,
        alternative: &'static str,
        cache: &Path,
    ) -> Result<Self, Error> {
        let mut reasons = Vec::new();
        for program in candidates {
            match Self::at(program) {
                Ok(go) => return Ok(go),
                Err(reason) => reasons.push(format!("{}: {reason}", program.display())),
            }
        }
        Err(Error::NoGo {
            what,
            alternative,
            reason: reasons.join("; "),
            min_go: MIN_GO_TEXT,
            cache: cache.display().to_string(),
        })
    }

    /// The toolchain at `program`, or why it cannot be used.
    pub(crate) fn at(program: &Path) -> Result<Self, String> {
        let out = Command::new(program)
            .args(["env", "GOVERSION"])
            .output()
            .map_err(|e| format!("cannot run it ({e})"))?;
        if !out.status.success() {
            return Err(format!(
                "`go env GOVERSION` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let mut numbers = version
            .trim_start_matches("go")
            .split(['.', '-', ' '])
            .map(|p| p.parse::<u32>().ok());
        let found = match (numbers.next().flatten(), numbers.next().flatten()) {
            (Some(major), Some(minor)) => (major, minor),
            _ => return Err(format!("cannot read the Go version from `{version}`")),
        };
        let toolchain = if found >= MIN_GO {
            "local"
        } else if found >= (1, 21) {
            "auto"
        } else {
            return Err(format!("{version} is too old"));
        };
        Ok(Self {
            program: program.to_owned(),
            version,
            toolchain,
        })
    }
}

/// `$KONDITIONS_CACHE_DIR`, else `$XDG_CACHE_HOME/konditions`, else
/// `~/.cache/konditions` (else a directory under the system's temporary
/// directory, when there is no home).
pub(crate) fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("KONDITIONS_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("konditions")
}

impl GoModule {
    /// The cache key: the recipe, the Go version and the module's files.
    pub(crate) fn key(&self, go_version: &str) -> String {
        let mut hasher = Sha256::new();
        for part in [self.recipe, go_version]
            .into_iter()
            .chain(self.files.iter().map(|(_, content)| *content))
        {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The cached build for this Go, if complete.
    pub(crate) fn cached(&self, go: &Go, cache: &Path) -> Option<PathBuf> {
        let dir = cache.join(self.name).join(self.key(&go.version));
        self.complete(&dir).then_some(dir)
    }

    fn complete(&self, dir: &Path) -> bool {
        self.outputs
            .iter()
            .all(|(_, name)| dir.join(name).is_file())
    }

    /// The directory holding the built outputs: from the cache, else built
    /// now (with progress on stderr) and cached.
    pub(crate) fn ensure(&self, go: &Go, cache: &Path) -> Result<PathBuf, Error> {
        if let Some(dir) = self.cached(go, cache) {
            return Ok(dir);
        }
        let root = cache.join(self.name);
        let key = self.key(&go.version);
        let dir = root.join(&key);
        fs::create_dir_all(&root)
            .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        let lock_path = root.join(format!("{key}.lock"));
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
        let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io(format!("locking {}", lock_path.display()), e.into()))?;
        // Another process may have built it while this one waited.
        if self.complete(&dir) {
            return Ok(dir);
        }
        let staging = root.join(format!(".building-{key}-{}", std::process::id()));
        let result = self.build(go, &staging).and_then(|()| {
            let _ = fs::remove_dir_all(&dir);
            fs::rename(staging.join("out"), &dir)
                .map_err(|e| Error::io(format!("moving the build into {}", dir.display()), e))
        });
        let _ = fs::remove_dir_all(&staging);
        result.map(|()| dir)
    }

    fn build(&self, go: &Go, staging: &Path) -> Result<(), Error> {
        let src = staging.join("src");
        let out = staging.join("out");
        let _ = fs::remove_dir_all(staging);
        for dir in [&src, &out] {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        for (name, content) in self.files {
            fs::write(src.join(name), content)
                .map_err(|e| Error::io(format!("writing {name} for the build"), e))?;
        }
        progress(&format!(
            "building {} with {} from the pinned Go module, once per machine (then cached in {}); \
             a cold build takes {}",
            self.what,
            go.version,
            staging.parent().unwrap_or(staging).display(),
            self.cold_build,
        ));
        let started = Instant::now();
        let mut child = Command::new(&go.program)
            .current_dir(&src)
            .env("CGO_ENABLED", "0")
            .env("GOTOOLCHAIN", go.toolchain)
            .env("GOFLAGS", "-mod=readonly -buildvcs=false")
            .args(["build", "-v", "-trimpath", "-ldflags", &self.ldflags, "-o"])
            .arg(format!("{}/", out.display()))
            .args(self.packages)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(format!("running {}", go.program.display()), e))?;
        // `go build -v` names each package as it compiles it: count them for
        // the progress line, keep the tail for the error message.
        let stderr = child.stderr.take().expect("stderr is piped");
        let seen = Arc::new(Mutex::new((0usize, Vec::<String>::new())));
        let reader = {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if !line.starts_with("go: downloading") {
                        seen.0 += 1;
                    }
                    seen.1.push(line);
                    if seen.1.len() > 40 {
                        seen.1.remove(0);
                    }
                }
            })
        };
        let mut last_report = Instant::now();
        let status = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| Error::io("waiting for go build", e))?
            {
                break status;
            }
            if last_report.elapsed() >= Duration::from_secs(30) {
                let packages = seen.lock().map(|s| s.0).unwrap_or(0);
                progress(&format!(
                    "still building {}: {:.0?}, {packages} packages compiled",
                    self.what,
                    started.elapsed()
                ));
                last_report = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let _ = reader.join();
        if !status.success() {
            let tail = seen.lock().map(|s| s.1.join("\n")).unwrap_or_default();
            return Err(Error::GoBuild {
                what: self.what,
                status: status.to_string(),
                output: tail,
                proxy: std::env::var("GOPROXY").unwrap_or_else(|_| "default".into()),
            });
        }
        for (built, name) in self.outputs {
            if built != name {
                fs::rename(out.join(built), out.join(name))
                    .map_err(|e| Error::io(format!("renaming {built} to {name}"), e))?;
            }
        }
        if !self.complete(&out) {
            return Err(Error::GoBuild {
                what: self.what,
                status: "succeeded".into(),
                output: format!("but did not produce all of {:?}", self.outputs),
                proxy: String::new(),
            });
        }
        progress(&format!("built {} in {:.0?}", self.what, started.elapsed()));
        Ok(())
    }
}

/// Runs a built tool with `input` (JSON) on stdin and reads its JSON
/// answer from stdout; the error is the tool's stderr, or why it could not
/// run.
pub(crate) fn run_json<T: serde::de::DeserializeOwned>(
    tool: &Path,
    input: &serde_json::Value,
) -> Result<T, String> {
    use std::io::Write;
    let mut child = Command::new(tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {}: {e}", tool.display()))?;
    let input = serde_json::to_vec(input).map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&input)
        .map_err(|e| format!("writing to {}: {e}", tool.display()))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {}: {e}", tool.display()))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
}

/// Finds Go and builds `module` (or finds it in the cache); the path of
/// its output `binary`.
pub(crate) fn built_tool(module: &GoModule, binary: &str) -> Result<PathBuf, String> {
    let cache = cache_root();
    let go =
        Go::find(&Go::default_candidates(), module.what, "", &cache).map_err(|e| e.to_string())?;
    module
        .ensure(&go, &cache)
        .map(|dir| dir.join(binary))
        .map_err(|e| e.to_string())
}

/// Not part of the API: builds a Go program from a pinned module whose
/// files the caller embeds (`include_str!`), once per machine, cached and
/// locked like this crate's own modules; the path of the binary `binary`
/// (the last element of the module's path). For konditions-examples'
/// scale benchmark, whose Go peer operator lives beside it: the build
/// machinery stays here, the peer's files stay with the example.
///
/// `recipe` is bumped when the build itself changes; any change to the
/// files or the Go version already makes a new cache entry.
///
/// # Errors
/// No usable Go, or the build failed (the message says why).
#[doc(hidden)]
pub fn build_go_program(
    name: &'static str,
    what: &'static str,
    recipe: &'static str,
    files: &'static [(&'static str, &'static str)],
    binary: &'static str,
) -> Result<PathBuf, String> {
    let module = GoModule {
        name,
        what,
        cold_build: "a few minutes",
        recipe,
        files,
        packages: &["."],
        // Once per call, a few bytes: the struct wants a static slice.
        outputs: Box::leak(Box::new([(binary, binary)])),
        ldflags: "-s -w".to_owned(),
    };
    built_tool(&module, binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(files: &'static [(&'static str, &'static str)]) -> GoModule {
        GoModule {
            name: "test",
            what: "test",
            cold_build: "no time",
            recipe: "recipe-1",
            files,
            packages: &[],
            outputs: &[],
            ldflags: String::new(),
        }
    }

    #[test]
    fn the_key_is_the_one_xtask_used_so_existing_caches_are_found() {
        // xtask hashed RECIPE, the Go version, go.mod and go.sum, each
        // followed by a zero byte, and kept 8 bytes in hex.
        let key = module(&[("go.mod", "m"), ("go.sum", "s")]).key("go1.26.8");
        let mut hasher = Sha256::new();
        for part in ["recipe-1", "go1.26.8", "m", "s"] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let expected: String = hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key, expected);
        assert_ne!(
            key,
            module(&[("go.mod", "m"), ("go.sum", "s2")]).key("go1.26.8")
        );
        assert_ne!(
            key,
            module(&[("go.mod", "m"), ("go.sum", "s")]).key("go1.26.9")
        );
    }
}
