//! The real operator binary as a child process, with its HTTP endpoints
//! (`/healthz`, `/readyz`, `/metrics`) on a port of its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use konditions_examples::postgres_writer::controller::HOLD_BEFORE_WRITE_ENV;

use super::{Harness, WAIT};

/// An operator process; killed when dropped, so none outlives its test.
pub struct OperatorProcess {
    child: Child,
    /// Where its endpoints listen.
    pub addr: SocketAddr,
    /// Its logs (stdout and stderr), for the failure messages.
    pub log: PathBuf,
    http: Client<HttpConnector, Empty<Bytes>>,
}

/// How to start one.
pub struct Launch<'a> {
    pub holder: &'a str,
    pub lease_seconds: u32,
    pub grace_seconds: u32,
    /// The test-only hold before each row write (see
    /// [`HOLD_BEFORE_WRITE_ENV`]).
    pub hold: Option<&'a Path>,
    /// Share the work with the other replicas started so (member Leases in
    /// the test namespace, a lease of `lease_seconds`).
    pub shard: bool,
    /// `WORKER_THREADS`; `None` leaves the binary's default (one thread).
    pub threads: Option<usize>,
}

impl Default for Launch<'_> {
    fn default() -> Self {
        Self {
            holder: "replica",
            lease_seconds: 4,
            grace_seconds: 20,
            hold: None,
            shard: false,
            threads: None,
        }
    }
}

/// A loopback port nobody listens on now. The operator binds it a moment
/// later; the kernel hands out ephemeral ports in turn, so another process
/// taking this one in between is very unlikely (and fails loudly: the
/// operator exits with status 2).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
}

impl OperatorProcess {
    /// Starts the binary on the harness' namespace, table and database.
    pub fn start(h: &Harness, launch: Launch<'_>) -> Self {
        let pg = xtask::local_postgres();
        let addr = free_port();
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "pgw-{}-{}-{}.log",
            h.namespace,
            launch.holder,
            addr.port()
        ));
        let file = std::fs::File::create(&log).expect("create the operator's log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_postgres-writer"));
        command
            .envs(pg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KUBECONFIG", konditions_testing::kubeconfig_path())
            .env("WATCH_NAMESPACE", &h.namespace)
            .env("POD_NAME", launch.holder)
            .env("LOCK_LEASE_SECONDS", launch.lease_seconds.to_string())
            .env("SHUTDOWN_GRACE_SECONDS", launch.grace_seconds.to_string())
            .env("METRICS_ADDR", addr.to_string())
            // The library's info lines, not the binary's: its behaviour must
            // not depend on the log level.
            .env("RUST_LOG", "warn,konditions_examples=info")
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file));
        if let Some(dir) = launch.hold {
            command.env(HOLD_BEFORE_WRITE_ENV, dir);
        }
        if let Some(threads) = launch.threads {
            command.env("WORKER_THREADS", threads.to_string());
        }
        if launch.shard {
            command
                .env("SHARD_NAMESPACE", &h.namespace)
                .env("SHARD_LEASE_SECONDS", launch.lease_seconds.to_string());
        }
        Self {
            child: command.spawn().expect("start the operator binary"),
            addr,
            log,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `GET path`: the status and body, or `None` while nothing answers.
    pub async fn get(&self, path: &str) -> Option<(StatusCode, String)> {
        let uri = format!("http://{}{path}", self.addr).parse().unwrap();
        let response = self.http.get(uri).await.ok()?;
        let status = response.status();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((
            status,
            String::from_utf8(body.to_vec()).expect("UTF-8 body"),
        ))
    }

    /// Polls `path` until it answers `status`; panics with the last answer
    /// after [`WAIT`], or when the process exits first.
    pub async fn wait_for_status(&mut self, path: &str, status: StatusCode) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.get(path).await;
            if let Some((code, body)) = &answer
                && *code == status
            {
                return body.clone();
            }
            if let Some(exit) = self.child.try_wait().expect("poll the operator") {
                panic!(
                    "the operator exited ({exit}) before {path} answered {status}; its log: {}",
                    self.log.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{path} did not answer {status} after {WAIT:?}; last answer: {answer:?}; log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll the operator").is_none()
    }

    /// Sends `kill -<name>`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit; panics after [`WAIT`] (a hang guard).
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the operator") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the operator did not exit within {WAIT:?}; log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `path` exists (a hold marker); panics after [`WAIT`].
pub async fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A directory for the operator's test-only hold (see
/// [`HOLD_BEFORE_WRITE_ENV`]) of one test; removed when dropped.
pub struct HoldDir(PathBuf);

impl HoldDir {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pgw-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The marker the held write of `name` creates, and the file that
    /// releases it.
    pub fn files(&self, h: &Harness, name: &str) -> (PathBuf, PathBuf) {
        let id = h.row_id(name).replace('/', "_");
        (
            self.0.join(format!("{id}.held")),
            self.0.join(format!("{id}.release")),
        )
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The row ids (`/` as `_`) whose writes are held now.
    pub fn held(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".held").map(str::to_owned)
            })
            .collect()
    }
}

impl Drop for HoldDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
