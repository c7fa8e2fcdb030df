//! `cargo xtask demo`: the README's main command. On a fresh machine it
//! installs and starts what it needs (control plane, PostgreSQL), installs
//! the PostgresWriter CRD, runs the operator, applies the kubebuilder
//! tutorial's sample, shows its conditions and its row, changes the spec and
//! shows the row change, deletes the resource and shows the row gone, then
//! stops everything.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::controlplane::{self, Instance, UpOptions};
use crate::{postgres, prerequisites, workspace};

const INSTANCE: &str = "demo";
/// Generous bound on each wait: a guard against hangs, with progress shown.
const WAIT: Duration = Duration::from_secs(120);

struct Demo {
    control_plane: Instance,
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    database: postgres::State,
}

impl Demo {
    fn kubectl(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.kubectl);
        command.args(args).env("KUBECONFIG", &self.kubeconfig);
        command
    }

    /// Runs kubectl, echoing the command and its output.
    fn show(&self, args: &[&str]) -> Result<()> {
        println!("\n$ kubectl {}", args.join(" "));
        let status = self.kubectl(args).status()?;
        if !status.success() {
            bail!("kubectl {} failed: {status}", args.join(" "));
        }
        Ok(())
    }

    /// Prints what kstatus (Flux, Argo CD, kpt) says about a PostgresWriter,
    /// computed by the real kstatus library.
    fn kstatus(&self, name: &str) -> Result<()> {
        let output = self
            .kubectl(&["get", "pgw", name, "-o", "json"])
            .output()
            .context("kubectl get -o json")?;
        if !output.status.success() {
            bail!("kubectl get pgw {name} failed: {}", output.status);
        }
        let verdict = self.control_plane.kstatus(&output.stdout)?;
        println!(
            "\n$ kstatus {name}   # sigs.k8s.io/cli-utils status.Compute, as Flux and Argo CD see it\n{verdict}"
        );
        Ok(())
    }

    fn psql(&self, sql: &str) -> Result<()> {
        println!("\n$ psql -c '{sql}'");
        let status = Command::new("psql")
            .args([
                "-h",
                &self.database.host,
                "-p",
                &self.database.port.to_string(),
            ])
            .args([
                "-U",
                &self.database.user,
                "-d",
                &self.database.database,
                "-c",
                sql,
            ])
            .env("PGPASSWORD", &self.database.password)
            .status()
            .context("running psql (Debian's postgresql-client)")?;
        if !status.success() {
            bail!("psql failed: {status}");
        }
        Ok(())
    }

    /// Polls a kubectl jsonpath until it prints `want`, with a progress line.
    fn wait_for(&self, what: &str, args: &[&str], want: &str) -> Result<()> {
        let started = Instant::now();
        loop {
            let output = self.kubectl(args).output()?;
            let got = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if got == want {
                eprintln!(
                    "\rxtask: {what}: done in {:.1?}            ",
                    started.elapsed()
                );
                return Ok(());
            }
            if started.elapsed() > WAIT {
                bail!("{what}: still `{got}` after {WAIT:?} (wanted `{want}`)");
            }
            eprint!("\rxtask: waiting for {what}... {:.0?} ", started.elapsed());
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Stops the operator when the demo ends, however it ends.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

pub(crate) fn run() -> Result<()> {
    prerequisites::ensure()?;
    crate::say("building the PostgresWriter operator...");
    let status = crate::cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "konditions-examples",
            "--bin",
            "postgres-writer",
        ])
        .status()?;
    if !status.success() {
        bail!("building the operator failed");
    }
    let operator_binary = target_binary("postgres-writer");

    crate::say("starting a local control plane and PostgreSQL (instance `demo`)...");
    let (_control_plane, exports) =
        controlplane::Running::start(Instance::named(INSTANCE), &UpOptions::default())?;
    let (_database, database, _) = postgres::Running::start(postgres::Postgres::named(INSTANCE))?;
    let export = |name: &str| {
        exports
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| PathBuf::from(v))
            .with_context(|| format!("the control plane exports no {name}"))
    };
    let demo = Demo {
        control_plane: Instance::named(INSTANCE),
        kubectl: export("KUBECTL")?,
        kubeconfig: export("KUBECONFIG")?,
        database,
    };
    let deploy = workspace::root().join("konditions-examples/deploy");

    println!(
        "\n# 1. Install the CRD (generated by `cargo xtask crd`) and create the tutorial's table, unchanged"
    );
    demo.show(&["apply", "--server-side", "-f", &path(&deploy.join("crds"))])?;
    demo.show(&[
        "wait",
        "--for=condition=Established",
        "crd/postgreswriters.demo.yash.com",
        "--timeout=60s",
    ])?;
    // The kubebuilder tutorial's table as it is: no fencing_token column.
    // The operator fences its writes through postgres_writer_fences.
    demo.psql(TUTORIAL_TABLE)?;

    println!("\n# 2. Run the operator");
    let log = workspace::target_dir().join("controlplane/demo-operator.log");
    let operator = Operator(
        Command::new(&operator_binary)
            .envs(demo.database.psql_env())
            .env("KUBECONFIG", &demo.kubeconfig)
            .env("POD_NAME", "postgres-writer-demo")
            // Any free port for /metrics and the probes: 8080 may be taken.
            .env("METRICS_ADDR", "127.0.0.1:0")
            .stdout(Stdio::from(std::fs::File::create(&log)?))
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log)?,
            ))
            .spawn()
            .with_context(|| format!("starting {}", operator_binary.display()))?,
    );
    crate::say(&format!(
        "operator running (pid {}), logs in {}",
        operator.0.id(),
        log.display()
    ));

    println!("\n# 3. Apply the tutorial's sample, unchanged");
    demo.show(&[
        "apply",
        "-f",
        &path(&deploy.join("samples/sample-student.yaml")),
    ])?;
    let ready = [
        "get",
        "pgw",
        "sample-student",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ];
    demo.wait_for("sample-student to be Ready", &ready, "True")?;
    demo.show(&["get", "postgreswriters"])?;
    demo.show(&[
        "get",
        "pgw",
        "sample-student",
        "-o",
        "jsonpath={range .status.conditions[*]}{.type}{\"\\t\"}{.status}{\"\\t\"}{.reason}{\"\\t\"}{.message}{\"\\n\"}{end}",
    ])?;
    demo.kstatus("sample-student")?;
    demo.psql("SELECT * FROM students")?;

    println!(
        "\n# 4. Change the spec: the row is updated (the tutorial's operator ignored updates)"
    );
    demo.show(&[
        "patch",
        "pgw",
        "sample-student",
        "--type=merge",
        "-p",
        r#"{"spec":{"age":24,"country":"france"}}"#,
    ])?;
    let written = [
        "get",
        "pgw",
        "sample-student",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"RowWritten\")].observedGeneration}",
    ];
    demo.wait_for("the row to hold generation 2", &written, "2")?;
    demo.kstatus("sample-student")?;
    demo.psql("SELECT * FROM students")?;

    println!("\n# 5. Delete the resource: the finalizer deletes the row first");
    demo.show(&[
        "delete",
        "pgw",
        "sample-student",
        "--wait=true",
        "--timeout=120s",
    ])?;
    demo.psql("SELECT count(*) AS rows_left FROM students")?;
    demo.show(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=sample-student",
    ])?;

    drop(operator);
    crate::say("demo done; stopping the operator, PostgreSQL and the control plane");
    Ok(())
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Where `cargo build` put a binary of the workspace.
fn target_binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| {
            if d.is_absolute() {
                d
            } else {
                workspace::root().join(d)
            }
        })
        .unwrap_or_else(workspace::target_dir);
    dir.join("debug").join(name)
}

/// The kubebuilder tutorial's `students` table, `(id, name, age, country)`,
/// with no column for the operator.
pub(crate) const TUTORIAL_TABLE: &str = "CREATE TABLE students (id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, country TEXT NOT NULL)";
