//! Scale benchmark of the PostgresWriter operator binary, side by side with
//! its Go peer, against the local control plane and PostgreSQL (`cargo
//! xtask controlplane up`, `cargo xtask postgres up`, or inside `cargo
//! xtask test`'s environment):
//!
//! `cargo bench -p konditions-examples --bench operator_scale`
//!
//! **The two operators.** `rust`: this crate's `postgres-writer` binary
//! (built by `cargo bench` with the bench profile). `go`: the peer in
//! `peer-go/`, the same operator as a kubebuilder user writes the tutorial
//! (controller-runtime, lib/pq: Get, finalizer, upsert, `Ready` with
//! `meta.SetStatusCondition` and `Status().Update()`, leader election, no
//! Events, no lock). `rust-shared`: two processes of the Rust binary that
//! share the work (`SHARD_NAMESPACE`, member leases of 15 s, as
//! `deploy/operator.yaml` runs them; the run starts once both act); their
//! CPU and requests are summed, their peak RSS is the higher of the two.
//! The operators inherit the bench's environment: `WORKER_THREADS=2`
//! runs the Rust operator on two worker threads instead of one.
//! The bench builds the peer once per machine with the Go
//! toolchain and the module proxy, through konditions-testing's pinned-Go
//! build (cached under `~/.cache/konditions/postgres-writer-peer/`, keyed on
//! the peer's files and the Go version): nothing to run by hand.
//!
//! **Cells and runs.** Without `OPERATOR_SCALE_N` and
//! `OPERATOR_SCALE_CONCURRENCY`, the cells (N, operator concurrency) are
//! N=1000 c=1, N=1000 c=16 and N=5000 c=16; with either, every N of
//! `OPERATOR_SCALE_N` (default `1000`) with every concurrency of
//! `OPERATOR_SCALE_CONCURRENCY` (default `16`). The concurrency is both
//! binaries' `RECONCILE_CONCURRENCY` (Rust: how many reconciles at once;
//! Go: `MaxConcurrentReconciles`), which also sizes each one's database
//! pool. For each cell, `OPERATOR_SCALE_REPEAT` (default 2) repetitions,
//! each running every operator of `OPERATOR_SCALE_OPERATORS` (default
//! `go,rust,rust-shared`) one after the other, the order reversed on every other
//! repetition so neither always runs on a warmer machine. Each run: a fresh
//! namespace and table, a fresh operator process on them, then the same
//! driver, `OPERATOR_SCALE_DRIVERS` (default 32) concurrent clients, so the
//! operator is the bottleneck, in three phases:
//! 1. create N resources, until all are Ready (`Ready=True` at the
//!    resource's generation, and `status.observedGeneration` too) and the
//!    table holds N rows;
//! 2. update all (a merge patch of `spec.age`), until all are Ready at the
//!    new generation and every row holds the new age;
//! 3. delete all, until all are gone and the table is empty.
//!
//! A phase's counts (requests, CPU, reconciles) are read once the operator
//! has settled (its reconcile count unchanged for a second): what a phase
//! set off, e.g. the reconciles its own status writes trigger, is counted
//! in it, not in the next. Wall times and latencies end when the last
//! resource is done, before that.
//!
//! Reported per operator, run and phase:
//! - wall time (first request sent to last resource done), and resources
//!   per second; the time until the operator went quiet (first request
//!   sent to its last reconcile of the phase, to 0.1 s: the work it does
//!   after the last resource is done, such as the reconciles its own
//!   status writes set off, included); and how long the driver took to send its requests (first
//!   sent to last answered: when it is most of the wall time, the API
//!   server is what the phase waits for);
//! - p50 and p99 latency, from the moment the driver sends a resource's
//!   request to the moment its watch sees it Ready (create, update) or gone
//!   (delete);
//! - the operator's API requests per resource, by verb and resource:
//!   kube-apiserver's `apiserver_request_total` before and after each
//!   phase, minus the driver's own requests, which a counting layer on the
//!   driver's client classifies the same way (POST, PATCH, DELETE, LIST,
//!   WATCH ...); for PostgresWriters, Events (the Rust operator records
//!   them, the Go peer does not) and Leases. Leases are the Go peer's
//!   leader election (a renewal every 2 s whatever the load; the API
//!   server's own identity lease, renewed every 10 s, is counted with
//!   them, as the counter has no namespace): shown in the breakdown, but
//!   counted per phase, not per resource, and left out of the totals.
//!   WATCH is left out too: the server counts a watch when it ends, so
//!   over a run it is noise (each operator keeps one open);
//! - the refused requests (a code other than 2xx), e.g. conflicts;
//! - the control plane's CPU seconds (kube-apiserver and etcd, found by
//!   name under /proc): what the operator costs the server side; and
//!   PostgreSQL's (every `postgres` process, and the connections that
//!   ended);
//! - the operator's CPU seconds (utime + stime of its process, from
//!   `/proc/PID/stat`) and peak RSS (VmHWM) at the end of the phase (the
//!   ratio table takes the run's highest);
//! - its reconciles per resource, from its /metrics: Rust
//!   `konditions_reconcile_duration_seconds_count`, Go
//!   `controller_runtime_reconcile_total`; and their errors (and, for Rust,
//!   the lock's outcomes);
//! - the load average (`/proc/loadavg`) before and after each run.
//!
//! Then per cell the breakdown of requests, both operators side by side
//! (mean of the repetitions), a ratio table Rust / Go (means of the
//! repetitions; below 1: Rust takes less), and per phase the wall time
//! beside the work (the CPU seconds of every process above, summed), with
//! how much of each one's work came after its last resource was done (at
//! least: what exceeds the machine's cores × the wall time). On a machine
//! whose cores are all busy, work left for after the last resource (the
//! Go peer's second reconcile of each object) does not count in the wall
//! time.
//!
//! The API server's counters are global: anything else using the same
//! control plane during a run is counted as the operator's.
//!
//! `OPERATOR_SCALE_NO_GENERATION_GUARD=1` installs the CRD without its
//! generation guard (`konditions_core::crd::remove_generation_guard`), to
//! price that rule.
//!
//! **The kill test** (`OPERATOR_SCALE_KILLS=3`, instead of the phases): for
//! each operator, two replicas (the Go peer's elect a leader),
//! `OPERATOR_SCALE_N` (default 500) resources created at once, and every
//! `OPERATOR_SCALE_KILL_GAP_MS` milliseconds (default 1000) from the first create the
//! replica doing the work (the Go leader; the Rust replicas in turn)
//! killed with SIGKILL and started again at once (with the same name, as a
//! StatefulSet's pod would be). Reported: the time to all Ready (which may
//! come before the last kill), the row writes that changed nothing (a
//! trigger counts them), and the status writes refused with a conflict.
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use k8s_openapi::api::core::v1::Namespace;
use konditions_core::{ConditionalResource, Status};
use konditions_examples::postgres_writer::{
    PostgresConfig, PostgresWriter, PostgresWriterCondition, PostgresWriterSpec,
};
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use tower::util::MapRequestLayer;

/// A hang guard per phase, not a performance limit.
const LIMIT: Duration = Duration::from_secs(3600);

/// The resources whose requests are counted: what the Rust operator's role
/// (deploy/rbac.yaml) lets it touch, and the Go peer's leader-election
/// Lease.
const COUNTED_RESOURCES: [&str; 3] = ["postgreswriters", "events", LEASES];

/// The Go peer's leader election: counted, but not per resource.
const LEASES: &str = "leases";

// The Go peer's build, shared with the test that checks it builds.
#[path = "../tests/common/go_peer.rs"]
mod go_peer;
#[path = "common/processes.rs"]
mod processes;
#[path = "common/settings.rs"]
mod settings;
use go_peer::go_peer;
use processes::{
    clock_ticks, control_plane_cpu_seconds, cpu_seconds, database_cpu_seconds, load_average,
    peak_rss_kib,
};
use settings::{list_setting, setting};

/// Requests by `VERB resource[/subresource]`, as the API server counts them.
type Requests = BTreeMap<String, f64>;

/// `apiserver_request_total` summed over codes and scopes, for the
/// resources of [`COUNTED_RESOURCES`]; and the refused ones (a code other
/// than 2xx) by `VERB resource[/subresource] code`.
async fn server_requests(client: &Client) -> (Requests, Requests) {
    let text = client
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .expect("GET /metrics");
    let (mut counts, mut refused) = (Requests::new(), Requests::new());
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        // `name{a="x",b="y"}`: label values here hold no quote nor comma.
        let labels: HashMap<&str, &str> = series
            .trim_start_matches("apiserver_request_total{")
            .trim_end_matches('}')
            .split(',')
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                Some((name, value.trim_matches('"')))
            })
            .collect();
        let label = |name: &str| labels.get(name).copied().unwrap_or("");
        let resource = label("resource");
        if !COUNTED_RESOURCES.contains(&resource) {
            continue;
        }
        let value: f64 = value.parse().unwrap_or(0.0);
        let key = key(label("verb"), resource, label("subresource"));
        if !label("code").starts_with('2') {
            *refused
                .entry(format!("{key} {}", label("code")))
                .or_insert(0.0) += value;
        }
        *counts.entry(key).or_insert(0.0) += value;
    }
    (counts, refused)
}

fn key(verb: &str, resource: &str, subresource: &str) -> String {
    if subresource.is_empty() {
        format!("{verb} {resource}")
    } else {
        format!("{verb} {resource}/{subresource}")
    }
}

/// The verb and resource the API server files a request under.
fn classify<B>(request: &http::Request<B>) -> Option<String> {
    let segments: Vec<&str> = request.uri().path().trim_matches('/').split('/').collect();
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..)?,
        Some(&"apis") => segments.get(3..)?,
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _, resource, more @ ..] => [&[*resource], more].concat(),
        other => other.to_vec(),
    };
    let (resource, name, subresource) = (rest.first()?, rest.get(1), rest.get(2));
    let watch = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let apply = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/apply-patch"));
    let verb = match *request.method() {
        http::Method::GET if watch => "WATCH",
        http::Method::GET if name.is_none() => "LIST",
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH if apply => "APPLY",
        http::Method::PATCH => "PATCH",
        _ => return None,
    };
    Some(key(verb, resource, subresource.copied().unwrap_or("")))
}

/// A client of the control plane whose requests are counted in `tally`.
async fn counted_client(tally: Arc<Mutex<Requests>>) -> Client {
    let path = konditions_testing::kubeconfig_path();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("client config");
    let count = MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
        if let Some(key) = classify(&request) {
            *tally.lock().unwrap().entry(key).or_insert(0.0) += 1.0;
        }
        request
    });
    kube::client::ClientBuilder::try_from(config)
        .expect("client builder")
        .with_layer(&count)
        .build()
}

/// `later - earlier`, key by key.
fn minus(later: &Requests, earlier: &Requests) -> Requests {
    later
        .iter()
        .map(|(k, v)| (k.clone(), v - earlier.get(k).copied().unwrap_or(0.0)))
        .collect()
}

/// The spec of the driver's `i`th resource.
fn spec(table: &str, i: usize) -> PostgresWriterSpec {
    PostgresWriterSpec {
        table: table.to_owned(),
        name: format!("n{i}"),
        age: i as i32,
        country: "canada".into(),
    }
}

/// Which operator a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Go,
    Rust,
    /// Two replicas of the Rust binary sharing the work (`SHARD_NAMESPACE`).
    RustShared,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Go => "go",
            Self::Rust => "rust",
            Self::RustShared => "rust-shared",
        }
    }

    /// How many processes run it.
    fn replicas(self) -> usize {
        match self {
            Self::RustShared => 2,
            Self::Go | Self::Rust => 1,
        }
    }

    /// The /metrics series of this operator that the report keeps.
    fn keeps(self, series: &str) -> bool {
        match self {
            Self::Rust | Self::RustShared => [
                "konditions_reconcile_duration_seconds_count",
                "konditions_reconcile_errors_total",
                "konditions_lock_outcomes_total",
            ]
            .iter()
            .any(|p| series.starts_with(p)),
            Self::Go => {
                (series.starts_with("controller_runtime_reconcile_total{")
                    || series.starts_with("controller_runtime_reconcile_errors_total{"))
                    && series.contains("controller=\"postgreswriter\"")
            }
        }
    }

    /// The series that count reconciles (each reconcile once).
    fn counts_reconciles(self, series: &str) -> bool {
        match self {
            Self::Rust | Self::RustShared => {
                series.starts_with("konditions_reconcile_duration_seconds_count")
            }
            Self::Go => series.starts_with("controller_runtime_reconcile_total{"),
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "go" => Ok(Self::Go),
            "rust" => Ok(Self::Rust),
            "rust-shared" => Ok(Self::RustShared),
            _ => Err(()),
        }
    }
}

/// The samples of an operator's /metrics that `kind` keeps, by series.
fn samples(kind: Kind, text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && kind.keeps(l))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// A free port on the loopback interface.
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// One process of an operator, with its HTTP endpoints.
struct Process {
    child: Child,
    metrics: SocketAddr,
    health: SocketAddr,
}

/// The operator processes of one run (two for `rust-shared`).
struct Operator {
    processes: Vec<Process>,
    /// The Go peer's processes (leader election).
    is_go: bool,
    /// Processes that share the work (member Leases).
    shared: bool,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Empty<Bytes>,
    >,
}

/// The member lease of `rust-shared` (the deployment's default).
const SHARD_LEASE_SECONDS: u64 = 15;

impl Operator {
    fn start(
        kind: Kind,
        go_peer: Option<&Path>,
        namespace: &str,
        concurrency: u16,
        log: &Path,
    ) -> Self {
        Self::start_replicas(kind, kind.replicas(), go_peer, namespace, concurrency, log)
    }

    fn start_replicas(
        kind: Kind,
        replicas: usize,
        go_peer: Option<&Path>,
        namespace: &str,
        concurrency: u16,
        log: &Path,
    ) -> Self {
        let processes = (0..replicas)
            .map(|replica| {
                let log = log.with_extension(format!("{replica}.log"));
                Process::start(kind, go_peer, namespace, concurrency, replica, &log)
            })
            .collect();
        Self {
            processes,
            is_go: kind == Kind::Go,
            shared: kind == Kind::RustShared,
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
        }
    }

    async fn get(&self, addr: SocketAddr, path: &str) -> Option<(u16, String)> {
        let uri = format!("http://{addr}{path}").parse().unwrap();
        let response = self.http.get(uri).await.ok()?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn wait_ready(&mut self, client: &Client, namespace: &str) {
        let deadline = Instant::now() + LIMIT;
        // The Go peer's standby is ready only once it leads: its leader is.
        let wait_for: Vec<usize> = if self.is_go {
            loop {
                if let Some(leader) = self.leader().await {
                    break vec![leader];
                }
                assert!(Instant::now() < deadline, "no Go replica ever led");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            (0..self.processes.len()).collect()
        };
        for i in wait_for {
            while self
                .get(self.processes[i].health, "/readyz")
                .await
                .map(|(s, _)| s)
                != Some(200)
            {
                assert!(
                    self.processes[i].child.try_wait().unwrap().is_none(),
                    "the operator exited"
                );
                assert!(Instant::now() < deadline, "the operator never became ready");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if self.shared {
            wait_for_members(client, namespace, self.processes.len()).await;
        }
    }

    /// Which process does the work, for the kill test's `k`-th kill: the
    /// Go peer's leader (its `leader_election_master_status` is 1); the
    /// Rust replicas in turn (each works).
    async fn working(&self, kind: Kind, k: usize) -> usize {
        if kind != Kind::Go {
            return k % self.processes.len();
        }
        // No leader right now (an election in progress): either.
        self.leader().await.unwrap_or(k % self.processes.len())
    }

    /// The Go peer's process that leads (its `leader_election_master_status`
    /// is 1), if one does.
    async fn leader(&self) -> Option<usize> {
        for (i, process) in self.processes.iter().enumerate() {
            let leads = self
                .get(process.metrics, "/metrics")
                .await
                .is_some_and(|(_, text)| {
                    text.lines().any(|l| {
                        l.starts_with("leader_election_master_status{") && l.ends_with(" 1")
                    })
                });
            if leads {
                return Some(i);
            }
        }
        None
    }

    /// Kills process `i` (SIGKILL) and starts a new one in its place.
    fn restart(
        &mut self,
        i: usize,
        kind: Kind,
        go_peer: Option<&Path>,
        namespace: &str,
        log: &Path,
    ) {
        let old = &mut self.processes[i];
        let _ = Command::new("kill")
            .args(["-KILL", &old.child.id().to_string()])
            .status();
        let _ = old.child.wait();
        let log = log.with_extension(format!("{i}.restarted.log"));
        self.processes[i] = Process::start(kind, go_peer, namespace, 16, i, &log);
    }

    /// The processes' /metrics, summed by series.
    async fn samples(&self, kind: Kind) -> BTreeMap<String, f64> {
        let mut total = BTreeMap::new();
        for process in &self.processes {
            let text = self
                .get(process.metrics, "/metrics")
                .await
                .expect("/metrics")
                .1;
            for (series, value) in samples(kind, &text) {
                *total.entry(series).or_insert(0.0) += value;
            }
        }
        total
    }

    /// The processes' CPU seconds, summed.
    fn cpu_seconds(&self, ticks: f64) -> f64 {
        self.processes
            .iter()
            .map(|p| cpu_seconds(p.child.id(), ticks))
            .sum()
    }

    /// The highest peak RSS of one process: what each replica needs.
    fn peak_rss_kib(&self) -> Option<u64> {
        self.processes
            .iter()
            .filter_map(|p| peak_rss_kib(p.child.id()))
            .max()
    }

    fn stop(self) {
        for mut process in self.processes {
            let _ = Command::new("kill")
                .args(["-TERM", &process.child.id().to_string()])
                .status();
            let _ = process.child.wait();
        }
    }
}

impl Process {
    fn start(
        kind: Kind,
        go_peer: Option<&Path>,
        namespace: &str,
        concurrency: u16,
        replica: usize,
        log: &Path,
    ) -> Self {
        let pg = xtask::local_postgres();
        let metrics = free_addr();
        let log = std::fs::File::create(log).expect("operator log");
        let mut command = match kind {
            // `cargo bench` builds the binary with the bench (release) profile.
            Kind::Rust | Kind::RustShared => Command::new(env!("CARGO_BIN_EXE_postgres-writer")),
            Kind::Go => Command::new(go_peer.expect("the Go peer is built")),
        };
        // Both read the tutorial's PSQL_* variables.
        command
            .envs(pg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KUBECONFIG", konditions_testing::kubeconfig_path())
            .env("WATCH_NAMESPACE", namespace)
            .env("RECONCILE_CONCURRENCY", concurrency.to_string())
            .env("METRICS_ADDR", metrics.to_string());
        let health = match kind {
            Kind::Rust | Kind::RustShared => {
                command
                    .env("POD_NAME", format!("bench-{concurrency}-{replica}"))
                    .env("RUST_LOG", "info");
                if kind == Kind::RustShared {
                    command
                        .env("SHARD_NAMESPACE", namespace)
                        .env("SHARD_LEASE_SECONDS", SHARD_LEASE_SECONDS.to_string());
                }
                metrics
            }
            Kind::Go => {
                let health = free_addr();
                command
                    .env("HEALTH_ADDR", health.to_string())
                    .env("LEADER_ELECT", "true");
                health
            }
        };
        let child = command
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the operator");
        Self {
            child,
            metrics,
            health,
        }
    }
}

/// Waits until `count` members share the work: each member's Lease there,
/// and every member past the wait of a member that joins a working group
/// (one lease after it joined, and a renewal round).
async fn wait_for_members(client: &Client, namespace: &str, count: usize) {
    use k8s_openapi::api::coordination::v1::Lease;
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + LIMIT;
    let warm_up = i64::try_from(SHARD_LEASE_SECONDS + SHARD_LEASE_SECONDS / 3 + 1).unwrap();
    loop {
        let listed = leases
            .list(&Default::default())
            .await
            .expect("list Leases")
            .items;
        // Seconds since the epoch, on this machine's clock (the members' too).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let joined: Vec<i64> = listed
            .iter()
            .filter_map(|l| Some(l.spec.as_ref()?.acquire_time.as_ref()?.0.as_second()))
            .collect();
        if joined.len() >= count
            && joined
                .iter()
                .all(|at| i64::try_from(now).unwrap() - at > warm_up)
        {
            return;
        }
        assert!(Instant::now() < deadline, "the replicas never all joined");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the driver has sent and its watch has seen, per resource name.
#[derive(Default)]
struct Seen {
    /// When the driver sent the create, the update, the delete.
    created: HashMap<String, Instant>,
    updated: HashMap<String, Instant>,
    deleting: HashMap<String, Instant>,
    /// The generation each create and update answered with.
    created_generation: HashMap<String, i64>,
    updated_generation: HashMap<String, i64>,
    /// When the watch first saw a resource Ready at a generation.
    ready: HashMap<(String, i64), Instant>,
    gone: HashMap<String, Instant>,
}

impl Seen {
    /// When each resource became Ready at the generation of `generations`.
    fn ready_at(&self, generations: &HashMap<String, i64>) -> HashMap<String, Instant> {
        generations
            .iter()
            .filter_map(|(name, g)| Some((name.clone(), *self.ready.get(&(name.clone(), *g))?)))
            .collect()
    }
}

/// Ready=True at the resource's generation, and `status.observedGeneration`
/// at it too.
fn ready_generation(writer: &PostgresWriter) -> Option<i64> {
    let generation = writer.metadata.generation?;
    let ready = writer
        .conditions()
        .and_then(|c| c.find(&PostgresWriterCondition::Ready))
        .is_some_and(|c| c.status == Status::True && c.observed_generation == Some(generation));
    let observed = writer.status.as_ref().and_then(|s| s.observed_generation) == Some(generation);
    (ready && observed).then_some(generation)
}

/// Latencies from `from` to `to` (names in both), sorted.
fn latencies(from: &HashMap<String, Instant>, to: &HashMap<String, Instant>) -> Vec<Duration> {
    let mut all: Vec<Duration> = to
        .iter()
        .filter_map(|(name, at)| Some(at.saturating_duration_since(*from.get(name)?)))
        .collect();
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Counts at one moment.
struct Snapshot {
    server: Requests,
    refused: Requests,
    driver: Requests,
    cpu: f64,
    server_cpu: f64,
    database_cpu: f64,
    driver_cpu: f64,
    metrics: BTreeMap<String, f64>,
}

impl Snapshot {
    /// The operator's requests since `earlier`: the server's minus the
    /// driver's.
    fn operator_since(&self, earlier: &Self) -> Requests {
        let mut requests = minus(
            &minus(&self.server, &earlier.server),
            &minus(&self.driver, &earlier.driver),
        );
        requests.retain(|_, v| *v != 0.0);
        requests
    }

    /// The refused requests since `earlier` (the driver's never are: it
    /// stops on any error).
    fn refused_since(&self, earlier: &Self) -> Requests {
        let mut refused = minus(&self.refused, &earlier.refused);
        refused.retain(|_, v| *v > 0.0);
        refused
    }

    fn metrics_since(&self, earlier: &Self) -> BTreeMap<String, f64> {
        let mut delta = minus(&self.metrics, &earlier.metrics);
        delta.retain(|_, v| *v != 0.0);
        delta
    }
}

const PHASES: [&str; 3] = ["create", "update", "delete"];

/// One phase of one run.
struct Phase {
    wall: Duration,
    /// From the first request sent to the driver's last answered.
    sent: Duration,
    /// From the first request sent to the operator's last reconcile of the
    /// phase (its work after the last resource was done included).
    quiet: Duration,
    latencies: Vec<Duration>,
    requests: Requests,
    refused: Requests,
    cpu: f64,
    /// kube-apiserver's and etcd's CPU seconds.
    server_cpu: f64,
    /// PostgreSQL's CPU seconds.
    database_cpu: f64,
    /// The driver's CPU seconds (this process).
    driver_cpu: f64,
    peak_rss_kib: Option<u64>,
    metrics: BTreeMap<String, f64>,
}

impl Phase {
    /// The phase between two snapshots: `(wall, sent, latencies)` as the
    /// driver saw them, `quiet` as [`Bench::settle`] found it.
    fn new(
        earlier: &Snapshot,
        later: &Snapshot,
        (wall, sent, latencies): (Duration, Duration, Vec<Duration>),
        quiet: Duration,
        rss: Option<u64>,
    ) -> Self {
        Self {
            wall,
            sent,
            quiet: quiet.max(wall),
            latencies,
            requests: later.operator_since(earlier),
            refused: later.refused_since(earlier),
            cpu: later.cpu - earlier.cpu,
            server_cpu: later.server_cpu - earlier.server_cpu,
            database_cpu: later.database_cpu - earlier.database_cpu,
            driver_cpu: later.driver_cpu - earlier.driver_cpu,
            peak_rss_kib: rss,
            metrics: later.metrics_since(earlier),
        }
    }

    /// The CPU seconds of every process the phase keeps busy: the
    /// operator, the control plane, PostgreSQL and the driver.
    fn all_cpu(&self) -> f64 {
        self.cpu + self.server_cpu + self.database_cpu + self.driver_cpu
    }

    /// CPU seconds spent after the last resource was done, at least: the
    /// machine's cores cannot have done more than `cores` × wall time
    /// within the phase, so the rest of [`all_cpu`](Self::all_cpu) came
    /// after it, while the operator settled (e.g. the reconciles its own
    /// status writes set off). Work there does not count in the wall time.
    fn after_done(&self, cores: f64) -> f64 {
        (self.all_cpu() - cores * self.wall.as_secs_f64()).max(0.0)
    }
}

/// The machine's cores, for [`Phase::after_done`].
fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// One kill test's results.
struct KillRun {
    kind: Kind,
    all_ready: Duration,
    /// Row writes that changed nothing.
    rewrites: usize,
    /// Status writes the API server refused with a conflict.
    conflicts: f64,
    load_before: String,
    load_after: String,
}

/// One run's results.
struct Run {
    kind: Kind,
    n: usize,
    concurrency: u16,
    repetition: usize,
    phases: [Phase; 3],
    load_before: String,
    load_after: String,
}

struct Bench {
    client: Client,
    tally: Arc<Mutex<Requests>>,
    db: tokio_postgres::Client,
    drivers: usize,
    ticks: f64,
    go_peer: Option<PathBuf>,
}

impl Bench {
    async fn rows(&self, query: &str) -> usize {
        let row = self.db.query_one(query, &[]).await.unwrap();
        row.get::<_, i64>(0) as usize
    }

    /// The counts at this moment.
    async fn snapshot(&self, kind: Kind, operator: &Operator) -> Snapshot {
        let driver = self.tally.lock().unwrap().clone();
        // This GET /metrics is not filed under a resource.
        let (server, refused) = server_requests(&self.client).await;
        Snapshot {
            server,
            refused,
            driver,
            cpu: operator.cpu_seconds(self.ticks),
            server_cpu: control_plane_cpu_seconds(self.ticks),
            database_cpu: database_cpu_seconds(self.ticks),
            driver_cpu: cpu_seconds(std::process::id(), self.ticks),
            metrics: operator.samples(kind).await,
        }
    }

    /// Waits until the operator has finished what the phase set off (its
    /// own status writes come back as watch events and reconcile again):
    /// its reconcile count unchanged for a second, 30 s at most. So each
    /// phase's requests, CPU and reconciles are its own, not the next
    /// one's; its wall time and latencies end before this. Returns when
    /// the count was last seen to change (at the first look, when it no
    /// longer did): when the operator went quiet, to 0.1 s.
    async fn settle(&self, kind: Kind, operator: &Operator) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut last, mut since) = (f64::NAN, Instant::now());
        while Instant::now() < deadline {
            let count = reconciles(kind, &operator.samples(kind).await);
            if count != last {
                (last, since) = (count, Instant::now());
            } else if since.elapsed() >= Duration::from_secs(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        since
    }

    /// Waits until `done` holds for the watch's view and `query` counts
    /// `rows` rows.
    async fn wait(
        &self,
        seen: &Mutex<Seen>,
        query: &str,
        rows: usize,
        what: &str,
        done: impl Fn(&Seen) -> bool,
    ) {
        let deadline = Instant::now() + LIMIT;
        loop {
            if done(&seen.lock().unwrap()) && self.rows(query).await == rows {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not done after {LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A fresh namespace and table for the run `id`: their names.
    async fn fresh(&self, id: &str) -> (String, String) {
        let namespace = format!("bench-{id}");
        Api::<Namespace>::all(self.client.clone())
            .create(
                &PostParams::default(),
                &Namespace {
                    metadata: ObjectMeta {
                        name: Some(namespace.clone()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .expect("namespace");
        let table = format!("bench_{}", id.replace('-', "_"));
        self.db
            .batch_execute(&format!(
                "CREATE TABLE {table} (id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, country TEXT NOT NULL, fencing_token BIGINT NOT NULL DEFAULT 0)"
            ))
            .await
            .unwrap();
        (namespace, table)
    }

    /// The kill test: two replicas of `kind` (the Go peer's elect a
    /// leader), `n` resources created at once, and `kills` times, `gap`
    /// apart from the first create, the replica doing the work (the Go
    /// leader; the Rust replicas in turn) killed with SIGKILL and started
    /// again at once.
    async fn kill_run(
        &self,
        kind: Kind,
        n: usize,
        kills: usize,
        gap: Duration,
        repetition: usize,
    ) -> KillRun {
        let id = format!("{}-kill-{}-{repetition}", std::process::id(), kind.name());
        let (namespace, table) = self.fresh(&id).await;
        // Every row write that changed nothing is counted: a rewrite.
        self.db
            .batch_execute(&format!(
                "CREATE TABLE {table}_rewrites (id TEXT NOT NULL);
                 CREATE FUNCTION {table}_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                   IF (OLD.name, OLD.age, OLD.country) IS NOT DISTINCT FROM (NEW.name, NEW.age, NEW.country) THEN
                     INSERT INTO {table}_rewrites VALUES (NEW.id);
                   END IF;
                   RETURN NEW;
                 END $$;
                 CREATE TRIGGER {table}_rewrite BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_rewrite();"
            ))
            .await
            .unwrap();
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("operator_scale-{id}.log"));
        let mut operator =
            Operator::start_replicas(kind, 2, self.go_peer.as_deref(), &namespace, 16, &log);
        operator.wait_ready(&self.client, &namespace).await;
        let api: Api<PostgresWriter> = Api::namespaced(self.client.clone(), &namespace);
        let (_, refused_before) = server_requests(&self.client).await;
        let load_before = load_average();
        let began = Instant::now();
        let create = futures::stream::iter(0..n).for_each_concurrent(self.drivers, |i| {
            let (api, table) = (&api, &table);
            async move {
                let spec = spec(table, i);
                api.create(
                    &PostParams::default(),
                    &PostgresWriter::new(&format!("k{i:05}"), spec),
                )
                .await
                .expect("create");
            }
        });
        let created = std::sync::atomic::AtomicBool::new(false);
        let create = async {
            create.await;
            created.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let kill = async {
            for k in 0..kills {
                tokio::time::sleep_until((began + gap * (k as u32 + 1)).into()).await;
                let victim = operator.working(kind, k).await;
                operator.restart(victim, kind, self.go_peer.as_deref(), &namespace, &log);
            }
        };
        // Measured while the kills go on: a run done before the last kill
        // is done then.
        let count = format!("SELECT count(*) FROM {table}");
        let all_ready = async {
            let deadline = Instant::now() + LIMIT;
            loop {
                if created.load(std::sync::atomic::Ordering::SeqCst) {
                    let writers = api.list(&Default::default()).await.expect("list").items;
                    let ready = writers
                        .iter()
                        .filter(|w| ready_generation(w) == w.metadata.generation)
                        .count();
                    if ready == n && self.rows(&count).await == n {
                        return began.elapsed();
                    }
                }
                assert!(Instant::now() < deadline, "kill test: not all Ready");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let ((), (), all_ready) = tokio::join!(create, kill, all_ready);
        let (_, refused) = server_requests(&self.client).await;
        let rewrites = self
            .rows(&format!("SELECT count(*) FROM {table}_rewrites"))
            .await;
        let conflicts = minus(&refused, &refused_before)
            .iter()
            .filter(|(k, _)| k.contains("postgreswriters/status") && k.ends_with(" 409"))
            .map(|(_, v)| *v)
            .sum();
        let load_after = load_average();
        operator.stop();
        KillRun {
            kind,
            all_ready,
            rewrites,
            conflicts,
            load_before,
            load_after,
        }
    }

    async fn run(&self, kind: Kind, n: usize, concurrency: u16, repetition: usize) -> Run {
        let id = format!(
            "{}-{n}-{concurrency}-{}-{repetition}",
            std::process::id(),
            kind.name()
        );
        let (namespace, table) = self.fresh(&id).await;

        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("operator_scale-{id}.log"));
        let mut operator =
            Operator::start(kind, self.go_peer.as_deref(), &namespace, concurrency, &log);
        operator.wait_ready(&self.client, &namespace).await;

        let api: Api<PostgresWriter> = Api::namespaced(self.client.clone(), &namespace);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
        let watch = tokio::spawn({
            let (api, seen) = (api.clone(), seen.clone());
            async move {
                let mut synced = Some(synced_tx);
                let mut events =
                    std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
                while let Some(event) = events.try_next().await.expect("watch") {
                    let now = Instant::now();
                    let mut seen = seen.lock().unwrap();
                    match event {
                        watcher::Event::Apply(w) | watcher::Event::InitApply(w) => {
                            if let Some(generation) = ready_generation(&w) {
                                seen.ready.entry((w.name_any(), generation)).or_insert(now);
                            }
                        }
                        watcher::Event::Delete(w) => {
                            seen.gone.entry(w.name_any()).or_insert(now);
                        }
                        watcher::Event::InitDone => {
                            if let Some(tx) = synced.take() {
                                let _ = tx.send(());
                            }
                        }
                        watcher::Event::Init => {}
                    }
                }
            }
        });
        synced_rx.await.expect("the driver's watch synced");

        let load_before = load_average();
        let names: Vec<String> = (0..n).map(|i| format!("w{i:05}")).collect();
        let s0 = self.snapshot(kind, &operator).await;

        // 1. Create.
        let began = Instant::now();
        futures::stream::iter(names.iter().enumerate())
            .for_each_concurrent(self.drivers, |(i, name)| {
                let (api, seen, table) = (&api, &seen, &table);
                async move {
                    let spec = spec(table, i);
                    seen.lock()
                        .unwrap()
                        .created
                        .insert(name.clone(), Instant::now());
                    let created = api
                        .create(&PostParams::default(), &PostgresWriter::new(name, spec))
                        .await
                        .expect("create");
                    seen.lock().unwrap().created_generation.insert(
                        name.clone(),
                        created.metadata.generation.expect("a generation"),
                    );
                }
            })
            .await;
        let created_sent = began.elapsed();
        let count = format!("SELECT count(*) FROM {table}");
        self.wait(&seen, &count, n, "all Ready with rows", |s| {
            s.created_generation.len() == n && s.ready_at(&s.created_generation).len() == n
        })
        .await;
        let create = {
            let seen = seen.lock().unwrap();
            let ready = seen.ready_at(&seen.created_generation);
            let last = ready.values().max().unwrap().duration_since(began);
            (last, created_sent, latencies(&seen.created, &ready))
        };
        let create_quiet = self.settle(kind, &operator).await.duration_since(began);
        let s1 = self.snapshot(kind, &operator).await;
        let rss1 = operator.peak_rss_kib();

        // 2. Update: every age moves to n + i, above every old one.
        let began = Instant::now();
        futures::stream::iter(names.iter().enumerate())
            .for_each_concurrent(self.drivers, |(i, name)| {
                let (api, seen) = (&api, &seen);
                async move {
                    seen.lock()
                        .unwrap()
                        .updated
                        .insert(name.clone(), Instant::now());
                    let patch = serde_json::json!({"spec": {"age": n + i}});
                    let updated = api
                        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .expect("update");
                    seen.lock().unwrap().updated_generation.insert(
                        name.clone(),
                        updated.metadata.generation.expect("a generation"),
                    );
                }
            })
            .await;
        let updated_sent = began.elapsed();
        let updated_rows = format!("SELECT count(*) FROM {table} WHERE age >= {n}");
        self.wait(
            &seen,
            &updated_rows,
            n,
            "all Ready at the new generation with rows",
            |s| s.updated_generation.len() == n && s.ready_at(&s.updated_generation).len() == n,
        )
        .await;
        let update = {
            let seen = seen.lock().unwrap();
            let ready = seen.ready_at(&seen.updated_generation);
            let last = ready.values().max().unwrap().duration_since(began);
            (last, updated_sent, latencies(&seen.updated, &ready))
        };
        let update_quiet = self.settle(kind, &operator).await.duration_since(began);
        let s2 = self.snapshot(kind, &operator).await;
        let rss2 = operator.peak_rss_kib();

        // 3. Delete.
        let began = Instant::now();
        futures::stream::iter(names.iter())
            .for_each_concurrent(self.drivers, |name| {
                let (api, seen) = (&api, &seen);
                async move {
                    seen.lock()
                        .unwrap()
                        .deleting
                        .insert(name.clone(), Instant::now());
                    api.delete(name, &DeleteParams::default())
                        .await
                        .expect("delete");
                }
            })
            .await;
        let deleted_sent = began.elapsed();
        self.wait(&seen, &count, 0, "all gone with their rows", |s| {
            s.gone.len() == n
        })
        .await;
        let delete = {
            let seen = seen.lock().unwrap();
            let last = seen.gone.values().max().unwrap().duration_since(began);
            (last, deleted_sent, latencies(&seen.deleting, &seen.gone))
        };
        let delete_quiet = self.settle(kind, &operator).await.duration_since(began);
        let s3 = self.snapshot(kind, &operator).await;
        let rss3 = operator.peak_rss_kib();
        let load_after = load_average();
        operator.stop();
        watch.abort();

        Run {
            kind,
            n,
            concurrency,
            repetition,
            phases: [
                Phase::new(&s0, &s1, create, create_quiet, rss1),
                Phase::new(&s1, &s2, update, update_quiet, rss2),
                Phase::new(&s2, &s3, delete, delete_quiet, rss3),
            ],
            load_before,
            load_after,
        }
    }
}

/// The operator's requests of a phase, per resource and without the
/// leases (see the module doc).
fn per_resource_total(requests: &Requests, n: usize) -> f64 {
    requests
        .iter()
        .filter(|(k, _)| !k.starts_with("WATCH ") && !k.ends_with(&format!(" {LEASES}")))
        .fold(0.0, |sum, (_, v)| sum + v)
        / n as f64
}

fn leases(requests: &Requests) -> f64 {
    requests
        .iter()
        .filter(|(k, _)| !k.starts_with("WATCH ") && k.ends_with(&format!(" {LEASES}")))
        .fold(0.0, |sum, (_, v)| sum + v)
}

fn reconciles(kind: Kind, metrics: &BTreeMap<String, f64>) -> f64 {
    metrics
        .iter()
        .filter(|(k, _)| kind.counts_reconciles(k))
        .fold(0.0, |sum, (_, v)| sum + v)
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// The runs of `kind` in the cell (N, concurrency).
fn cell_runs(
    runs: &[Run],
    (n, concurrency): (usize, u16),
    kind: Kind,
) -> impl Iterator<Item = &Run> {
    runs.iter()
        .filter(move |r| r.kind == kind && r.n == n && r.concurrency == concurrency)
}

/// The mean of `f` over the runs of `kind` in the cell (N, concurrency).
fn cell_mean(runs: &[Run], cell: (usize, u16), kind: Kind, f: &dyn Fn(&Run) -> f64) -> f64 {
    mean(cell_runs(runs, cell, kind).map(f))
}

/// `ours / go`, both shown, in `unit`.
fn ratio_text(ours: f64, go: f64, unit: &str) -> String {
    format!("{ours:.2}{unit} / {go:.2}{unit} = **{:.2}**", ours / go)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0), |(s, c), v| (s + v, c + 1));
    if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    }
}

fn refused_text(refused: &Requests) -> String {
    if refused.is_empty() {
        return "0".into();
    }
    refused
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn report(runs: &[Run], cells: &[(usize, u16)], kinds: &[Kind], drivers: usize) {
    println!("\n## PostgresWriter operators at scale: Rust and its Go peer ({drivers} drivers)\n");
    println!(
        "| N | c | rep | operator | phase | wall | sent | quiet | per s | p50 | p99 | API requests per resource | lease requests | refused | CPU s | control plane CPU s | PostgreSQL CPU s | driver CPU s | peak RSS | reconciles per resource | load before / after |"
    );
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for run in runs {
        for (phase, name) in run.phases.iter().zip(PHASES) {
            println!(
                "| {} | {} | {} | {} | {name} | {:.2?} | {:.2?} | {:.2?} | {:.1} | {:.2?} | {:.2?} | {:.2} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {} / {} |",
                run.n,
                run.concurrency,
                run.repetition + 1,
                run.kind.name(),
                phase.wall,
                phase.sent,
                phase.quiet,
                run.n as f64 / phase.wall.as_secs_f64(),
                percentile(&phase.latencies, 50.0),
                percentile(&phase.latencies, 99.0),
                per_resource_total(&phase.requests, run.n),
                leases(&phase.requests),
                refused_text(&phase.refused),
                phase.cpu,
                phase.server_cpu,
                phase.database_cpu,
                phase.driver_cpu,
                mib(phase.peak_rss_kib),
                reconciles(run.kind, &phase.metrics) / run.n as f64,
                run.load_before,
                run.load_after,
            );
        }
    }

    for &(n, concurrency) in cells {
        let of = |kind: Kind| -> Vec<&Run> { cell_runs(runs, (n, concurrency), kind).collect() };
        breakdown(
            &format!(
                "N={n} c={concurrency}: API requests per resource by verb (leases: per phase, not per resource)"
            ),
            "request",
            kinds,
            &of,
            |p| &p.requests,
            |k| !k.starts_with("WATCH "),
            |key, v| {
                if key.ends_with(&format!(" {LEASES}")) {
                    v
                } else {
                    v / n as f64
                }
            },
        );
        breakdown(
            &format!("N={n} c={concurrency}: refused requests (per phase)"),
            "request and code",
            kinds,
            &of,
            |p| &p.refused,
            |_| true,
            |_, v| v,
        );
        breakdown(
            &format!("N={n} c={concurrency}: operator metrics per resource"),
            "series",
            kinds,
            &of,
            |p| &p.metrics,
            |_| true,
            |_, v| v / n as f64,
        );
    }

    if !kinds.contains(&Kind::Go) {
        return;
    }
    for &rust in kinds.iter().filter(|k| **k != Kind::Go) {
        ratios(runs, cells, rust);
        work(runs, cells, rust);
    }
}

/// Per phase, `rust` / Go: the wall time beside the work (all CPU
/// seconds), and how much of each one's work came after its last resource
/// was done. On a machine whose cores are all busy, the wall time follows
/// the work done before the end; an operator that leaves work for after
/// its last resource (the Go peer's second reconcile of each object, with
/// its unchanged status PUT) is faster by the clock than by the work.
fn work(runs: &[Run], cells: &[(usize, u16)], rust: Kind) {
    let cores = cores();
    println!(
        "\n### {} / go, wall time against work ({cores} cores; until quiet: to the operator's last reconcile of the phase; work: all CPU seconds of the operator, control plane, PostgreSQL and driver; after: at least this much of it came after the last resource was done)\n",
        rust.name()
    );
    println!(
        "| N | c | phase | wall | until quiet | work | {} after | go after |",
        rust.name()
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &(n, concurrency) in cells {
        for (i, name) in PHASES.iter().enumerate() {
            let of = |kind: Kind, f: &dyn Fn(&Phase) -> f64| {
                cell_mean(runs, (n, concurrency), kind, &|r| f(&r.phases[i]))
            };
            let ratio = |f: &dyn Fn(&Phase) -> f64| ratio_text(of(rust, f), of(Kind::Go, f), " s");
            let after = |kind: Kind| {
                let (after, all) = (
                    of(kind, &|p| p.after_done(cores)),
                    of(kind, &Phase::all_cpu),
                );
                format!("{after:.2} s ({:.0}%)", 100.0 * after / all)
            };
            println!(
                "| {n} | {concurrency} | {name} | {} | {} | {} | {} | {} |",
                ratio(&|p| p.wall.as_secs_f64()),
                ratio(&|p| p.quiet.as_secs_f64()),
                ratio(&Phase::all_cpu),
                after(rust),
                after(Kind::Go),
            );
        }
    }
}

/// The ratio table `rust` / Go.
fn ratios(runs: &[Run], cells: &[(usize, u16)], rust: Kind) {
    println!(
        "\n### {} / go (means of the repetitions; below 1: {} takes less)\n",
        rust.name(),
        rust.name()
    );
    println!(
        "| N | c | time to all Ready | update phase | delete phase | p99 create-to-Ready | API requests per resource, create to gone | CPU seconds | control plane CPU seconds | PostgreSQL CPU seconds | peak RSS (per process) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &(n, concurrency) in cells {
        let ratio = |f: &dyn Fn(&Run) -> f64, unit: &str| {
            let of = |kind| cell_mean(runs, (n, concurrency), kind, f);
            ratio_text(of(rust), of(Kind::Go), unit)
        };
        println!(
            "| {n} | {concurrency} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ratio(&|r| r.phases[0].wall.as_secs_f64(), " s"),
            ratio(&|r| r.phases[1].wall.as_secs_f64(), " s"),
            ratio(&|r| r.phases[2].wall.as_secs_f64(), " s"),
            ratio(
                &|r| percentile(&r.phases[0].latencies, 99.0).as_secs_f64(),
                " s"
            ),
            ratio(
                &|r| r
                    .phases
                    .iter()
                    .map(|p| per_resource_total(&p.requests, r.n))
                    .sum(),
                ""
            ),
            ratio(&|r| r.phases.iter().map(|p| p.cpu).sum(), " s"),
            ratio(&|r| r.phases.iter().map(|p| p.server_cpu).sum(), " s"),
            ratio(&|r| r.phases.iter().map(|p| p.database_cpu).sum(), " s"),
            ratio(
                &|r| {
                    let peak = r.phases.iter().filter_map(|p| p.peak_rss_kib).max();
                    peak.unwrap_or(0) as f64 / 1024.0
                },
                " MiB"
            ),
        );
    }
}

/// A table per cell: one row per key, one column per operator and phase,
/// means of the repetitions, `scale`d.
#[allow(clippy::too_many_arguments)]
fn breakdown<'r>(
    title: &str,
    what: &str,
    kinds: &[Kind],
    of: &dyn Fn(Kind) -> Vec<&'r Run>,
    values: impl Fn(&Phase) -> &BTreeMap<String, f64>,
    keep: impl Fn(&str) -> bool,
    scale: impl Fn(&str, f64) -> f64,
) {
    let mut keys: Vec<&String> = kinds
        .iter()
        .flat_map(|&k| of(k))
        .flat_map(|r| r.phases.iter().flat_map(|p| values(p).keys()))
        .filter(|k| keep(k))
        .collect();
    keys.sort();
    keys.dedup();
    println!("\n### {title}\n");
    if keys.is_empty() {
        println!("none");
        return;
    }
    let mut header = format!("| {what} |");
    for kind in kinds {
        for phase in PHASES {
            let _ = write!(header, " {} {phase} |", kind.name());
        }
    }
    println!("{header}");
    println!("|---|{}", "---|".repeat(kinds.len() * PHASES.len()));
    for key in keys {
        let mut row = format!("| {key} |");
        for &kind in kinds {
            let runs = of(kind);
            for i in 0..PHASES.len() {
                let value = mean(
                    runs.iter()
                        .map(|r| values(&r.phases[i]).get(key).copied().unwrap_or(0.0)),
                );
                let _ = write!(row, " {:.2} |", scale(key, value));
            }
        }
        println!("{row}");
    }
}

/// The cells (N, operator concurrency) of this run.
fn cells() -> Vec<(usize, u16)> {
    if std::env::var_os("OPERATOR_SCALE_N").is_none()
        && std::env::var_os("OPERATOR_SCALE_CONCURRENCY").is_none()
    {
        return vec![(1000, 1), (1000, 16), (5000, 16)];
    }
    let sizes: Vec<usize> = list_setting("OPERATOR_SCALE_N", "1000");
    let concurrencies: Vec<u16> = list_setting("OPERATOR_SCALE_CONCURRENCY", "16");
    sizes
        .iter()
        .flat_map(|&n| concurrencies.iter().map(move |&c| (n, c)))
        .collect()
}

#[tokio::main]
async fn main() {
    let cells = cells();
    let drivers: usize = setting("OPERATOR_SCALE_DRIVERS", 32);
    let repeat: usize = setting("OPERATOR_SCALE_REPEAT", 2);
    let kinds: Vec<Kind> = list_setting("OPERATOR_SCALE_OPERATORS", "go,rust,rust-shared");
    // Built (or found in the cache) before anything is measured.
    let go_peer = kinds.contains(&Kind::Go).then(|| {
        let started = Instant::now();
        let path = go_peer();
        println!("Go peer: {} ({:.1?})", path.display(), started.elapsed());
        path
    });
    let tally = Arc::new(Mutex::new(Requests::new()));
    let client = counted_client(tally.clone()).await;
    let mut crd = PostgresWriter::crd();
    if std::env::var_os("OPERATOR_SCALE_NO_GENERATION_GUARD").is_some() {
        // To price the CRD's generation guard (a CEL rule on every
        // condition entry) against the same run without it.
        let removed = konditions_core::crd::remove_generation_guard(&mut crd);
        println!("generation guard removed from {removed} schema(s)");
    }
    konditions_testing::install_crd(&client, &crd).await;
    let pg = xtask::local_postgres();
    let config = PostgresConfig::from_lookup(|k| pg.lookup(k)).unwrap();
    let (db, connection) = tokio_postgres::Config::new()
        .host(&config.host)
        .port(config.port)
        .dbname(&config.dbname)
        .user(&config.user)
        .password(&config.password)
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let bench = Bench {
        client,
        tally,
        db,
        drivers,
        ticks: clock_ticks(),
        go_peer,
    };

    if let Some(kills) = std::env::var("OPERATOR_SCALE_KILLS")
        .ok()
        .and_then(|k| k.parse::<usize>().ok())
    {
        let n: usize = setting("OPERATOR_SCALE_N", 500);
        let gap = Duration::from_millis(setting("OPERATOR_SCALE_KILL_GAP_MS", 1000));
        println!(
            "\n## Kill test: two replicas, {n} resources created at once, {kills} SIGKILLs of the working replica {gap:?} apart (each started again at once)\n"
        );
        println!(
            "| rep | operator | all Ready | rows rewritten unchanged | status conflicts (409) | load before / after |"
        );
        println!("|---|---|---|---|---|---|");
        for repetition in 0..repeat {
            let mut order = kinds.clone();
            if repetition % 2 == 1 {
                order.reverse();
            }
            for kind in order {
                let run = bench.kill_run(kind, n, kills, gap, repetition).await;
                println!(
                    "| {} | {} | {:.1?} | {} | {} | {} / {} |",
                    repetition + 1,
                    run.kind.name(),
                    run.all_ready,
                    run.rewrites,
                    run.conflicts,
                    run.load_before,
                    run.load_after
                );
            }
        }
        return;
    }

    let mut runs = Vec::new();
    for &(n, concurrency) in &cells {
        for repetition in 0..repeat {
            // Every other repetition in the reverse order.
            let mut order = kinds.clone();
            if repetition % 2 == 1 {
                order.reverse();
            }
            for kind in order {
                let run = bench.run(kind, n, concurrency, repetition).await;
                println!(
                    "N={n} c={concurrency} rep {} {}: all Ready after {:.1?}, updated {:.1?}, all gone {:.1?}; CPU {:.1} s, control plane {:.1} s; load {} -> {}",
                    repetition + 1,
                    kind.name(),
                    run.phases[0].wall,
                    run.phases[1].wall,
                    run.phases[2].wall,
                    run.phases.iter().map(|p| p.cpu).sum::<f64>(),
                    run.phases.iter().map(|p| p.server_cpu).sum::<f64>(),
                    run.load_before,
                    run.load_after
                );
                runs.push(run);
            }
        }
    }
    report(&runs, &cells, &kinds, drivers);
}
