//! Fast tests of the reconcile's decisions, with no API server and no
//! database: the API is a tower-test mock answered by a small in-memory
//! stand-in for one object (it applies JSON Patches, including their
//! `test` operations, and merges applied conditions by type), and the rows
//! are an in-memory fake. Each test reads as the requests the reconcile
//! makes. The behaviour against the real API server and PostgreSQL is
//! tested in `tests/`.

use std::sync::Mutex as StdMutex;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;
use crate::postgres_writer::{PostgresWriterSpec, PostgresWriterStatus};

/// The rows, in memory; `table` says what the table check finds.
#[derive(Clone)]
struct FakeRows {
    table: Arc<StdMutex<Option<StoreError>>>,
    writes: Arc<StdMutex<Vec<String>>>,
}

impl FakeRows {
    fn with_table() -> Self {
        Self {
            table: Arc::default(),
            writes: Arc::default(),
        }
    }

    fn without_table() -> Self {
        let rows = Self::with_table();
        *rows.table.lock().unwrap() = Some(StoreError::TableMissing(
            TableName::new("students").unwrap(),
        ));
        rows
    }

    fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }
}

fn copy(error: &StoreError) -> StoreError {
    match error {
        StoreError::TableMissing(t) => StoreError::TableMissing(t.clone()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl Rows for FakeRows {
    async fn check_table(&self, _: &TableName) -> Result<TableShape, StoreError> {
        self.table.lock().unwrap().as_ref().map_or(
            Ok(TableShape {
                fencing_token: false,
            }),
            |e| Err(copy(e)),
        )
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match self.table.lock().unwrap().as_ref() {
            Some(error @ StoreError::Unavailable(_)) => Err(copy(error)),
            _ => Ok(()),
        }
    }

    async fn upsert(
        &self,
        _: &TableName,
        row: &Row,
        token: konditions_core::lock::FencingToken,
    ) -> Result<bool, StoreError> {
        self.writes
            .lock()
            .unwrap()
            .push(format!("upsert {} age {} token {token}", row.id, row.age));
        Ok(true)
    }

    async fn delete(
        &self,
        _: &TableName,
        id: &str,
        token: konditions_core::lock::FencingToken,
    ) -> Result<bool, StoreError> {
        self.writes
            .lock()
            .unwrap()
            .push(format!("delete {id} token {token}"));
        Ok(true)
    }
}

/// One stored PostgresWriter, as the API server would keep it.
struct Stored {
    object: Value,
    resource_version: u64,
}

impl Stored {
    fn new(writer: &PostgresWriter) -> Self {
        let mut object = serde_json::to_value(writer).unwrap();
        object["metadata"]["resourceVersion"] = json!("100");
        Self {
            object,
            resource_version: 100,
        }
    }

    fn bump(&mut self) -> Value {
        self.resource_version += 1;
        self.object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.object.clone()
    }
}

/// What the reconcile asked, for the test to compare.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    /// A JSON Patch of the object (the finalizer).
    PatchObject,
    /// A JSON Patch of the status (the lock), and whether it applied.
    PatchStatus { applied: bool },
    /// A server-side apply of the status, with the condition types sent.
    ApplyStatus(Vec<String>),
    /// An Event, with its reason.
    Event(String),
}

/// Answers the reconcile's requests from `stored` until the client is
/// dropped; returns what was asked.
fn serve(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    stored: Arc<StdMutex<Stored>>,
) -> tokio::task::JoinHandle<Vec<Call>> {
    tokio::spawn(async move {
        let mut calls = Vec::new();
        while let Some((request, reply)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let body = body.collect_bytes().await.unwrap();
            let path = parts.uri.path().to_owned();
            let content_type = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let (status, response) = if path.contains("/events") {
                let event: Value = serde_json::from_slice(&body).unwrap();
                calls.push(Call::Event(event["reason"].as_str().unwrap().to_owned()));
                (StatusCode::CREATED, event)
            } else if parts.method == http::Method::PATCH && content_type.contains("json-patch") {
                let ops: json_patch::Patch = serde_json::from_slice(&body).unwrap();
                let mut stored = stored.lock().unwrap();
                let mut object = stored.object.clone();
                // As the API server does: a missing value tests equal to null.
                let ops: Vec<json_patch::PatchOperation> = ops
                    .0
                    .into_iter()
                    .filter(|op| match op {
                        json_patch::PatchOperation::Test(t) => {
                            !(t.value.is_null() && object.pointer(t.path.as_str()).is_none())
                        }
                        _ => true,
                    })
                    .collect();
                let applied = json_patch::patch(&mut object, &ops).is_ok();
                calls.push(if path.ends_with("/status") {
                    Call::PatchStatus { applied }
                } else {
                    Call::PatchObject
                });
                if applied {
                    stored.object = object;
                    (StatusCode::OK, stored.bump())
                } else {
                    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "Invalid", "code": 422, "message": "the test operation failed"});
                    (StatusCode::UNPROCESSABLE_ENTITY, status)
                }
            } else if parts.method == http::Method::PATCH && content_type.contains("apply-patch") {
                let applied: Value = serde_json::from_slice(&body).unwrap();
                let mut stored = stored.lock().unwrap();
                let mut types = Vec::new();
                let list = stored.object["status"]["conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut merged: Vec<Value> = list;
                for condition in applied["status"]["conditions"].as_array().unwrap() {
                    let type_ = condition["type"].as_str().unwrap().to_owned();
                    merged.retain(|c| c["type"] != type_.as_str());
                    merged.push(condition.clone());
                    types.push(type_);
                }
                stored.object["status"]["conditions"] = Value::Array(merged);
                if let Some(g) = applied["status"].get("observedGeneration") {
                    stored.object["status"]["observedGeneration"] = g.clone();
                }
                calls.push(Call::ApplyStatus(types));
                (StatusCode::OK, stored.bump())
            } else {
                panic!("unexpected request {} {path}", parts.method);
            };
            let response = Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&response).unwrap()))
                .unwrap();
            reply.send_response(response);
        }
        calls
    })
}

/// Fixtures: a PostgresWriter as the API server would return it, and what
/// a test changes about it, named (as controller-rs' fixtures).
impl PostgresWriter {
    /// `sample-student` at generation 1, without the finalizer, not being
    /// deleted. Each fixture has a UID of its own: the lock remembers, per
    /// process, which objects it runs and released, and these tests run
    /// at once in one process (one object for all made a test's run see
    /// another test's lock as busy, and send nothing).
    fn fixture() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut writer = PostgresWriter::new(
            "sample-student",
            PostgresWriterSpec {
                table: "students".into(),
                name: "alex".into(),
                age: 23,
                country: "canada".into(),
            },
        );
        writer.metadata.namespace = Some("default".into());
        let uid = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        writer.metadata.uid = Some(format!("uid-{uid}"));
        writer.metadata.generation = Some(1);
        writer.metadata.resource_version = Some("100".into());
        writer
    }

    /// At `generation` (its spec changed since generation 1).
    fn at_generation(mut self, generation: i64) -> Self {
        self.metadata.generation = Some(generation);
        self
    }

    /// With the operator's finalizer, as after its first reconcile.
    fn finalized(mut self) -> Self {
        self.metadata.finalizers = Some(vec![FINALIZER.into()]);
        self
    }

    /// Being deleted: a deletion timestamp is set.
    fn deleting(mut self) -> Self {
        self.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2030-01-01T00:00:00Z".parse().unwrap(),
            ));
        self
    }
}

/// Runs one reconcile of `writer` against the mock; returns its result,
/// the requests made, and the stored object after it.
async fn reconcile_once(
    writer: PostgresWriter,
    rows: FakeRows,
) -> (Result<Action, Error>, Vec<Call>, Value) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let stored = Arc::new(StdMutex::new(Stored::new(&writer)));
    let server = serve(handle, stored.clone());
    let options = Options {
        holder: "replica-a".into(),
        ..Options::default()
    };
    let ctx = Arc::new(Context::new(client, rows, &options, Metrics::default()));
    let result = reconcile(Arc::new(writer), ctx).await;
    // The last client is gone with the context: the mock's stream ends.
    let calls = server.await.unwrap();
    let object = stored.lock().unwrap().object.clone();
    (result, calls, object)
}

/// What the operator applies when the table is missing: everything but
/// the lock's RowWritten, with Stalled and without Reconciling (kstatus'
/// conditions are present only when True).
fn applied_when_stalled() -> Vec<String> {
    ["TableReady", "Ready", "Stalled"]
        .map(String::from)
        .to_vec()
}

fn condition(object: &Value, type_: &str) -> Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_new_resource_gets_its_finalizer_first_then_its_row_in_the_same_reconcile() {
    let rows = FakeRows::with_table();
    let (result, calls, object) = reconcile_once(PostgresWriter::fixture(), rows.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        calls,
        [
            Call::PatchObject,                   // the finalizer
            Call::PatchStatus { applied: true }, // acquire, on the copy it stored
            Call::PatchStatus { applied: true }, // release with the status
            Call::Event("ReadyTrue".into()),
        ]
    );
    assert_eq!(object["metadata"]["finalizers"], json!([FINALIZER]));
    assert_eq!(rows.writes().len(), 1);
    assert_eq!(condition(&object, "Ready")["status"], "True");
}

#[tokio::test]
async fn a_missing_table_is_reported_without_touching_the_row_or_its_lock() {
    let rows = FakeRows::without_table();
    let (result, calls, object) =
        reconcile_once(PostgresWriter::fixture().finalized(), rows.clone()).await;
    // Not an error: TableReady says it, and the runner looks again on its
    // backoff (or the recovery probe when the table appears).
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(1)));
    assert_eq!(
        calls,
        [
            Call::ApplyStatus(applied_when_stalled()),
            Call::Event("TableReadyFalse".into()),
            Call::Event("ReadyFalse".into()),
        ]
    );
    assert_eq!(condition(&object, "TableReady")["reason"], "TableMissing");
    assert_eq!(
        condition(&object, "RowWritten"),
        Value::Null,
        "no lock taken"
    );
    assert!(rows.writes().is_empty());
}

#[tokio::test]
async fn a_row_not_yet_written_is_written_once_under_the_lock() {
    let rows = FakeRows::with_table();
    let (result, calls, object) =
        reconcile_once(PostgresWriter::fixture().finalized(), rows.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        calls,
        [
            Call::PatchStatus { applied: true }, // acquire
            // The release, carrying TableReady and Ready (Reconciling and
            // Stalled absent: nothing is wrong): no apply of its own.
            Call::PatchStatus { applied: true },
            Call::Event("ReadyTrue".into()),
        ]
    );
    // The token is the acquire's resourceVersion.
    assert_eq!(
        rows.writes(),
        ["upsert default/sample-student age 23 token 101"]
    );
    let row_written = condition(&object, "RowWritten");
    assert_eq!(
        (&row_written["status"], &row_written["observedGeneration"]),
        (&json!("True"), &json!(1))
    );
    assert_eq!(condition(&object, "Ready")["status"], "True");
}

#[tokio::test]
async fn a_row_current_for_its_generation_costs_nothing() {
    let rows = FakeRows::with_table();
    let mut current = PostgresWriter::fixture().at_generation(2).finalized();
    let clock = konditions_core::SystemClock;
    current
        .set_condition_with(
            &clock,
            &PostgresWriterCondition::RowWritten,
            Verdict::new(Status::True, "RowWritten"),
        )
        .unwrap();
    // TableReady as the check writes it.
    current
        .set_condition_with(
            &clock,
            &PostgresWriterCondition::TableReady,
            table_verdict(&Table::Ready(
                TableName::new("students").unwrap(),
                TableShape {
                    fencing_token: false,
                },
            )),
        )
        .unwrap();
    current.update_summary_with(&clock).unwrap();
    let (result, calls, _) = reconcile_once(current, rows.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(calls, [], "no write at all");
    assert!(rows.writes().is_empty());
}

#[tokio::test]
async fn a_deletion_done_by_another_replica_only_removes_the_finalizer() {
    let rows = FakeRows::with_table();
    let mut deleting = PostgresWriter::fixture()
        .at_generation(3)
        .finalized()
        .deleting();
    deleting
        .set_condition(
            &PostgresWriterCondition::RowWritten,
            Verdict::new(Status::False, "RowDeleted"),
        )
        .unwrap();
    let (result, calls, object) = reconcile_once(deleting, rows.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(calls, [Call::PatchObject], "the finalizer removal only");
    assert_eq!(object["metadata"]["finalizers"], json!([]));
    assert!(rows.writes().is_empty(), "the DELETE does not run again");
}

#[test]
fn the_table_verdict_is_unknown_only_while_the_database_is_down() {
    let down = table_verdict(&Table::Unusable(StoreError::Unavailable("refused".into())));
    assert_eq!(
        (down.status, &*down.reason),
        (Status::Unknown, "DatabaseUnavailable")
    );
    let missing = table_verdict(&Table::Unusable(StoreError::TableMissing(
        TableName::new("t").unwrap(),
    )));
    assert_eq!(
        (missing.status, &*missing.reason),
        (Status::False, "TableMissing")
    );
    let invalid = table_verdict(&Table::Invalid(InvalidTableName("Bad".into())));
    assert_eq!(invalid.reason, "InvalidTableName");
    let _ = PostgresWriterStatus::default();
}
