//! What the operator tests share: a namespace on the real API server with
//! the CRD installed, a table of their own in the real PostgreSQL with an
//! audit trigger that counts every row written, and operators to run.
#![allow(dead_code, unreachable_pub)] // each test binary uses part of it

pub mod health;
pub mod process;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use konditions_core::{ConditionalResource, Status};
use konditions_examples::postgres_writer::{
    Health, Metrics, PostgresConfig, PostgresWriter, PostgresWriterCondition, PostgresWriterSpec,
    Store, TableName, controller,
};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use tokio::sync::oneshot;
use tokio_postgres::NoTls;

/// Generous: a guard against hangs, not a performance assertion.
pub const WAIT: Duration = Duration::from_secs(120);

pub struct Harness {
    pub client: Client,
    pub namespace: String,
    pub api: Api<PostgresWriter>,
    pub config: PostgresConfig,
    pub table: TableName,
}

pub fn postgres_config() -> PostgresConfig {
    let pg = xtask::local_postgres();
    PostgresConfig::from_lookup(|name| pg.lookup(name)).expect("the instance's PSQL_* variables")
}

pub async fn connect(config: &PostgresConfig) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::Config::new()
        .host(&config.host)
        .port(config.port)
        .dbname(&config.dbname)
        .user(&config.user)
        .password(&config.password)
        .connect(NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}

fn unique_table() -> TableName {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    TableName::new(&format!(
        "op_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
    .unwrap()
}

impl Harness {
    /// A fresh namespace and a fresh table with an audit trigger.
    pub async fn with_table() -> Self {
        let harness = Self::without_table().await;
        harness.create_table().await;
        harness
    }

    /// A fresh namespace and the name of a table that does not exist yet:
    /// the test creates it later (`create_table`, `create_tutorial_table`),
    /// or sees what the operator does without it.
    pub async fn without_table() -> Self {
        let client = konditions_testing::client().await;
        konditions_testing::install_crd(&client, &PostgresWriter::crd()).await;
        let ns = konditions_testing::namespace(&client).await;
        let config = postgres_config();
        let table = unique_table();
        Self {
            api: Api::namespaced(client.clone(), ns.name()),
            namespace: ns.name().to_owned(),
            client,
            config,
            table,
        }
    }

    /// The table, and an audit table filled by a trigger: one row per
    /// INSERT, UPDATE or DELETE the operator makes.
    pub async fn create_table(&self) {
        self.create_table_with(", fencing_token BIGINT NOT NULL DEFAULT 0")
            .await;
    }

    /// The kubebuilder tutorial's table as it is, `(id, name, age,
    /// country)`, with the same audit trigger.
    pub async fn create_tutorial_table(&self) {
        self.create_table_with("").await;
    }

    async fn create_table_with(&self, extra_columns: &str) {
        let t = self.table.as_str();
        self.db()
            .await
            .batch_execute(&format!(
                "CREATE TABLE {t} (id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, country TEXT NOT NULL{extra_columns});
                 CREATE TABLE {t}_audit (op TEXT NOT NULL, id TEXT NOT NULL);
                 CREATE FUNCTION {t}_audit() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                   INSERT INTO {t}_audit VALUES (TG_OP, COALESCE(NEW.id, OLD.id));
                   RETURN NULL;
                 END $$;
                 CREATE TRIGGER {t}_audit AFTER INSERT OR UPDATE OR DELETE ON {t}
                   FOR EACH ROW EXECUTE FUNCTION {t}_audit();"
            ))
            .await
            .expect("create the table");
    }

    /// Makes every INSERT take `seconds`: a window to kill an operator
    /// mid-write.
    pub async fn slow_inserts(&self, seconds: u32) {
        let t = self.table.as_str();
        self.db()
            .await
            .batch_execute(&format!(
                "CREATE FUNCTION {t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN PERFORM pg_sleep({seconds}); RETURN NEW; END $$;
                 CREATE TRIGGER {t}_slow BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_slow();"
            ))
            .await
            .expect("slow trigger");
    }

    /// A new connection per use: the outage test restarts the server.
    async fn db(&self) -> tokio_postgres::Client {
        connect(&self.config).await
    }

    pub fn spec(&self, name: &str, age: i32) -> PostgresWriterSpec {
        PostgresWriterSpec {
            table: self.table.as_str().to_owned(),
            name: name.to_owned(),
            age,
            country: "canada".to_owned(),
        }
    }

    pub async fn create(&self, name: &str, spec: PostgresWriterSpec) -> PostgresWriter {
        self.api
            .create(&PostParams::default(), &PostgresWriter::new(name, spec))
            .await
            .expect("create PostgresWriter")
    }

    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "spec": spec })),
            )
            .await
            .expect("patch spec");
    }

    pub async fn delete(&self, name: &str) {
        self.api
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }

    /// Polls `name` until `done` holds; panics with the last state after
    /// [`WAIT`].
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&PostgresWriter) -> bool,
    ) -> PostgresWriter {
        let deadline = Instant::now() + WAIT;
        loop {
            let current = self.api.get_opt(name).await.expect("get");
            if let Some(writer) = current.as_ref().filter(|w| done(w)) {
                return writer.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{name}: not {what} after {WAIT:?}; last state: {:#?}",
                current.map(|w| (w.metadata.generation, w.metadata.finalizers, w.status))
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_gone(&self, name: &str) {
        let deadline = Instant::now() + WAIT;
        while self.api.get_opt(name).await.expect("get").is_some() {
            assert!(
                Instant::now() < deadline,
                "{name} still exists after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn rows(&self) -> Vec<(String, String, i32, String)> {
        self.db()
            .await
            .query(
                &format!(
                    "SELECT id, name, age, country FROM {} ORDER BY id",
                    self.table.quoted()
                ),
                &[],
            )
            .await
            .expect("select rows")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    }

    /// How many times the operator did `op` (INSERT, UPDATE, DELETE).
    pub async fn audit(&self, op: &str) -> i64 {
        self.db()
            .await
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}_audit WHERE op = $1",
                    self.table.as_str()
                ),
                &[&op],
            )
            .await
            .expect("count audit")
            .get(0)
    }

    pub fn row_id(&self, name: &str) -> String {
        format!("{}/{name}", self.namespace)
    }

    /// An operator on this namespace, in this process, until the handle
    /// is dropped or stopped.
    pub fn start_operator(&self, holder: &str) -> Operator {
        self.start_operator_with(self.client.clone(), holder)
    }

    pub fn start_operator_with(&self, client: Client, holder: &str) -> Operator {
        self.start_operator_metered(client, holder, Metrics::default())
    }

    /// An operator whose metrics the test reads.
    pub fn start_operator_metered(
        &self,
        client: Client,
        holder: &str,
        metrics: Metrics,
    ) -> Operator {
        self.start_operator_configured(client, holder, metrics, |_| {})
    }

    /// An operator with the test's options on top of the harness'.
    pub fn start_operator_configured(
        &self,
        client: Client,
        holder: &str,
        metrics: Metrics,
        configure: impl FnOnce(&mut controller::Options),
    ) -> Operator {
        let store = Store::new(&self.config, 8).expect("pool");
        let mut options = controller::Options {
            holder: holder.to_owned(),
            lease: Duration::from_secs(10),
            concurrency: 16,
            namespace: Some(self.namespace.clone()),
            ..controller::Options::default()
        };
        configure(&mut options);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(controller::run(
            client,
            store,
            options,
            metrics,
            Health::default(),
            async {
                let _ = stopped.await;
            },
        ));
        Operator {
            stop: Some(stop),
            task: Some(task),
        }
    }
}

pub struct Operator {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<controller::Stopped>>,
}

impl Operator {
    /// Graceful shutdown: reconciles in flight finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("operator stops")
                .expect("operator task");
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub fn condition(
    writer: &PostgresWriter,
    type_: PostgresWriterCondition,
) -> Option<(Status, String, String, Option<i64>)> {
    writer.conditions().and_then(|c| c.find(&type_)).map(|c| {
        (
            c.status,
            c.reason.clone(),
            c.message.clone(),
            c.observed_generation,
        )
    })
}

/// Ready=True for the object's current generation.
pub fn ready(writer: &PostgresWriter) -> bool {
    condition(writer, PostgresWriterCondition::Ready).is_some_and(|(status, _, _, generation)| {
        status == Status::True && generation == writer.metadata.generation
    })
}

/// PostgresWriters, for [`ServerRequests::since`].
pub const WRITERS: (&str, &str, &str) = ("demo.yash.com", "postgreswriters", "");
/// Their status subresource.
pub const STATUS: (&str, &str, &str) = ("demo.yash.com", "postgreswriters", "status");
/// Events (kube-runtime records `events.k8s.io/v1`).
pub const EVENTS: (&str, &str, &str) = ("events.k8s.io", "events", "");

/// Requests the API server has served, from its `/metrics`
/// (`apiserver_request_total`), summed over response codes.
#[derive(Clone, Debug, Default)]
pub struct ServerRequests(std::collections::HashMap<(String, String, String, String), u64>);

impl ServerRequests {
    /// A snapshot of the counters.
    pub async fn read(client: &Client) -> Self {
        let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
        let text = client.request_text(request).await.expect("GET /metrics");
        let mut counts = std::collections::HashMap::new();
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
            let key = (
                label("group"),
                label("resource"),
                label("subresource"),
                label("verb"),
            );
            *counts.entry(key).or_insert(0) += value.parse::<f64>().unwrap_or(0.0) as u64;
        }
        Self(counts)
    }

    /// How many `verb` requests on `group`'s `resource`/`subresource`
    /// happened since `earlier`, whatever their response code.
    pub fn since(
        &self,
        earlier: &Self,
        (group, resource, subresource): (&str, &str, &str),
        verb: &str,
    ) -> u64 {
        let key = (
            group.to_owned(),
            resource.to_owned(),
            subresource.to_owned(),
            verb.to_owned(),
        );
        let now = self.0.get(&key).copied().unwrap_or(0);
        now - earlier.0.get(&key).copied().unwrap_or(0)
    }

    /// Writes to PostgresWriters' status (lock patches and applies) since `earlier`.
    pub fn status_writes_since(&self, earlier: &Self) -> u64 {
        ["PATCH", "APPLY", "UPDATE"]
            .iter()
            .map(|verb| self.since(earlier, STATUS, verb))
            .sum()
    }

    /// Events written (created or patched) since `earlier`.
    pub fn event_writes_since(&self, earlier: &Self) -> u64 {
        ["POST", "PATCH", "APPLY"]
            .iter()
            .map(|verb| self.since(earlier, EVENTS, verb))
            .sum()
    }
}

impl Harness {
    /// Also record every INSERT, UPDATE and DELETE *statement* on the
    /// table, even one that changes no row (a refused, fenced write).
    pub async fn audit_statements(&self) {
        let t = self.table.as_str();
        self.db()
            .await
            .batch_execute(&format!(
                "CREATE TABLE {t}_statements (op TEXT NOT NULL);
                 CREATE FUNCTION {t}_statement() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                   INSERT INTO {t}_statements VALUES (TG_OP);
                   RETURN NULL;
                 END $$;
                 CREATE TRIGGER {t}_statement AFTER INSERT OR UPDATE OR DELETE ON {t}
                   FOR EACH STATEMENT EXECUTE FUNCTION {t}_statement();"
            ))
            .await
            .expect("statement audit");
    }

    /// How many `op` statements ran on the table (see [`Self::audit_statements`]).
    pub async fn statements(&self, op: &str) -> i64 {
        self.db()
            .await
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}_statements WHERE op = $1",
                    self.table.as_str()
                ),
                &[&op],
            )
            .await
            .expect("count statements")
            .get(0)
    }

    /// The fencing tokens recorded in the table's rows.
    pub async fn tokens(&self) -> Vec<i64> {
        self.db()
            .await
            .query(
                &format!(
                    "SELECT fencing_token FROM {} ORDER BY id",
                    self.table.quoted()
                ),
                &[],
            )
            .await
            .expect("select tokens")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}
