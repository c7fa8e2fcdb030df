//! Builds and runs the Go benchmark of apimachinery's condition helpers
//! (`benches/apimachinery`) and reads its results.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Op;

/// How often one Go run repeats a benchmark.
pub(crate) const COUNT: usize = 3;

/// The compiled Go benchmark.
pub(crate) struct Go(PathBuf);

/// One `testing.B` result.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) ns: f64,
    pub(crate) bytes: f64,
    pub(crate) allocs: f64,
}

/// `$GO`, else `go` on `PATH`, else `/usr/local/go/bin/go`.
fn toolchain() -> PathBuf {
    let candidates = std::env::var_os("GO")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("go"), PathBuf::from("/usr/local/go/bin/go")]);
    for go in candidates {
        let runs = Command::new(&go)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if runs {
            return go;
        }
    }
    panic!(
        "no Go toolchain: this benchmark compares with apimachinery's Go code. Install Go \
         (the version the control plane needs, see konditions-testing/controlplane/go.mod), put it on PATH \
         or set GO=/path/to/go"
    );
}

impl Go {
    /// Compiles the Go benchmark next to this benchmark's executable.
    ///
    /// # Panics
    /// When Go is missing or the benchmark does not build.
    pub(crate) fn build() -> Self {
        let go = toolchain();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/apimachinery");
        let out = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_else(std::env::temp_dir)
            .join("apimachinery-conditions.test");
        let output = Command::new(&go)
            .args(["test", "-c", "-o"])
            .arg(&out)
            .current_dir(&dir)
            // The versions are the committed go.mod/go.sum, and no newer Go.
            .env("GOFLAGS", "-mod=readonly")
            .env("GOTOOLCHAIN", "local")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", go.display()));
        assert!(
            output.status.success(),
            "`go test -c` in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Self(out)
    }

    /// Runs the Go benchmark of `op` on `n` conditions, [`COUNT`] times.
    ///
    /// # Panics
    /// When it does not run or prints no result.
    pub(crate) fn run(&self, op: Op, n: usize) -> Vec<Sample> {
        let pattern = match op {
            Op::Noop => format!("^BenchmarkSet$/^noop$/^{n}$"),
            Op::Update => format!("^BenchmarkSet$/^update$/^{n}$"),
            Op::Transition => format!("^BenchmarkSet$/^transition$/^{n}$"),
            Op::Find => format!("^BenchmarkFind$/^{n}$"),
        };
        let output = Command::new(&self.0)
            .args([
                "-test.run",
                "^$",
                "-test.benchmem",
                "-test.benchtime",
                "300ms",
            ])
            .args(["-test.count", &COUNT.to_string(), "-test.bench", &pattern])
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.0.display()));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "the Go benchmark failed:\n{stdout}"
        );
        let samples: Vec<Sample> = stdout.lines().filter_map(parse).collect();
        assert!(!samples.is_empty(), "no result for {pattern} in:\n{stdout}");
        samples
    }
}

/// `BenchmarkSet/noop/32-2  1000000  95.4 ns/op  0 B/op  0 allocs/op`.
fn parse(line: &str) -> Option<Sample> {
    let mut fields = line.split_whitespace();
    fields.next()?.strip_prefix("Benchmark")?;
    let rest: Vec<&str> = fields.collect();
    let before = |unit: &str| {
        rest.iter()
            .position(|f| *f == unit)
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| rest[i].parse().ok())
    };
    Some(Sample {
        ns: before("ns/op")?,
        bytes: before("B/op").unwrap_or(f64::NAN),
        allocs: before("allocs/op").unwrap_or(f64::NAN),
    })
}
