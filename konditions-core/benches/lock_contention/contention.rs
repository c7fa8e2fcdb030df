//! Part 1: K workers contending for one object, with konditions' lock and
//! with konditionner's `Execute`, and what each left behind.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use konditions_core::lock::Untyped;
use konditions_core::{ConditionalResource, KonditionnerStatus, Lock, Outcome, Verdict};
use kube::api::PostParams;
use kube::{Api, Client};
use serde::{Deserialize, Serialize};

use crate::Options;
use crate::lock_support::{Relic, counting_client, create_relic};
use crate::server::{CpuUsed, Processes, ServerTime, cpu_ns, scrape};
use crate::{percentile, range};

/// The first argument of a worker process.
pub(crate) const WORKER_FLAG: &str = "--worker";

/// Long enough that no renewal happens in the contention cells.
const LEASE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Approach {
    Lock,
    Konditionner,
}

impl Approach {
    /// As `--approaches` spells it.
    fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    fn label(self) -> &'static str {
        match self {
            Approach::Lock => "konditions Lock",
            Approach::Konditionner => "konditionner Execute",
        }
    }
}

/// Which conditions the workers lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    /// All workers lock the same condition.
    Shared,
    /// Each worker locks its own condition of the one object.
    Own,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::Shared => "one shared",
            Target::Own => "one each",
        }
    }

    fn condition(self, worker: usize) -> String {
        match self {
            Target::Shared => "Shared".to_owned(),
            Target::Own => format!("Own{worker}"),
        }
    }
}

/// Where the workers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Placement {
    /// Tasks of this process (one operator process with concurrent tasks).
    Threads,
    /// One process each (replicas).
    Processes,
}

impl Placement {
    fn label(self) -> &'static str {
        match self {
            Placement::Threads => "1 process",
            Placement::Processes => "K processes",
        }
    }
}

/// What one worker is to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Assignment {
    approach: Approach,
    object: String,
    condition: String,
    index: usize,
    /// When to start, in milliseconds since the Unix epoch (a clock all
    /// processes share).
    start_ms: u64,
    seconds: f64,
    task_ms: u64,
}

/// One task as its worker saw it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TaskRecord {
    condition: String,
    /// The round the task started from.
    round: u64,
    /// Nanoseconds since the Unix epoch.
    start: u64,
    end: u64,
}

/// What one worker reports.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Report {
    tasks: Vec<TaskRecord>,
    /// From deciding to run a task until it starts (busy waits and
    /// refused attempts included), ms.
    acquire: Vec<f64>,
    /// From the task's end until the release returned, ms.
    release: Vec<f64>,
    /// Releases the server refused (konditionner returns them).
    refused_releases: usize,
    requests: usize,
    /// 409 and 422 responses.
    refused: usize,
    /// Time to the response headers of each write, ms.
    writes: Vec<f64>,
    /// This worker process's CPU while it ran, ms.
    cpu_ms: f64,
    /// When it stopped, nanoseconds since the Unix epoch.
    ended: u64,
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The round a released condition names (`round N`); 0 for none.
fn round_of(message: Option<&str>) -> u64 {
    message
        .and_then(|m| m.strip_prefix("round "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The release of a task that started from `round`: names the next round.
pub(crate) fn release_verdict(round: u64) -> Verdict<'static, KonditionnerStatus> {
    Verdict::new(KonditionnerStatus::Completed, "Done").message(format!("round {}", round + 1))
}

/// Requeue after a busy condition: 5 ms doubling to 160 ms, like a
/// controller's rate limiter (the same for both approaches).
struct Requeue(Duration);

impl Requeue {
    const FIRST: Duration = Duration::from_millis(5);

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_millis(160));
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

/// A task: runs `duration` and records itself.
async fn task(a: &Assignment, round: u64) -> TaskRecord {
    let start = unix_nanos();
    tokio::time::sleep(Duration::from_millis(a.task_ms)).await;
    TaskRecord {
        condition: a.condition.clone(),
        round,
        start,
        end: unix_nanos(),
    }
}

/// Runs one worker: its own client, its own copy, until the deadline.
async fn worker(a: Assignment) -> Report {
    let (client, requests) = counting_client().await;
    let api: Api<Relic> = Api::all(client);
    let copy = api.get(&a.object).await.expect("get");
    let wait = Duration::from_millis(a.start_ms).saturating_sub(Duration::from_nanos(unix_nanos()));
    tokio::time::sleep(wait).await;
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds);
    let before = requests.exchanges().len();
    let cpu = cpu_ns("self");
    let mut report = match a.approach {
        Approach::Lock => lock_worker(&api, copy, &a, deadline).await,
        Approach::Konditionner => konditionner_worker(&api, copy, &a, deadline).await,
    };
    report.ended = unix_nanos();
    report.cpu_ms = match (cpu, cpu_ns("self")) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e6,
        _ => f64::NAN,
    };
    let exchanges: Vec<_> = requests.exchanges().into_iter().skip(before).collect();
    report.requests = exchanges.len();
    report.refused = exchanges.iter().filter(|e| e.is_refused()).count();
    report.writes = exchanges
        .iter()
        .filter(|e| e.method != http::Method::GET)
        .map(|e| ms(e.elapsed))
        .collect();
    report
}

/// The worker process: its assignment as JSON in the argument, its report
/// as JSON on stdout.
pub(crate) async fn worker_process(args: &[String]) {
    let assignment: Assignment =
        serde_json::from_str(args.first().expect("an assignment")).expect("assignment");
    let report = worker(assignment).await;
    println!("{}", serde_json::to_string(&report).expect("report"));
}

/// Runs tasks under [`Lock`] until the deadline; refreshes its copy when
/// the outcome says it is stale or busy.
async fn lock_worker(
    api: &Api<Relic>,
    mut copy: Relic,
    a: &Assignment,
    deadline: Instant,
) -> Report {
    let mut report = Report::default();
    let mut wanted = Instant::now();
    let mut requeue = Requeue(Requeue::FIRST);
    while Instant::now() < deadline {
        let mut started = None;
        let record = std::sync::Mutex::new(None);
        let outcome = Lock::new(api.clone(), &copy, Untyped::new(a.condition.clone()))
            .holder(format!("bench-{}-{}", std::process::id(), a.index))
            .lease(LEASE)
            .rerun()
            .run(|ctx| {
                started = Some(Instant::now());
                let round = round_of(ctx.previous().map(|c| c.message.as_str()));
                let record = &record;
                async move {
                    *record.lock().expect("not poisoned") = Some(task(a, round).await);
                    Ok::<_, Infallible>(release_verdict(round))
                }
            })
            .await
            .expect("lock");
        let returned = unix_nanos();
        match outcome {
            Outcome::Ran { object, error, .. } => {
                assert!(error.is_none(), "the task does not fail");
                report.acquire.push(ms(started.expect("ran") - wanted));
                let record = record.into_inner().expect("not poisoned").expect("ran");
                report
                    .release
                    .push(returned.saturating_sub(record.end) as f64 / 1e6);
                report.tasks.push(record);
                copy = *object;
                wanted = Instant::now();
                requeue.reset();
            }
            Outcome::Stale => copy = api.get(&a.object).await.expect("get"),
            Outcome::Busy(_) => {
                requeue.wait().await;
                copy = api.get(&a.object).await.expect("get");
            }
            other => panic!("no lease ends, nothing fails or is deleted here: {other:?}"),
        }
    }
    report
}

/// konditionner's `Execute`, step for step: busy when the status is
/// `Locked`; whole-status writes guarded by the cached resourceVersion; a
/// refused release is returned and leaves the condition `Locked`.
async fn konditionner_worker(
    api: &Api<Relic>,
    mut copy: Relic,
    a: &Assignment,
    deadline: Instant,
) -> Report {
    let mut report = Report::default();
    let mut wanted = Instant::now();
    let mut requeue = Requeue(Requeue::FIRST);
    let params = PostParams::default();
    while Instant::now() < deadline {
        let current = copy.conditions().and_then(|c| c.find(&a.condition));
        if current.is_some_and(|c| c.status == KonditionnerStatus::Locked) {
            // `Execute` refuses to run; the reconciler requeues.
            requeue.wait().await;
            copy = api.get(&a.object).await.expect("get");
            continue;
        }
        let round = round_of(current.map(|c| c.message.as_str()));
        let mut locked = copy.clone();
        locked
            .set_condition(
                &a.condition,
                Verdict::new(KonditionnerStatus::Locked, "Locked"),
            )
            .expect("valid");
        match api.replace_status(&a.object, &params, &locked).await {
            Ok(mut object) => {
                report.acquire.push(ms(wanted.elapsed()));
                report.tasks.push(task(a, round).await);
                let ended = Instant::now();
                object
                    .set_condition(&a.condition, release_verdict(round))
                    .expect("valid");
                match api.replace_status(&a.object, &params, &object).await {
                    Ok(stored) => {
                        report.release.push(ms(ended.elapsed()));
                        copy = stored;
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        // Returned to the reconciler, which requeues with a
                        // fresh copy: the condition stays Locked.
                        report.refused_releases += 1;
                        copy = api.get(&a.object).await.expect("get");
                    }
                    Err(e) => panic!("release: {e}"),
                }
                wanted = Instant::now();
                requeue.reset();
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                copy = api.get(&a.object).await.expect("get");
            }
            Err(e) => panic!("acquire: {e}"),
        }
    }
    report
}

/// Runs a worker in a process of its own.
async fn spawn_process(assignment: &Assignment) -> Report {
    let exe = std::env::current_exe().expect("this benchmark's path");
    let output = tokio::process::Command::new(exe)
        .arg(WORKER_FLAG)
        .arg(serde_json::to_string(assignment).expect("assignment"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("spawn a worker process");
    assert!(
        output.status.success(),
        "worker process failed: {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().expect("a report")).expect("report")
}

/// The most tasks running at once on one condition.
fn most_at_once(tasks: &[TaskRecord]) -> usize {
    let mut by_condition: HashMap<&str, Vec<(u64, i32)>> = HashMap::new();
    for t in tasks {
        let events = by_condition.entry(&t.condition).or_default();
        events.push((t.start, 1));
        events.push((t.end, -1));
    }
    let mut most = 0;
    for events in by_condition.values_mut() {
        // At the same instant, an end comes before a start.
        events.sort();
        let mut running = 0i32;
        for (_, step) in events.iter() {
            running += step;
            most = most.max(running as usize);
        }
    }
    most
}

/// Tasks that started from a round another task had already started from.
fn duplicates(tasks: &[TaskRecord]) -> usize {
    let mut seen = HashSet::new();
    tasks
        .iter()
        .filter(|t| !seen.insert((t.condition.as_str(), t.round)))
        .count()
}

/// One run of one cell.
struct CellRun {
    tasks: usize,
    seconds: f64,
    acquire: Vec<Duration>,
    release: Vec<Duration>,
    requests: usize,
    refused: usize,
    refused_releases: usize,
    left_locked: usize,
    conditions: usize,
    duplicates: usize,
    most_at_once: usize,
    writes: Vec<Duration>,
    server: ServerTime,
    cpu: CpuUsed,
}

impl CellRun {
    fn tasks_per_second(&self) -> f64 {
        self.tasks as f64 / self.seconds
    }

    fn per_task(&self, n: f64) -> f64 {
        n / self.tasks.max(1) as f64
    }
}

/// A cell: who locks what, how many, where they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cell {
    target: Target,
    workers: usize,
    placement: Placement,
}

async fn run_cell(
    client: &Client,
    api: &Api<Relic>,
    processes: Processes,
    approach: Approach,
    cell: Cell,
    options: &Options,
) -> CellRun {
    let object = create_relic(api).await.metadata.name.expect("named");
    let allowance = match cell.placement {
        Placement::Threads => Duration::from_millis(300),
        Placement::Processes => Duration::from_secs(2),
    };
    let start_ms = (Duration::from_nanos(unix_nanos()) + allowance).as_millis() as u64;
    let assignments: Vec<Assignment> = (0..cell.workers)
        .map(|index| Assignment {
            approach,
            object: object.clone(),
            condition: cell.target.condition(index),
            index,
            start_ms,
            seconds: options.per_cell.as_secs_f64(),
            task_ms: options.task.as_millis() as u64,
        })
        .collect();
    let metrics_before = scrape(client).await;
    let handles: Vec<_> = assignments
        .iter()
        .cloned()
        .map(|a| match cell.placement {
            Placement::Threads => tokio::spawn(worker(a)),
            Placement::Processes => tokio::spawn(async move { spawn_process(&a).await }),
        })
        .collect();
    let start = Duration::from_millis(start_ms).saturating_sub(Duration::from_nanos(unix_nanos()));
    tokio::time::sleep(start).await;
    let cpu_before = processes.now();
    let mut reports = Vec::new();
    for handle in handles {
        reports.push(handle.await.expect("worker"));
    }
    let mut cpu = CpuUsed::between(cpu_before, processes.now());
    if cell.placement == Placement::Processes {
        cpu.client = reports.iter().map(|r| r.cpu_ms).sum();
    }
    let server = ServerTime::between(&metrics_before, &scrape(client).await);
    let ended = reports.iter().map(|r| r.ended).max().unwrap_or(0);
    let seconds = (ended as f64 / 1e9 - start_ms as f64 / 1e3).max(f64::EPSILON);
    let end = api.get(&object).await.expect("get");
    let types: HashSet<String> = assignments.iter().map(|a| a.condition.clone()).collect();
    let left_locked = end.conditions().map_or(0, |c| {
        c.iter()
            .filter(|c| types.contains(&c.type_))
            .filter(|c| c.status == KonditionnerStatus::Locked || c.reason == "Locked")
            .count()
    });
    let tasks: Vec<TaskRecord> = reports.iter().flat_map(|r| r.tasks.clone()).collect();
    let durations = |f: fn(&Report) -> &Vec<f64>| -> Vec<Duration> {
        reports
            .iter()
            .flat_map(|r| f(r).iter().map(|m| Duration::from_secs_f64(m / 1000.0)))
            .collect()
    };
    CellRun {
        tasks: tasks.len(),
        seconds,
        acquire: durations(|r| &r.acquire),
        release: durations(|r| &r.release),
        requests: reports.iter().map(|r| r.requests).sum(),
        refused: reports.iter().map(|r| r.refused).sum(),
        refused_releases: reports.iter().map(|r| r.refused_releases).sum(),
        left_locked,
        conditions: types.len(),
        duplicates: duplicates(&tasks),
        most_at_once: most_at_once(&tasks),
        writes: durations(|r| &r.writes),
        server,
        cpu,
    }
}

pub(crate) async fn run(
    client: &Client,
    api: &Api<Relic>,
    processes: Processes,
    options: &Options,
) {
    println!(
        "\n## 1. Contention: {} s per cell, {} interleaved runs per approach, task {} ms, lease {} s (no renewal)\n",
        options.per_cell.as_secs(),
        options.reps,
        options.task.as_millis(),
        LEASE.as_secs()
    );
    let mut cells = Vec::new();
    for &target in &options.targets {
        for &workers in &options.workers {
            for &placement in &options.placements {
                // One worker is one process either way.
                if workers > 1 || placement == Placement::Threads {
                    cells.push(Cell {
                        target,
                        workers,
                        placement,
                    });
                }
            }
        }
    }
    let mut runs: BTreeMap<(Cell, Approach), Vec<CellRun>> = BTreeMap::new();
    for &cell in &cells {
        for rep in 0..options.reps {
            // Alternate who goes first, so a drifting load hits both.
            let order = if rep % 2 == 0 {
                [Approach::Lock, Approach::Konditionner]
            } else {
                [Approach::Konditionner, Approach::Lock]
            };
            for approach in order {
                if !options.approaches.contains(&approach.name()) {
                    continue;
                }
                let run = run_cell(client, api, processes, approach, cell, options).await;
                runs.entry((cell, approach)).or_default().push(run);
            }
        }
    }
    println!(
        "| approach | conditions | K | workers in | tasks/s | p50 acquire ms | p99 acquire ms | p50 release ms | requests/task | refused/task | etcd writes/write | apiserver CPU ms/task | client CPU ms/task | left Locked | duplicates | most at once |"
    );
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((cell, approach), runs) in &runs {
        let left = runs.iter().map(|r| r.left_locked).max().unwrap_or(0);
        let conditions = runs.first().map_or(0, |r| r.conditions);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {left} of {conditions} | {} | {} |",
            approach.label(),
            cell.target.label(),
            cell.workers,
            cell.placement.label(),
            range(runs.iter().map(CellRun::tasks_per_second), 0),
            range(runs.iter().map(|r| percentile(&r.acquire, 0.5)), 1),
            range(runs.iter().map(|r| percentile(&r.acquire, 0.99)), 1),
            range(runs.iter().map(|r| percentile(&r.release, 0.5)), 1),
            range(runs.iter().map(|r| r.per_task(r.requests as f64)), 2),
            range(runs.iter().map(|r| r.per_task(r.refused as f64)), 2),
            range(runs.iter().map(|r| r.server.etcd_per_write()), 2),
            range(runs.iter().map(|r| r.per_task(r.cpu.apiserver)), 1),
            range(runs.iter().map(|r| r.per_task(r.cpu.client)), 2),
            runs.iter().map(|r| r.duplicates).sum::<usize>(),
            runs.iter().map(|r| r.most_at_once).max().unwrap_or(0),
        );
    }
    println!(
        "\nRatios lock / konditionner, per pair of adjacent runs (tasks/s above 1, latency below 1: the lock is faster):\n"
    );
    println!(
        "| conditions | K | workers in | tasks/s | p50 acquire | p50 write at the transport | apiserver CPU per task | konditionner releases refused / tasks |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for &cell in &cells {
        let (Some(lock), Some(old)) = (
            runs.get(&(cell, Approach::Lock)),
            runs.get(&(cell, Approach::Konditionner)),
        ) else {
            continue;
        };
        let pairs = || lock.iter().zip(old);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell.target.label(),
            cell.workers,
            cell.placement.label(),
            range(
                pairs().map(|(l, o)| l.tasks_per_second() / o.tasks_per_second()),
                2
            ),
            range(
                pairs().map(|(l, o)| percentile(&l.acquire, 0.5) / percentile(&o.acquire, 0.5)),
                2
            ),
            range(
                pairs().map(|(l, o)| percentile(&l.writes, 0.5) / percentile(&o.writes, 0.5)),
                2
            ),
            range(
                pairs().map(|(l, o)| l.per_task(l.cpu.apiserver) / o.per_task(o.cpu.apiserver)),
                2
            ),
            old.iter()
                .map(|r| format!("{}/{}", r.refused_releases, r.tasks))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
}
