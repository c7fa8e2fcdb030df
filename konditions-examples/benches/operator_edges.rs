//! Measurements at the operator's edges, run by hand against the local
//! control plane and PostgreSQL (`cargo xtask controlplane up`, `cargo
//! xtask postgres up`, then their `env`):
//!
//! - `EDGE=replicas` (default): two replicas in this process reconcile
//!   `EDGE_N` (2,000) new resources; prints the reconcile errors of each
//!   replica, and per resource the `ReadyTrue` Events, the status applies
//!   and the status writes the API server served.
//! - `EDGE=outage`: one replica; PostgreSQL is stopped, `EDGE_N` (1,000)
//!   resources are created, PostgreSQL starts again after
//!   `EDGE_OUTAGE_SECONDS` (30); prints the time from its return to every
//!   resource Ready, and the rows written (INSERTs, by an audit trigger).
//! - `EDGE=apiserver-restart`: one replica; the control plane's
//!   kube-apiserver is stopped (SIGTERM) for `EDGE_DOWN_SECONDS` (20) and
//!   started again with the same command line (its pid rewritten in the
//!   control plane's `state.json`, so `cargo xtask controlplane down` still
//!   stops it); as soon as it answers, `EDGE_N` (100) resources are
//!   created; prints the time from its return to each resource's first
//!   reconcile (its finalizer) and to every resource Ready.
//!
//! `cargo bench -p konditions-examples --bench operator_edges` (or `cargo
//! test` with `--bench operator_edges` for a quicker debug build).
//! `EDGE_TOKEN_COLUMN=1` adds a fencing_token column to the table (what
//! earlier releases required); `EDGE_WAIT_SECONDS` bounds the wait for
//! Ready.
// A report for people: printed, as the other benchmark does.
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use konditions_core::{ConditionalResource, Status};
use konditions_examples::postgres_writer::{
    Health, Metrics, PostgresConfig, PostgresWriter, PostgresWriterCondition, PostgresWriterSpec,
    Store, controller,
};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, CustomResourceExt};

// Shared with the scale benchmark, which also reads lists.
#[allow(dead_code)]
#[path = "common/settings.rs"]
mod settings;
use settings::setting;

#[tokio::main]
async fn main() {
    let mode = std::env::var("EDGE").unwrap_or_else(|_| "replicas".into());
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &PostgresWriter::crd()).await;
    let namespace = konditions_testing::namespace(&client).await;
    let pg = xtask::local_postgres();
    let config = PostgresConfig::from_lookup(|name| pg.lookup(name)).unwrap();
    let table = format!("edge_{}", std::process::id());
    // EDGE_TOKEN_COLUMN=1: with the fencing_token column earlier releases
    // required; without it, the tutorial's table.
    let token = if std::env::var_os("EDGE_TOKEN_COLUMN").is_some() {
        ", fencing_token BIGINT NOT NULL DEFAULT 0"
    } else {
        ""
    };
    let db = connect(&config).await;
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, country TEXT NOT NULL{token});
         CREATE TABLE {table}_audit (op TEXT NOT NULL);
         CREATE FUNCTION {table}_audit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO {table}_audit VALUES (TG_OP); RETURN NULL; END $$;
         CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table}
           FOR EACH ROW EXECUTE FUNCTION {table}_audit();"
    ))
    .await
    .unwrap();
    drop(db);
    let api: Api<PostgresWriter> = Api::namespaced(client.clone(), namespace.name());
    let options = |holder: &str| controller::Options {
        holder: holder.into(),
        namespace: Some(namespace.name().to_owned()),
        ..controller::Options::default()
    };
    let spec = || PostgresWriterSpec {
        table: table.clone(),
        name: "n".into(),
        age: 1,
        country: "c".into(),
    };

    match mode.as_str() {
        "replicas" => {
            let n = setting::<usize>("EDGE_N", 2000);
            let (metrics_a, metrics_b) = (Metrics::default(), Metrics::default());
            let before = requests(&client).await;
            let mut replicas = Vec::new();
            for (holder, metrics) in [("replica-a", &metrics_a), ("replica-b", &metrics_b)] {
                // Each replica has its own client, as two pods would.
                let own = konditions_testing::client().await;
                replicas.push(tokio::spawn(controller::run(
                    own,
                    Store::new(&config, 16).unwrap(),
                    options(holder),
                    metrics.clone(),
                    Health::default(),
                    std::future::pending(),
                )));
            }
            let started = Instant::now();
            create(&api, n, &spec).await;
            wait_all_ready(&api, n).await;
            let ready_after = started.elapsed();
            // Let the last watch events run their reconciles.
            tokio::time::sleep(Duration::from_secs(10)).await;
            let after = requests(&client).await;
            let events = Api::<Event>::namespaced(client.clone(), namespace.name())
                .list(&ListParams::default())
                .await
                .unwrap();
            let mut ready_events: HashMap<String, usize> = HashMap::new();
            for event in &events.items {
                if event.reason.as_deref() == Some("ReadyTrue") {
                    let name = event
                        .regarding
                        .as_ref()
                        .and_then(|r| r.name.clone())
                        .unwrap_or_default();
                    let count = event
                        .series
                        .as_ref()
                        .map_or(1, |s| usize::try_from(s.count).unwrap_or(1));
                    *ready_events.entry(name).or_default() += count;
                }
            }
            let twice = ready_events.values().filter(|c| **c > 1).count();
            let total: usize = ready_events.values().sum();
            let diff =
                |key: (&str, &str, &str, &str)| delta(&before, &after, key) as f64 / n as f64;
            println!("two replicas, {n} resources, all Ready after {ready_after:.1?}");
            println!(
                "reconcile errors: replica-a {} of {}, replica-b {} of {}",
                metrics_a.reconciles("error"),
                metrics_a.reconciles("ok") + metrics_a.reconciles("error"),
                metrics_b.reconciles("error"),
                metrics_b.reconciles("ok") + metrics_b.reconciles("error"),
            );
            println!(
                "ReadyTrue Events: {total} for {} resources; resources with more than one: {twice}",
                ready_events.len()
            );
            println!(
                "per resource: APPLY status {:.3}, PATCH status {:.3}, PATCH object {:.3}, POST events {:.3}, PATCH events {:.3}",
                diff(("demo.yash.com", "postgreswriters", "status", "APPLY")),
                diff(("demo.yash.com", "postgreswriters", "status", "PATCH")),
                diff(("demo.yash.com", "postgreswriters", "", "PATCH")),
                diff(("events.k8s.io", "events", "", "POST")),
                diff(("events.k8s.io", "events", "", "PATCH")),
            );
            for replica in replicas {
                replica.abort();
            }
        }
        "outage" => {
            let n = setting::<usize>("EDGE_N", 1000);
            let outage_for = Duration::from_secs(setting("EDGE_OUTAGE_SECONDS", 30));
            let _replica = spawn_replica(&client, &config, options("replica-a"));
            let outage = pg.outage();
            let down = Instant::now();
            create(&api, n, &spec).await;
            println!(
                "{n} resources created {:.1?} into the outage",
                down.elapsed()
            );
            tokio::time::sleep(outage_for.saturating_sub(down.elapsed())).await;
            outage.end();
            let back = Instant::now();
            println!("database back after {:.1?} down", down.elapsed());
            wait_all_ready(&api, n).await;
            println!(
                "all {n} Ready {:.1?} after the database came back",
                back.elapsed()
            );
            let db = connect(&config).await;
            let inserts: i64 = db
                .query_one(
                    &format!("SELECT count(*) FROM {table}_audit WHERE op = 'INSERT'"),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            println!("rows INSERTed: {inserts} (during the outage: none can be)");
        }
        "apiserver-restart" => {
            let n = setting::<usize>("EDGE_N", 100);
            let down_for = Duration::from_secs(setting("EDGE_DOWN_SECONDS", 20));
            let _replica = spawn_replica(&client, &config, options("replica-a"));
            // The replica runs and watches before the restart.
            api.create(
                &PostParams::default(),
                &PostgresWriter::new("edge-before", spec()),
            )
            .await
            .unwrap();
            wait_all_ready(&api, 1).await;
            restart_apiserver(down_for).await;
            let back = Instant::now();
            while client.apiserver_version().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            println!(
                "API server answering {:.1?} after its start",
                back.elapsed()
            );
            let up = Instant::now();
            create(&api, n, &spec).await;
            println!("{n} resources created in {:.1?}", up.elapsed());
            let firsts = wait_first_reconciles(&api, n, up).await;
            println!(
                "first reconcile after the API server answered: fastest {:.1?}, median {:.1?}, slowest {:.1?}",
                firsts[0],
                firsts[firsts.len() / 2],
                firsts[firsts.len() - 1]
            );
            wait_all_ready(&api, n + 1).await;
            println!(
                "all {n} Ready {:.1?} after the API server answered",
                up.elapsed()
            );
        }
        other => panic!("EDGE={other}: use replicas, outage or apiserver-restart"),
    }
}

/// Stops the control plane's kube-apiserver, waits `down_for`, starts it
/// again with the same command line and environment (logs appended to its
/// log), and records its new pid in the control plane's `state.json`.
async fn restart_apiserver(down_for: Duration) {
    let kubeconfig = std::env::var("KONDITIONS_KUBECONFIG").expect("KONDITIONS_KUBECONFIG");
    let dir = std::path::Path::new(&kubeconfig)
        .parent()
        .unwrap()
        .to_owned();
    let state_path = dir.join("state.json");
    let mut state: konditions_testing::State =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let pid = state.apiserver_pid;
    let argv: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("API server stopped in {:.1?}", stopped.elapsed());
    tokio::time::sleep(down_for).await;
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("logs/kube-apiserver.log"))
        .unwrap();
    // Detached on purpose: it outlives this process, and `controlplane
    // down` stops it through state.json.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new("setsid")
        .args(&argv)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    state.apiserver_pid = child.id();
    std::fs::write(&state_path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    println!("API server started again after {down_for:?} down");
}

/// Waits until each of the `n` `edge-<i>` resources was reconciled once
/// (it carries the operator's finalizer); the delays from `since`, sorted.
async fn wait_first_reconciles(
    api: &Api<PostgresWriter>,
    n: usize,
    since: Instant,
) -> Vec<Duration> {
    let mut first: HashMap<String, Duration> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(setting("EDGE_WAIT_SECONDS", 1800));
    while first.len() < n && Instant::now() < deadline {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        let at = since.elapsed();
        for w in list {
            let name = w.metadata.name.clone().unwrap_or_default();
            let reconciled = w
                .metadata
                .finalizers
                .as_ref()
                .is_some_and(|f| f.iter().any(|f| f == controller::FINALIZER));
            if name.starts_with("edge-") && name != "edge-before" && reconciled {
                first.entry(name).or_insert(at);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut delays: Vec<Duration> = first.into_values().collect();
    delays.sort();
    assert!(!delays.is_empty(), "no resource was reconciled");
    delays
}

/// One replica of the operator, running until the process ends.
fn spawn_replica(
    client: &Client,
    config: &PostgresConfig,
    options: controller::Options,
) -> tokio::task::JoinHandle<controller::Stopped> {
    tokio::spawn(controller::run(
        client.clone(),
        Store::new(config, 16).unwrap(),
        options,
        Metrics::default(),
        Health::default(),
        std::future::pending(),
    ))
}

async fn connect(config: &PostgresConfig) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::Config::new()
        .host(&config.host)
        .port(config.port)
        .dbname(&config.dbname)
        .user(&config.user)
        .password(&config.password)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Creates `n` resources with 32 concurrent creators.
async fn create(api: &Api<PostgresWriter>, n: usize, spec: &impl Fn() -> PostgresWriterSpec) {
    let next = AtomicUsize::new(0);
    futures::stream::iter(0..32)
        .for_each_concurrent(None, |_| async {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                api.create(
                    &PostParams::default(),
                    &PostgresWriter::new(&format!("edge-{i}"), spec()),
                )
                .await
                .unwrap();
            }
        })
        .await;
}

/// Waits until `n` resources are Ready, at most `EDGE_WAIT_SECONDS`
/// (1,800); then says how many were.
async fn wait_all_ready(api: &Api<PostgresWriter>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(setting("EDGE_WAIT_SECONDS", 1800));
    loop {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        let ready = list
            .iter()
            .filter(|w| {
                w.conditions()
                    .and_then(|c| c.find(&PostgresWriterCondition::Ready))
                    .is_some_and(|c| {
                        c.status == Status::True && c.observed_generation == w.metadata.generation
                    })
            })
            .count();
        if ready >= n {
            return;
        }
        if Instant::now() > deadline {
            println!("gave up waiting: only {ready} of {n} Ready");
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

type Counts = HashMap<(String, String, String, String), u64>;

/// `apiserver_request_total` by (group, resource, subresource, verb).
async fn requests(client: &Client) -> Counts {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    let mut counts = Counts::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_owned()
        };
        *counts
            .entry((
                label("group"),
                label("resource"),
                label("subresource"),
                label("verb"),
            ))
            .or_insert(0) += value.parse::<f64>().unwrap_or(0.0) as u64;
    }
    counts
}

fn delta(before: &Counts, after: &Counts, (g, r, s, v): (&str, &str, &str, &str)) -> u64 {
    let key = (g.to_owned(), r.to_owned(), s.to_owned(), v.to_owned());
    after.get(&key).copied().unwrap_or(0) - before.get(&key).copied().unwrap_or(0)
}
