//! What one status write costs the control plane, by the verb that sends
//! it and by how many conditions the status holds, against the local
//! control plane (`cargo xtask controlplane up`, or inside `cargo xtask
//! test`'s environment):
//!
//! `cargo bench -p konditions-examples --bench status_writes`
//!
//! Why: at scale the API server is what an operator waits for, so what
//! each write costs it decides the pace. The scale benchmark compares
//! whole operators; this one prices the writes themselves, on
//! PostgresWriters (the example's CRD, with its generation guard):
//! - server-side apply, PUT (`replace_status`, the write of a kubebuilder
//!   operator), JSON merge patch and JSON Patch, of the same status;
//! - a status of 3 conditions (the example operator's healthy
//!   PostgresWriter: `TableReady`, `RowWritten`, `Ready`) and of 1 (the Go
//!   peer's: `Ready`);
//! - a PUT that changes nothing, as a kubebuilder reconcile sends when its
//!   own status write triggers it again.
//!
//! Each cell writes the status of `STATUS_WRITES_N` PostgresWriters
//! (default 500; one set per number of conditions, so that an apply,
//! which leaves the entries other writers own, finds no entry it does not
//! send), 16 at a time: once unmeasured (so the objects have that
//! cell's shape), then once measured: the CPU seconds of kube-apiserver and
//! etcd (under /proc) and the wall time, per write. Every cell runs once
//! per round, `STATUS_WRITES_ROUNDS` rounds (default 3) interleaved, the
//! order reversed every other round. Reported: each cell's mean, and its
//! ratio to a PUT of one condition, with the load average. Nothing else
//! should use the control plane meanwhile: its CPU is counted whole.
//!
//! `STATUS_WRITES_NO_GENERATION_GUARD=1` installs the CRD without its
//! generation guard (`konditions_core::crd::remove_generation_guard`), to
//! price that rule; the next install (any test's, or this bench without
//! it) puts it back.
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::{StreamExt, stream};
use konditions_examples::postgres_writer::{PostgresWriter, PostgresWriterSpec};
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

// Shared with the scale benchmark, which uses all of it.
#[allow(dead_code)]
#[path = "common/processes.rs"]
mod processes;
// Shared with the scale benchmark, which also reads lists.
#[allow(dead_code)]
#[path = "common/settings.rs"]
mod settings;
use processes::{clock_ticks, control_plane_cpu_seconds, load_average};
use settings::setting;

const CONCURRENCY: usize = 16;
const MANAGER: &str = "postgres-writer";

/// How a cell writes the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Apply,
    Put,
    MergePatch,
    JsonPatch,
    /// A PUT of the copy as stored: nothing changes.
    UnchangedPut,
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    verb: Verb,
    conditions: usize,
}

impl Cell {
    fn label(self) -> String {
        let verb = match self.verb {
            Verb::Apply => "server-side apply",
            Verb::Put => "PUT",
            Verb::MergePatch => "merge patch",
            Verb::JsonPatch => "JSON Patch",
            Verb::UnchangedPut => "PUT, nothing changed",
        };
        format!("{verb}, {} condition(s)", self.conditions)
    }
}

/// The status a write sends at `round`: `conditions` of the example's
/// healthy PostgresWriter (the last, `Ready`, when there is one), computed
/// for generation `round`, so that every write changes something.
fn status(conditions: usize, round: i64) -> Value {
    let condition = |type_: &str, reason: &str, message: String| {
        json!({
            "type": type_, "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": round,
        })
    };
    let all = [
        condition(
            "TableReady",
            "TableFound",
            "table people has the columns id, name, age, country".into(),
        ),
        condition(
            "RowWritten",
            "RowWritten",
            "row written to table people".into(),
        ),
        condition(
            "Ready",
            "Ready",
            format!(
                "* TableReady: table people has the columns id, name, age, country\n\
                 * RowWritten: row written to table people (round {round})"
            ),
        ),
    ];
    json!({
        "observedGeneration": round,
        "conditions": all[all.len() - conditions..],
    })
}

/// The objects as last stored, for the PUTs (which send a whole object).
type Stored = Arc<Mutex<HashMap<String, PostgresWriter>>>;

async fn write(api: &Api<PostgresWriter>, stored: &Stored, name: &str, cell: Cell, round: i64) {
    let status = status(cell.conditions, round);
    let put = |status: Option<Value>| {
        let mut object = stored.lock().unwrap()[name].clone();
        if let Some(status) = status {
            object.status = Some(serde_json::from_value(status).expect("a status"));
        }
        object
    };
    let written = match cell.verb {
        Verb::Apply => {
            let body = json!({
                "apiVersion": "demo.yash.com/v1", "kind": "PostgresWriter", "status": status,
            });
            let params = PatchParams::apply(MANAGER).force();
            api.patch_status(name, &params, &Patch::Apply(body)).await
        }
        Verb::Put => {
            api.replace_status(name, &PostParams::default(), &put(Some(status)))
                .await
        }
        Verb::UnchangedPut => {
            api.replace_status(name, &PostParams::default(), &put(None))
                .await
        }
        Verb::MergePatch => {
            let patch = Patch::Merge(json!({ "status": status }));
            api.patch_status(name, &PatchParams::default(), &patch)
                .await
        }
        Verb::JsonPatch => {
            let ops = json!([{ "op": "replace", "path": "/status", "value": status }]);
            let patch = Patch::Json::<()>(serde_json::from_value(ops).expect("a JSON Patch"));
            api.patch_status(name, &PatchParams::default(), &patch)
                .await
        }
    };
    let written = written.unwrap_or_else(|e| panic!("{:?} of {name}: {e}", cell.verb));
    stored.lock().unwrap().insert(name.to_owned(), written);
}

/// Writes every object's status once as `cell` says; the control plane's
/// CPU seconds and the wall seconds it took.
async fn pass(
    api: &Api<PostgresWriter>,
    stored: &Stored,
    names: &[String],
    cell: Cell,
    round: i64,
    ticks: f64,
) -> (f64, f64) {
    let (cpu, started) = (control_plane_cpu_seconds(ticks), Instant::now());
    stream::iter(names)
        .for_each_concurrent(CONCURRENCY, |name| write(api, stored, name, cell, round))
        .await;
    (
        control_plane_cpu_seconds(ticks) - cpu,
        started.elapsed().as_secs_f64(),
    )
}

#[tokio::main]
async fn main() {
    let n = setting("STATUS_WRITES_N", 500);
    let rounds = setting("STATUS_WRITES_ROUNDS", 3);
    let ticks = clock_ticks();
    let client = konditions_testing::client().await;
    let mut crd = PostgresWriter::crd();
    let guard = std::env::var_os("STATUS_WRITES_NO_GENERATION_GUARD").is_none();
    if !guard {
        konditions_core::crd::remove_generation_guard(&mut crd);
    }
    konditions_testing::install_crd(&client, &crd).await;
    let namespace = konditions_testing::namespace(&client).await;
    let api: Api<PostgresWriter> = Api::namespaced(client, namespace.name());
    let names = |conditions: usize| -> Vec<String> {
        (0..n).map(|i| format!("writer-{conditions}-{i}")).collect()
    };
    let stored: Stored = Arc::default();
    stream::iter([names(1), names(3)].concat())
        .for_each_concurrent(CONCURRENCY, |name| {
            let (api, stored) = (&api, &stored);
            async move {
                let spec = PostgresWriterSpec {
                    table: "people".into(),
                    name: name.clone(),
                    age: 30,
                    country: "canada".into(),
                };
                let created = api
                    .create(&PostParams::default(), &PostgresWriter::new(&name, spec))
                    .await
                    .expect("create");
                stored.lock().unwrap().insert(name, created);
            }
        })
        .await;

    let mut cells = Vec::new();
    for conditions in [1, 3] {
        for verb in [Verb::Put, Verb::Apply, Verb::MergePatch, Verb::JsonPatch] {
            cells.push(Cell { verb, conditions });
        }
    }
    // After a changing PUT of one condition: a kubebuilder reconcile's
    // second, unchanged write.
    let unchanged = Cell {
        verb: Verb::UnchangedPut,
        conditions: 1,
    };
    let load_before = load_average();
    let mut totals = vec![(0.0, 0.0); cells.len() + 1];
    let mut generation = 0;
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..cells.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            // Unmeasured, then measured: the objects have the cell's shape.
            for measured in [false, true] {
                generation += 1;
                let objects = names(cells[i].conditions);
                let (cpu, wall) = pass(&api, &stored, &objects, cells[i], generation, ticks).await;
                if measured {
                    totals[i].0 += cpu;
                    totals[i].1 += wall;
                }
            }
            if cells[i].verb == Verb::Put && cells[i].conditions == 1 {
                let (cpu, wall) =
                    pass(&api, &stored, &names(1), unchanged, generation, ticks).await;
                totals[cells.len()].0 += cpu;
                totals[cells.len()].1 += wall;
            }
        }
    }
    cells.push(unchanged);
    let writes = (n * rounds) as f64;
    let per_write: Vec<(f64, f64)> = totals
        .iter()
        .map(|(cpu, wall)| (cpu * 1000.0 / writes, wall * 1000.0 / writes))
        .collect();
    let baseline = per_write[0].0;
    println!(
        "\n{n} PostgresWriters, {CONCURRENCY} writes at a time, {rounds} rounds, generation guard {}; load {load_before} -> {}\n",
        if guard { "on" } else { "off" },
        load_average()
    );
    println!(
        "| status write | control plane CPU ms per write | / PUT of 1 condition | wall ms per write |"
    );
    println!("|---|---|---|---|");
    for (cell, (cpu, wall)) in cells.iter().zip(&per_write) {
        println!(
            "| {} | {cpu:.2} | **{:.2}** | {wall:.2} |",
            cell.label(),
            cpu / baseline
        );
    }
}
