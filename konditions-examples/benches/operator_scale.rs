//! Scale benchmark of the PostgresWriter operator against the local control
//! plane and PostgreSQL (`cargo xtask controlplane up`, `cargo xtask
//! postgres up`, or inside `cargo xtask test`'s environment):
//!
//! `cargo bench -p konditions-examples --bench operator_scale [-- N]`
//!
//! Creates N (default 1000) resources for the operator binary running as a
//! child process, and reports: time until all are Ready with their rows,
//! time until all rows are gone after deleting them all, the operator's peak
//! RSS (VmHWM), and its API requests per resource (kube-apiserver's
//! `apiserver_request_total` for PostgresWriters and Events, minus the
//! requests this driver makes, which it counts).
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use konditions_core::{ConditionalResource, Status};
use konditions_examples::postgres_writer::{
    PostgresWriter, PostgresWriterCondition, PostgresWriterSpec,
};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Api, Client, CustomResourceExt};

const LIMIT: Duration = Duration::from_secs(900);

/// `apiserver_request_total` of the PostgresWriter and Event resources, by
/// `VERB resource/subresource`.
async fn request_counts(client: &Client) -> BTreeMap<String, f64> {
    let text = client
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .expect("GET /metrics");
    let mut counts = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| {
            line.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("")
        };
        let resource = label("resource");
        if resource != "postgreswriters" && resource != "events" {
            continue;
        }
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let subresource = label("subresource");
        let key = format!(
            "{} {}{}",
            label("verb"),
            resource,
            if subresource.is_empty() {
                String::new()
            } else {
                format!("/{subresource}")
            }
        );
        *counts.entry(key).or_insert(0.0) += value;
    }
    counts
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

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &PostgresWriter::crd()).await;
    let pg = konditions_testing::postgres();
    let namespace = format!("bench-{}", std::process::id());
    Api::<Namespace>::all(client.clone())
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
    let table = format!("bench_{}", std::process::id());
    let config =
        konditions_examples::postgres_writer::PostgresConfig::from_lookup(|k| pg.lookup(k))
            .unwrap();
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
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, country TEXT NOT NULL, fencing_token BIGINT NOT NULL DEFAULT 0)"
    ))
    .await
    .unwrap();
    let rows = || {
        let (db, table) = (&db, &table);
        async move {
            let row = db
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap();
            row.get::<_, i64>(0) as usize
        }
    };

    // `cargo bench` builds the binary with the bench (release) profile.
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_postgres-writer"));
    let mut operator = Command::new(&binary)
        .envs(pg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("KUBECONFIG", konditions_testing::kubeconfig_path())
        .env("WATCH_NAMESPACE", &namespace)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the operator");
    let pid = operator.id();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let api: Api<PostgresWriter> = Api::namespaced(client.clone(), &namespace);
    let before = request_counts(&client).await;
    let mut driver: BTreeMap<&str, f64> = BTreeMap::new();

    let started = Instant::now();
    for i in 0..n {
        let spec = PostgresWriterSpec {
            table: table.clone(),
            name: format!("n{i}"),
            age: i as i32,
            country: "canada".into(),
        };
        api.create(
            &PostParams::default(),
            &PostgresWriter::new(&format!("w{i:05}"), spec),
        )
        .await
        .expect("create");
    }
    *driver.entry("POST postgreswriters").or_default() += n as f64;
    let created = started.elapsed();
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        *driver.entry("LIST postgreswriters").or_default() += 1.0;
        let ready = list
            .items
            .iter()
            .filter(|w| {
                w.conditions()
                    .and_then(|c| c.find(&PostgresWriterCondition::Ready))
                    .is_some_and(|c| c.status == Status::True)
            })
            .count();
        if ready == n && rows().await == n {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "only {ready}/{n} Ready after {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all_ready = started.elapsed();

    let deleting = Instant::now();
    for i in 0..n {
        api.delete(&format!("w{i:05}"), &DeleteParams::default())
            .await
            .expect("delete");
    }
    *driver.entry("DELETE postgreswriters").or_default() += n as f64;
    loop {
        let left = api
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len();
        *driver.entry("LIST postgreswriters").or_default() += 1.0;
        if left == 0 && rows().await == 0 {
            break;
        }
        assert!(
            deleting.elapsed() < LIMIT,
            "{left} resources left after {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all_gone = deleting.elapsed();
    let after = request_counts(&client).await;
    let rss = peak_rss_kib(pid);
    let _ = terminate(pid);
    let _ = operator.wait();

    println!(
        "\nPostgresWriter operator, {n} resources ({})",
        binary.display()
    );
    println!("  create {n} resources:              {created:.1?}");
    println!("  all Ready with rows (from start):  {all_ready:.1?}");
    println!("  all rows gone after deleting all:  {all_gone:.1?}");
    println!(
        "  operator peak RSS (VmHWM):         {} MiB",
        rss.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    println!("  operator API requests per resource (create..delete):");
    let mut total = 0.0;
    for (key, value) in &after {
        let delta = value
            - before.get(key).copied().unwrap_or(0.0)
            - driver.get(key.as_str()).copied().unwrap_or(0.0);
        if delta > 0.0 {
            total += delta;
            println!("    {key:<40} {:>6.2}", delta / n as f64);
        }
    }
    println!("    {:<40} {:>6.2}", "total", total / n as f64);
}

/// SIGTERM: the operator shuts down gracefully.
fn terminate(pid: u32) -> std::io::Result<()> {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}
