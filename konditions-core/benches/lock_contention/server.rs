//! What the control plane spent: CPU time of the API server and etcd
//! processes (and of this client), and the API server's own metrics.

use std::collections::BTreeMap;

use kube::Client;
use serde_json::Value;

// ---------------------------------------------------------------------
// CPU time of the processes involved
// ---------------------------------------------------------------------

/// The processes whose CPU time is measured: the API server and etcd of
/// the control plane (from the `state.json` next to its kubeconfig), and
/// this benchmark (the client).
#[derive(Clone, Copy)]
pub(crate) struct Processes {
    pub(crate) apiserver: Option<u32>,
    pub(crate) etcd: Option<u32>,
}

/// CPU nanoseconds used so far by each of them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Cpu {
    pub(crate) apiserver: Option<u64>,
    pub(crate) etcd: Option<u64>,
    pub(crate) client: Option<u64>,
}

impl Processes {
    pub(crate) fn find() -> Self {
        let state = konditions_testing::kubeconfig_path().with_file_name("state.json");
        let state: Option<Value> = std::fs::read(&state)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let pid = |key: &str| {
            state
                .as_ref()
                .and_then(|s| s[key].as_u64())
                .and_then(|p| u32::try_from(p).ok())
        };
        let found = Self {
            apiserver: pid("apiserver_pid"),
            etcd: pid("etcd_pid"),
        };
        if found.apiserver.is_none() {
            println!("(no state.json next to the kubeconfig: server CPU is not measured)");
        }
        found
    }

    pub(crate) fn now(self) -> Cpu {
        Cpu {
            apiserver: self.apiserver.and_then(|p| cpu_ns(&p.to_string())),
            etcd: self.etcd.and_then(|p| cpu_ns(&p.to_string())),
            client: cpu_ns("self"),
        }
    }
}

/// The CPU time of a process: the sum over its threads of the first field
/// of `schedstat` (nanoseconds on a CPU).
pub(crate) fn cpu_ns(pid: &str) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// CPU milliseconds used between two readings, by process.
#[derive(Clone, Copy, Default)]
pub(crate) struct CpuUsed {
    pub(crate) apiserver: f64,
    pub(crate) etcd: f64,
    pub(crate) client: f64,
}

impl CpuUsed {
    pub(crate) fn between(before: Cpu, after: Cpu) -> Self {
        let ms = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e6,
            _ => f64::NAN,
        };
        Self {
            apiserver: ms(before.apiserver, after.apiserver),
            etcd: ms(before.etcd, after.etcd),
            client: ms(before.client, after.client),
        }
    }
}

// ---------------------------------------------------------------------
// The API server's own time, from its metrics
// ---------------------------------------------------------------------

/// For relics: `apiserver_request_duration_seconds` sums and counts by
/// verb and subresource, and `etcd_requests_total` by operation (under
/// the verb `etcd`: how often the server wrote to etcd, retries included).
pub(crate) type Metrics = BTreeMap<(String, String), (f64, f64)>;

pub(crate) async fn scrape(client: &Client) -> Metrics {
    const DURATION: &str = "apiserver_request_duration_seconds_";
    const ETCD: &str = "etcd_requests_total{";
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("request");
    let text = client.request_text(request).await.expect("scrape /metrics");
    let mut metrics = Metrics::new();
    for line in text.lines() {
        let (kind, rest) = if let Some(rest) = line.strip_prefix(DURATION) {
            match rest.split_once('{') {
                Some(("sum", rest)) => ("sum", rest),
                Some(("count", rest)) => ("count", rest),
                _ => continue,
            }
        } else if let Some(rest) = line.strip_prefix(ETCD) {
            ("etcd", rest)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |key: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix("=\"")?.strip_suffix('"'))
                .unwrap_or_default()
                .to_owned()
        };
        if label("resource") != "relics" {
            continue;
        }
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        let key = match kind {
            "etcd" => ("etcd".to_owned(), label("operation")),
            _ => (label("verb"), label("subresource")),
        };
        let slot = metrics.entry(key).or_default();
        match kind {
            "sum" => slot.0 += value,
            _ => slot.1 += value,
        }
    }
    metrics
}

/// The server's time for what happened between two scrapes.
#[derive(Default)]
pub(crate) struct ServerTime(pub(crate) BTreeMap<(String, String), (f64, f64)>);

impl ServerTime {
    pub(crate) fn between(before: &Metrics, after: &Metrics) -> Self {
        let mut delta = BTreeMap::new();
        for (key, (sum, count)) in after {
            let (s0, c0) = before.get(key).copied().unwrap_or_default();
            if count - c0 > 0.0 {
                delta.insert(key.clone(), (sum - s0, count - c0));
            }
        }
        Self(delta)
    }

    /// etcd writes per status write: 1 without conflicts inside the server,
    /// more when the server retried.
    pub(crate) fn etcd_per_write(&self) -> f64 {
        let writes: f64 = self
            .0
            .iter()
            .filter(|((verb, sub), _)| (verb == "PATCH" || verb == "PUT") && sub == "status")
            .map(|(_, (_, c))| c)
            .sum();
        let etcd = self
            .0
            .get(&("etcd".to_owned(), "update".to_owned()))
            .map_or(0.0, |(_, c)| *c);
        etcd / writes
    }
}
