//! Scale benchmark of the PostgresWriter operator binary against the local
//! control plane and PostgreSQL (`cargo xtask controlplane up`, `cargo xtask
//! postgres up`, or inside `cargo xtask test`'s environment):
//!
//! `cargo bench -p konditions-examples --bench operator_scale`
//!
//! For each N in `OPERATOR_SCALE_N` (default `1000,10000`) and each
//! operator concurrency in `OPERATOR_SCALE_CONCURRENCY` (default `1,16,64`,
//! the binary's `RECONCILE_CONCURRENCY`), in one run: a fresh namespace and
//! table, a fresh operator process on them, then `OPERATOR_SCALE_DRIVERS`
//! (default 32) concurrent creators create N resources, and the same number
//! of deleters delete them once all are Ready. A parallel driver, so the
//! operator is the bottleneck.
//!
//! Reported per run:
//! - resources per second to Ready: N / (last Ready seen - first create sent);
//! - p50 and p99 create-to-Ready latency: from the moment the driver sends
//!   a resource's create to the moment its watch sees `Ready=True` for it;
//!   the same for delete-to-gone (the finalizer removed the row first);
//! - the operator's peak RSS (VmHWM of its process);
//! - its API requests per resource, by verb and resource, for create to
//!   Ready, delete to gone, and both: kube-apiserver's
//!   `apiserver_request_total` before and after each phase, minus the
//!   driver's own requests, which a counting layer on the driver's client
//!   classifies the same way (POST, DELETE, LIST, WATCH ...); only
//!   PostgresWriters and Events, all the operator's role grants. WATCH is
//!   left out: the server counts a watch when it ends, so over a run it is
//!   noise (the operator keeps one open);
//! - reconciles and lock outcomes per resource, from the operator's
//!   /metrics;
//! - the load average before and after.
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
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
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use tower::util::MapRequestLayer;

/// A hang guard per phase, not a performance limit.
const LIMIT: Duration = Duration::from_secs(3600);

/// What the operator's role (deploy/rbac.yaml) lets it touch; the other
/// requests the API server counts are its own (e.g. its identity lease).
const OPERATOR_RESOURCES: [&str; 2] = ["postgreswriters", "events"];

/// Requests by `VERB resource[/subresource]`, as the API server counts them.
type Requests = BTreeMap<String, f64>;

/// `apiserver_request_total` summed over codes and scopes, for the
/// resources of [`OPERATOR_RESOURCES`]; and the refused ones (a code other
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
        if !OPERATOR_RESOURCES.contains(&resource) {
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

fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn list_from_env<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    let value = std::env::var(name).unwrap_or_else(|_| default.to_owned());
    value
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: `{v}` is not a number"))
        })
        .collect()
}

/// The samples of the operator's /metrics whose name starts with `prefix`.
fn samples(text: &str, prefix: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series[prefix.len()..].to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The operator process of one run, with its HTTP endpoints.
struct Operator {
    child: Child,
    addr: SocketAddr,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Empty<Bytes>,
    >,
}

impl Operator {
    fn start(namespace: &str, concurrency: u16, log: &std::path::Path) -> Self {
        let pg = xtask::local_postgres();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let log = std::fs::File::create(log).expect("operator log");
        // `cargo bench` builds the binary with the bench (release) profile.
        let child = Command::new(env!("CARGO_BIN_EXE_postgres-writer"))
            .envs(pg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KUBECONFIG", konditions_testing::kubeconfig_path())
            .env("WATCH_NAMESPACE", namespace)
            .env("POD_NAME", format!("bench-{concurrency}"))
            .env("RECONCILE_CONCURRENCY", concurrency.to_string())
            .env("METRICS_ADDR", addr.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the operator");
        Self {
            child,
            addr,
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
        }
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let uri = format!("http://{}{path}", self.addr).parse().unwrap();
        let response = self.http.get(uri).await.ok()?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + LIMIT;
        while self.get("/readyz").await.map(|(s, _)| s) != Some(200) {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the operator exited"
            );
            assert!(Instant::now() < deadline, "the operator never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn metrics(&self) -> String {
        self.get("/metrics").await.expect("/metrics").1
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// What the driver's watch has seen, per resource name.
#[derive(Default)]
struct Seen {
    sent: HashMap<String, Instant>,
    ready: HashMap<String, Instant>,
    deleting: HashMap<String, Instant>,
    gone: HashMap<String, Instant>,
}

fn is_ready(writer: &PostgresWriter) -> bool {
    writer
        .conditions()
        .and_then(|c| c.find(&PostgresWriterCondition::Ready))
        .is_some_and(|c| {
            c.status == Status::True && c.observed_generation == writer.metadata.generation
        })
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

/// Request counts at one moment.
struct Snapshot {
    server: Requests,
    refused: Requests,
    driver: Requests,
}

impl Snapshot {
    /// The operator's requests since `earlier`: the server's minus the
    /// driver's.
    fn operator_since(&self, earlier: &Self) -> Requests {
        minus(
            &minus(&self.server, &earlier.server),
            &minus(&self.driver, &earlier.driver),
        )
    }

    /// The refused requests since `earlier` (the driver's never are: it
    /// stops on any error).
    fn refused_since(&self, earlier: &Self) -> Requests {
        let mut refused = minus(&self.refused, &earlier.refused);
        refused.retain(|_, v| *v > 0.0);
        refused
    }
}

/// One run's results.
struct Run {
    n: usize,
    concurrency: u16,
    created: Duration,
    to_ready: Duration,
    ready: Vec<Duration>,
    to_gone: Duration,
    gone: Vec<Duration>,
    rss_kib: Option<u64>,
    create_requests: Requests,
    delete_requests: Requests,
    create_refused: Requests,
    delete_refused: Requests,
    create_metrics: BTreeMap<String, f64>,
    delete_metrics: BTreeMap<String, f64>,
    load_before: String,
    load_after: String,
}

struct Bench {
    client: Client,
    tally: Arc<Mutex<Requests>>,
    db: tokio_postgres::Client,
    drivers: usize,
}

impl Bench {
    async fn rows(&self, table: &str) -> usize {
        let row = self
            .db
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap();
        row.get::<_, i64>(0) as usize
    }

    /// The server's counts and the driver's own, at one moment.
    async fn requests(&self) -> Snapshot {
        let driver = self.tally.lock().unwrap().clone();
        // This GET /metrics is not filed under a resource.
        let (server, refused) = server_requests(&self.client).await;
        Snapshot {
            server,
            refused,
            driver,
        }
    }

    /// Waits until `done` holds for the watch's view and the table has
    /// `rows` rows.
    async fn wait(
        &self,
        seen: &Mutex<Seen>,
        table: &str,
        rows: usize,
        what: &str,
        done: impl Fn(&Seen) -> bool,
    ) {
        let deadline = Instant::now() + LIMIT;
        loop {
            if done(&seen.lock().unwrap()) && self.rows(table).await == rows {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not done after {LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn run(&self, n: usize, concurrency: u16) -> Run {
        let id = format!("{}-{n}-{concurrency}", std::process::id());
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

        let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("operator_scale-{n}-{concurrency}.log"));
        let mut operator = Operator::start(&namespace, concurrency, &log);
        operator.wait_ready().await;
        let pid = operator.child.id();

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
                        watcher::Event::Apply(w) | watcher::Event::InitApply(w) if is_ready(&w) => {
                            seen.ready.entry(w.name_any()).or_insert(now);
                        }
                        watcher::Event::Delete(w) => {
                            seen.gone.entry(w.name_any()).or_insert(now);
                        }
                        watcher::Event::InitDone => {
                            if let Some(tx) = synced.take() {
                                let _ = tx.send(());
                            }
                        }
                        _ => {}
                    }
                }
            }
        });
        synced_rx.await.expect("the driver's watch synced");

        let load_before = load_average();
        let start = self.requests().await;
        let metrics_start = operator.metrics().await;
        let names: Vec<String> = (0..n).map(|i| format!("w{i:05}")).collect();
        let began = Instant::now();
        futures::stream::iter(names.iter().enumerate())
            .for_each_concurrent(self.drivers, |(i, name)| {
                let (api, seen, table) = (&api, &seen, &table);
                async move {
                    let spec = PostgresWriterSpec {
                        table: table.clone(),
                        name: format!("n{i}"),
                        age: i as i32,
                        country: "canada".into(),
                    };
                    seen.lock()
                        .unwrap()
                        .sent
                        .insert(name.clone(), Instant::now());
                    api.create(&PostParams::default(), &PostgresWriter::new(name, spec))
                        .await
                        .expect("create");
                }
            })
            .await;
        let created = began.elapsed();
        self.wait(&seen, &table, n, "all Ready with rows", |s| {
            s.ready.len() == n
        })
        .await;
        let to_ready = {
            let seen = seen.lock().unwrap();
            seen.ready.values().max().unwrap().duration_since(began)
        };
        let middle = self.requests().await;
        let metrics_middle = operator.metrics().await;

        let deleting = Instant::now();
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
        self.wait(&seen, &table, 0, "all gone with their rows", |s| {
            s.gone.len() == n
        })
        .await;
        let to_gone = {
            let seen = seen.lock().unwrap();
            seen.gone.values().max().unwrap().duration_since(deleting)
        };
        let end = self.requests().await;
        let metrics_end = operator.metrics().await;
        let rss_kib = peak_rss_kib(pid);
        let load_after = load_average();
        operator.stop();
        watch.abort();

        let metric_delta = |later: &str, earlier: &str| {
            let prefix = "postgres_writer_";
            let mut delta = samples(later, prefix);
            for (k, v) in samples(earlier, prefix) {
                *delta.entry(k).or_insert(0.0) -= v;
            }
            delta.retain(|k, _| {
                k.starts_with("reconciles_total") || k.starts_with("lock_outcomes_total")
            });
            delta
        };
        let seen = seen.lock().unwrap();
        Run {
            n,
            concurrency,
            created,
            to_ready,
            ready: latencies(&seen.sent, &seen.ready),
            to_gone,
            gone: latencies(&seen.deleting, &seen.gone),
            rss_kib,
            create_requests: middle.operator_since(&start),
            delete_requests: end.operator_since(&middle),
            create_refused: middle.refused_since(&start),
            delete_refused: end.refused_since(&middle),
            create_metrics: metric_delta(&metrics_middle, &metrics_start),
            delete_metrics: metric_delta(&metrics_end, &metrics_middle),
            load_before,
            load_after,
        }
    }
}

fn per_resource(value: f64, n: usize) -> String {
    format!("{:.2}", value / n as f64)
}

fn total(requests: &Requests) -> f64 {
    requests
        .iter()
        .filter(|(k, _)| !k.starts_with("WATCH "))
        .map(|(_, v)| v)
        .sum()
}

fn report(runs: &[Run]) {
    println!(
        "\n## PostgresWriter operator at scale ({} drivers)\n",
        std::env::var("OPERATOR_SCALE_DRIVERS").unwrap_or_else(|_| "32".into())
    );
    println!(
        "| N | operator concurrency | created/s (driver) | Ready/s | create-to-Ready p50 | p99 | all gone after delete | delete-to-gone p50 | p99 | peak RSS | API requests per resource | reconciles per resource | load before / after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for run in runs {
        let reconciles: f64 = run
            .create_metrics
            .iter()
            .chain(run.delete_metrics.iter())
            .filter(|(k, _)| k.starts_with("reconciles_total"))
            .map(|(_, v)| v)
            .sum();
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.2?} | {:.2?} | {:.1?} | {:.2?} | {:.2?} | {} MiB | {} | {} | {} / {} |",
            run.n,
            run.concurrency,
            run.n as f64 / run.created.as_secs_f64(),
            run.n as f64 / run.to_ready.as_secs_f64(),
            percentile(&run.ready, 50.0),
            percentile(&run.ready, 99.0),
            run.to_gone,
            percentile(&run.gone, 50.0),
            percentile(&run.gone, 99.0),
            run.rss_kib
                .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            per_resource(
                total(&run.create_requests) + total(&run.delete_requests),
                run.n
            ),
            per_resource(reconciles, run.n),
            run.load_before,
            run.load_after,
        );
    }
    phase_table(
        "Operator API requests per resource, by verb",
        "request",
        runs,
        |r| [&r.create_requests, &r.delete_requests],
        // Counted by the server when a watch ends: noise over a run.
        |key| !key.starts_with("WATCH "),
    );
    let totals: Vec<String> = runs
        .iter()
        .map(|r| phases_cell([total(&r.create_requests), total(&r.delete_requests)], r.n))
        .collect();
    println!("| total | {} |", totals.join(" | "));
    phase_table(
        "Of which refused, by response code",
        "request and code",
        runs,
        |r| [&r.create_refused, &r.delete_refused],
        |_| true,
    );
    phase_table(
        "Reconciles and lock outcomes per resource",
        "operator metric",
        runs,
        |r| [&r.create_metrics, &r.delete_metrics],
        |_| true,
    );
}

/// `create + delete = total`, per resource.
fn phases_cell([create, delete]: [f64; 2], n: usize) -> String {
    format!(
        "{} + {} = {}",
        per_resource(create, n),
        per_resource(delete, n),
        per_resource(create + delete, n)
    )
}

/// A table with one row per key that `keep` keeps and is not zero, one
/// column per run: `create to Ready + delete to gone = total`, per resource.
fn phase_table(
    title: &str,
    what: &str,
    runs: &[Run],
    phases: impl Fn(&Run) -> [&BTreeMap<String, f64>; 2],
    keep: impl Fn(&str) -> bool,
) {
    println!("\n### {title} (create to Ready + delete to gone = total)\n");
    let header: Vec<String> = runs
        .iter()
        .map(|r| format!("N={} c={}", r.n, r.concurrency))
        .collect();
    println!("| {what} | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(runs.len()));
    let mut keys: Vec<&String> = runs
        .iter()
        .flat_map(|r| phases(r).into_iter().flat_map(|p| p.keys()))
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys.into_iter().filter(|k| keep(k)) {
        let values: Vec<[f64; 2]> = runs
            .iter()
            .map(|r| phases(r).map(|p| p.get(key).copied().unwrap_or(0.0)))
            .collect();
        if values.iter().all(|v| v == &[0.0, 0.0]) {
            continue;
        }
        let row: Vec<String> = values
            .into_iter()
            .zip(runs)
            .map(|(v, r)| phases_cell(v, r.n))
            .collect();
        println!("| {key} | {} |", row.join(" | "));
    }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = list_from_env("OPERATOR_SCALE_N", "1000,10000");
    let concurrencies: Vec<u16> = list_from_env("OPERATOR_SCALE_CONCURRENCY", "1,16,64");
    let drivers: usize = list_from_env("OPERATOR_SCALE_DRIVERS", "32")[0];
    let tally = Arc::new(Mutex::new(Requests::new()));
    let client = counted_client(tally.clone()).await;
    konditions_testing::install_crd(&client, &PostgresWriter::crd()).await;
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
    };

    let mut runs = Vec::new();
    for &n in &sizes {
        for &concurrency in &concurrencies {
            let run = bench.run(n, concurrency).await;
            println!(
                "N={n} concurrency={concurrency}: all Ready after {:.1?}, all gone {:.1?} after deleting (load {} -> {})",
                run.to_ready, run.to_gone, run.load_before, run.load_after
            );
            runs.push(run);
        }
    }
    report(&runs);
}
