//! Where one worker's time goes: the request shapes of both approaches,
//! one at a time, with the CPU each costs the API server, etcd and the
//! client; and the client's CPU for encoding and decoding.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use konditions_core::{ConditionalResource, KonditionnerStatus, Verdict};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::lock_support::{Relic, counting_client, create_relic};
use crate::percentile;
use crate::server::{CpuUsed, Processes};

/// The request shapes of one lock task, sent one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    /// konditionner's write: the whole status, with the resourceVersion.
    Put,
    /// The lock's write: `test` the entry, `replace` it.
    TestReplace,
    /// The same without the `test`: what the CAS costs on the server.
    Replace,
    /// The same with `fieldValidation=Ignore`: without the server's strict
    /// second decoding of the patched object (done on every attempt).
    TestReplaceIgnore,
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::Put => "PUT status (whole status, resourceVersion)",
            Shape::TestReplace => "PATCH test+replace one condition (the lock)",
            Shape::Replace => "PATCH replace one condition, no test",
            Shape::TestReplaceIgnore => "PATCH test+replace, fieldValidation=Ignore",
        }
    }
}

/// An object like an operator's: `others` conditions besides the locked
/// one (`Locked0`), with a message of a sentence each.
async fn relic_with(api: &Api<Relic>, others: usize) -> Relic {
    let mut relic = create_relic(api).await;
    let types = (0..others).map(|i| format!("Other{i}"));
    for t in types.chain(["Locked0".to_owned()]) {
        relic
            .set_condition(
                &t,
                Verdict::new(KonditionnerStatus::Completed, "Done")
                    .message("round 0: the external resource is in the state the spec asks for"),
            )
            .expect("valid");
    }
    api.replace_status(
        relic.metadata.name.as_deref().expect("named"),
        &PostParams::default(),
        &relic,
    )
    .await
    .expect("status")
}

/// The body of a JSON Patch request as the lock sends it.
fn patch_body(ops: &Value) -> Vec<u8> {
    serde_json::to_vec(ops).expect("serialize")
}

/// The status URL of the relic `name`, with `query`.
fn url(name: &str, query: &str) -> String {
    format!("/apis/lock.konditions.dev/v1/relics/{name}/status{query}")
}

async fn send_patch(client: &Client, name: &str, body: Vec<u8>, query: &str) -> String {
    let request = http::Request::patch(url(name, query))
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .header(http::header::ACCEPT, "application/json")
        .body(body)
        .expect("request");
    client.request_text(request).await.expect("patch")
}

/// What one request shape cost, over all its blocks.
#[derive(Default)]
struct ShapeStats {
    /// Until the response is decoded.
    total: Vec<Duration>,
    /// Until the response headers arrived.
    transport: Vec<Duration>,
    /// CPU milliseconds of the API server, etcd and this client, summed
    /// over the blocks.
    cpu: CpuUsed,
    sent: u64,
    received: u64,
}

pub(crate) async fn run(api: &Api<Relic>, processes: Processes) {
    // A small object, and one with many conditions: what the server does
    // per request grows with the object.
    for others in [3, 31] {
        shapes(api, processes, others).await;
    }
}

async fn shapes(api: &Api<Relic>, processes: Processes, others: usize) {
    // Short blocks, many rounds: the API server's CPU comes in phases (its
    // garbage collector), which every shape must sample alike.
    const BLOCK: usize = 5;
    const ROUNDS: usize = 60;
    const ORDER: [Shape; 4] = [
        Shape::Put,
        Shape::TestReplace,
        Shape::Replace,
        Shape::TestReplaceIgnore,
    ];
    println!(
        "\n## 2. Where one worker's time goes: an object with {} conditions, each request shape sent one at a time, {ROUNDS} rounds of interleaved blocks of {BLOCK} (CPU: mean per request)\n",
        others + 1
    );
    let (counted, requests) = counting_client().await;
    let mut relic = relic_with(api, others).await;
    let name = relic.metadata.name.clone().expect("named");
    let index = relic
        .conditions()
        .and_then(|c| c.iter().position(|c| c.type_ == "Locked0"))
        .expect("present");
    let mut round = 0u64;
    let mut stats: BTreeMap<Shape, ShapeStats> = BTreeMap::new();
    let mut last_response = String::new();
    for r in 0..ROUNDS {
        for shape in ORDER.iter().cycle().skip(r % ORDER.len()).take(ORDER.len()) {
            let logged = requests.exchanges().len();
            let slot = stats.entry(*shape).or_default();
            let cpu_before = processes.now();
            for _ in 0..BLOCK {
                round += 1;
                let entry = serde_json::to_value(
                    relic
                        .conditions()
                        .and_then(|c| c.find("Locked0"))
                        .expect("present"),
                )
                .expect("serialize");
                let mut next = entry.clone();
                next["message"] = Value::String(format!("round {round}"));
                let path = format!("/status/conditions/{index}");
                let started = Instant::now();
                relic = match shape {
                    Shape::Put => {
                        relic
                            .set_condition(
                                "Locked0",
                                Verdict::new(KonditionnerStatus::Completed, "Done")
                                    .message(format!("round {round}")),
                            )
                            .expect("valid");
                        // What kube's `replace_status` sends, as text, so
                        // every shape decodes its response the same way.
                        let request = http::Request::put(url(&name, ""))
                            .header(http::header::CONTENT_TYPE, "application/json")
                            .body(serde_json::to_vec(&relic).expect("serialize"))
                            .expect("request");
                        last_response = counted.request_text(request).await.expect("put");
                        serde_json::from_str(&last_response).expect("decode")
                    }
                    Shape::TestReplace | Shape::Replace | Shape::TestReplaceIgnore => {
                        let ops = if *shape == Shape::Replace {
                            json!([{"op": "replace", "path": path, "value": next}])
                        } else {
                            json!([
                                {"op": "test", "path": path, "value": entry},
                                {"op": "replace", "path": path, "value": next},
                            ])
                        };
                        let query = if *shape == Shape::TestReplaceIgnore {
                            "?fieldValidation=Ignore"
                        } else {
                            ""
                        };
                        last_response = send_patch(&counted, &name, patch_body(&ops), query).await;
                        serde_json::from_str(&last_response).expect("decode")
                    }
                };
                slot.total.push(started.elapsed());
                slot.received += last_response.len() as u64;
            }
            let cpu = CpuUsed::between(cpu_before, processes.now());
            slot.cpu.apiserver += cpu.apiserver;
            slot.cpu.etcd += cpu.etcd;
            slot.cpu.client += cpu.client;
            let exchanges: Vec<_> = requests.exchanges().into_iter().skip(logged).collect();
            slot.transport.extend(exchanges.iter().map(|e| e.elapsed));
            slot.sent += exchanges.iter().map(|e| e.sent).sum::<u64>();
        }
    }
    println!(
        "| request | p50 total ms | p50 at the transport ms | apiserver CPU ms | etcd CPU ms | client CPU ms | bytes sent | bytes received |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (shape, s) in &stats {
        let n = s.total.len() as f64;
        println!(
            "| {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.3} | {:.0} | {:.0} |",
            shape.label(),
            percentile(&s.total, 0.5),
            percentile(&s.transport, 0.5),
            s.cpu.apiserver / n,
            s.cpu.etcd / n,
            s.cpu.client / n,
            s.sent as f64 / n,
            s.received as f64 / n,
        );
    }
    client_cpu(&relic, &last_response, index);
}

/// Client CPU per request, outside the network: encoding the request,
/// decoding the response.
fn client_cpu(relic: &Relic, response: &str, index: usize) {
    const N: u32 = 2000;
    let time = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..N {
            f();
        }
        started.elapsed().as_secs_f64() * 1e6 / f64::from(N)
    };
    let entry = serde_json::to_value(relic.conditions().and_then(|c| c.find("Locked0")))
        .expect("serialize");
    let path = format!("/status/conditions/{index}");
    let mut out = String::new();
    let _ = writeln!(out, "\nClient CPU per request (µs, mean of {N}):\n");
    let _ = writeln!(out, "| step | µs |");
    let _ = writeln!(out, "|---|---:|");
    let put = time(&mut || {
        std::hint::black_box(serde_json::to_vec(relic).expect("serialize"));
    });
    let _ = writeln!(out, "| encode the whole object (PUT body) | {put:.1} |");
    let patch = time(&mut || {
        let ops = json!([
            {"op": "test", "path": path, "value": entry},
            {"op": "replace", "path": path, "value": entry},
        ]);
        std::hint::black_box(patch_body(&ops));
    });
    let _ = writeln!(out, "| encode a test+replace patch | {patch:.1} |");
    let decode = time(&mut || {
        std::hint::black_box(serde_json::from_str::<Relic>(response).expect("decode"));
    });
    let _ = writeln!(
        out,
        "| decode the response as the object ({} bytes) | {decode:.1} |",
        response.len()
    );
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Minimal {
        metadata: MinimalMeta,
        status: MinimalStatus,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    #[serde(rename_all = "camelCase")]
    struct MinimalMeta {
        resource_version: String,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct MinimalStatus {
        conditions: Vec<Value>,
    }
    let minimal = time(&mut || {
        std::hint::black_box(serde_json::from_str::<Minimal>(response).expect("decode"));
    });
    let _ = writeln!(
        out,
        "| decode only resourceVersion and the conditions | {minimal:.1} |"
    );
    print!("{out}");
}
