//! A new user's operator as the guide writes it (`Transfer`: two side
//! effects under the lock, a reversal on deletion) run as two replicas,
//! two processes, against one append-only ledger: 100 transfers created,
//! 50 changed, 30 deleted. What reaches the ledger, per intended change
//! (object, generation, condition):
//!
//! - a ledger that stores the lock's idempotency key once, with replicas
//!   killed (SIGKILL) right after a side effect: exactly one line each;
//! - a ledger that ignores the key, nobody killed: exactly one line each;
//! - a ledger that ignores the key, replicas killed: no change missing,
//!   and every extra line is one a killed replica wrote and could not
//!   release (the change at its crash point, and any other in flight).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bucket_operator::transfer::ledger::Ledger;
use bucket_operator::transfer::{Transfer, TransferCondition, TransferSpec};
use konditions_core::{ConditionalResource, ConditionalStatus};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, CustomResourceExt, ResourceExt};

const TRANSFERS: usize = 100;
const CHANGED: usize = 50;
const DELETED: std::ops::Range<usize> = 35..65;
/// A guard against hangs, not a performance assertion.
const WAIT: Duration = Duration::from_secs(300);

/// One replica: a process of the operator, restarted by the supervisor
/// when its crash hook killed it.
struct Replica {
    name: &'static str,
    /// How many times it was started: its holder name is `<name>-<life>`.
    life: usize,
    child: Child,
    /// The crash points still to come (the effect count of each run).
    plan: Vec<Option<usize>>,
}

/// Two replicas, the keys of the changes they were killed right after, and
/// the holder names of the lives that were killed.
struct Replicas {
    replicas: Arc<Mutex<Vec<Replica>>>,
    crashed_after: Arc<Mutex<Vec<String>>>,
    killed: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    supervisor: Option<std::thread::JoinHandle<()>>,
}

fn spawn(
    holder: &str,
    namespace: &str,
    ledger: &Path,
    keyed: bool,
    crash_after: Option<usize>,
    crashed_after: &Arc<Mutex<Vec<String>>>,
) -> Child {
    let log = ledger.with_file_name(format!("{holder}.log"));
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_transfer-operator"));
    command
        .env("KUBECONFIG", konditions_testing::kubeconfig_path())
        .env("WATCH_NAMESPACE", namespace)
        .env("LEDGER", ledger)
        .env("LEDGER_KEYED", if keyed { "1" } else { "0" })
        .env("POD_NAME", holder)
        .env("LEASE_SECONDS", "3")
        .env_remove("CRASH_AFTER_EFFECTS")
        .stdout(Stdio::piped())
        .stderr(stderr);
    if let Some(n) = crash_after {
        command.env("CRASH_AFTER_EFFECTS", n.to_string());
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let crashed_after = crashed_after.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(key) = line.strip_prefix("crash point: ") {
                crashed_after.lock().unwrap().push(key.to_owned());
            }
        }
    });
    child
}

impl Replicas {
    /// Starts replicas `a` and `b` with their crash plans, and a supervisor
    /// that restarts a killed one with the next entry of its plan.
    fn start(namespace: &str, ledger: &Path, keyed: bool, plans: [Vec<Option<usize>>; 2]) -> Self {
        let crashed_after = Arc::new(Mutex::new(Vec::new()));
        let killed = Arc::new(Mutex::new(BTreeSet::new()));
        let replicas: Vec<Replica> = ["replica-a", "replica-b"]
            .into_iter()
            .zip(plans)
            .map(|(name, mut plan)| {
                let first = plan.remove(0);
                let holder = format!("{name}-0");
                Replica {
                    name,
                    life: 0,
                    child: spawn(&holder, namespace, ledger, keyed, first, &crashed_after),
                    plan,
                }
            })
            .collect();
        let replicas = Arc::new(Mutex::new(replicas));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let supervisor = std::thread::spawn({
            let (replicas, stop, crashed) = (replicas.clone(), stop.clone(), crashed_after.clone());
            let killed = killed.clone();
            let (namespace, ledger) = (namespace.to_owned(), ledger.to_owned());
            move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    for replica in replicas.lock().unwrap().iter_mut() {
                        if let Ok(Some(status)) = replica.child.try_wait() {
                            assert!(
                                !replica.plan.is_empty(),
                                "{} exited unplanned: {status}",
                                replica.name
                            );
                            let next = replica.plan.remove(0);
                            killed
                                .lock()
                                .unwrap()
                                .insert(format!("{}-{}", replica.name, replica.life));
                            replica.life += 1;
                            let holder = format!("{}-{}", replica.name, replica.life);
                            replica.child =
                                spawn(&holder, &namespace, &ledger, keyed, next, &crashed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Self {
            replicas,
            crashed_after,
            killed,
            stop,
            supervisor: Some(supervisor),
        }
    }

    /// Stops both; returns the keys of the changes made right before a
    /// kill, and the holder names of the killed lives.
    fn stop(mut self) -> (Vec<String>, BTreeSet<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.join().unwrap();
        }
        for replica in self.replicas.lock().unwrap().iter_mut() {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
        (
            self.crashed_after.lock().unwrap().clone(),
            self.killed.lock().unwrap().clone(),
        )
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut replicas) = self.replicas.lock() {
            for replica in replicas.iter_mut() {
                let _ = replica.child.kill();
            }
        }
    }
}

/// Whether every listed transfer is Ready for its current generation.
fn all_ready(transfers: &[Transfer]) -> bool {
    transfers.iter().all(|t| {
        let current = t.metadata.generation;
        let ready = t
            .conditions()
            .and_then(|c| c.find(&TransferCondition::Ready))
            .is_some_and(|c| {
                c.status == konditions_core::Status::True && c.observed_generation == current
            });
        ready && t.resource_status().and_then(|s| s.observed_generation()) == current
    })
}

async fn wait_until(
    api: &Api<Transfer>,
    what: &str,
    done: impl Fn(&[Transfer]) -> bool,
) -> Vec<Transfer> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = api.list(&Default::default()).await.unwrap().items;
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still waiting after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What reached the ledger, per change key: (effect, holder) in order.
struct Tally {
    lines: usize,
    per_key: BTreeMap<String, Vec<(String, String)>>,
    /// The holder names of the replica lives that were killed.
    killed: BTreeSet<String>,
}

/// Runs the scenario; returns the expected keys (one line each), the
/// tally of the ledger, and the crash points.
async fn scenario(
    keyed: bool,
    plans: [Vec<Option<usize>>; 2],
) -> (BTreeSet<String>, Tally, Vec<String>) {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &Transfer::crd()).await;
    let ns = konditions_testing::namespace(&client).await;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("transfer-{}-{}", std::process::id(), ns.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let ledger_path = dir.join("ledger");
    let replicas = Replicas::start(ns.name(), &ledger_path, keyed, plans);
    let api = ns.api::<Transfer>();

    for i in 0..TRANSFERS {
        let spec = TransferSpec {
            account: format!("account-{}", i % 7),
            amount: 100 + i as i64,
        };
        api.create(
            &PostParams::default(),
            &Transfer::new(&format!("t-{i}"), spec),
        )
        .await
        .unwrap();
    }
    wait_until(&api, "all Ready at generation 1", all_ready).await;

    for i in 0..CHANGED {
        let patch = serde_json::json!({"spec": {"amount": 1000 + i}});
        api.patch(
            &format!("t-{i}"),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    }
    let ready = wait_until(&api, "all Ready after the changes", |list| {
        all_ready(list)
            && list
                .iter()
                .filter(|t| t.metadata.generation == Some(2))
                .count()
                == CHANGED
    })
    .await;

    let mut expected = BTreeSet::new();
    for transfer in &ready {
        let uid = transfer.uid().unwrap();
        for generation in 1..=transfer.metadata.generation.unwrap() {
            for condition in ["Posted", "Notified"] {
                expected.insert(format!("{uid}:{generation}:{condition}"));
            }
        }
    }
    let deleted: BTreeMap<String, i64> = DELETED
        .map(|i| {
            let t = ready
                .iter()
                .find(|t| t.name_any() == format!("t-{i}"))
                .unwrap();
            (t.uid().unwrap(), t.metadata.generation.unwrap())
        })
        .collect();
    for i in DELETED {
        api.delete(&format!("t-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    wait_until(&api, "the deleted transfers gone", |list| {
        list.len() == TRANSFERS - DELETED.len()
    })
    .await;
    let (crashed, killed) = replicas.stop();

    let entries = Ledger::new(&ledger_path, keyed).entries().unwrap();
    let mut per_key: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (key, effect, holder) in &entries {
        per_key
            .entry(key.clone())
            .or_default()
            .push((effect.clone(), holder.clone()));
    }
    // A deletion is a generation of its own: one reversal each.
    for (uid, last) in &deleted {
        let reversal = per_key
            .keys()
            .find(|k| {
                k.starts_with(&format!("{uid}:")) && per_key[*k].iter().all(|(e, _)| e == "reverse")
            })
            .unwrap_or_else(|| panic!("no reversal of {uid}"))
            .clone();
        let generation: i64 = reversal.split(':').nth(1).unwrap().parse().unwrap();
        assert!(
            generation > *last,
            "{reversal} reverses a generation not newer than {last}"
        );
        expected.insert(reversal);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let tally = Tally {
        lines: entries.len(),
        per_key,
        killed,
    };
    (expected, tally, crashed)
}

/// Lines beyond one per key, and the keys with none.
fn duplicates_and_missing(
    expected: &BTreeSet<String>,
    tally: &Tally,
) -> (Vec<String>, Vec<String>) {
    let duplicates = tally
        .per_key
        .iter()
        .flat_map(|(key, effects)| {
            std::iter::repeat_n(key.clone(), effects.len().saturating_sub(1))
        })
        .collect();
    let missing = expected
        .iter()
        .filter(|key| !tally.per_key.contains_key(*key))
        .cloned()
        .collect();
    (duplicates, missing)
}

fn report(name: &str, expected: &BTreeSet<String>, tally: &Tally, crashed: &[String]) {
    eprintln!(
        "{name}: {} intended, {} executed, {} killed right after a side effect",
        expected.len(),
        tally.lines,
        crashed.len()
    );
}

#[tokio::test]
async fn a_keyed_ledger_holds_each_change_once_with_replicas_killed_after_their_side_effects() {
    let (expected, tally, crashed) =
        scenario(true, [vec![Some(10), Some(25), None], vec![Some(15), None]]).await;
    report("keyed ledger, 3 kills", &expected, &tally, &crashed);
    assert_eq!(crashed.len(), 3, "every planned kill happened");
    let (duplicates, missing) = duplicates_and_missing(&expected, &tally);
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    assert!(missing.is_empty(), "missing: {missing:?}");
    let unexpected: Vec<_> = tally
        .per_key
        .keys()
        .filter(|k| !expected.contains(*k))
        .collect();
    assert!(unexpected.is_empty(), "not intended: {unexpected:?}");
    assert_eq!(tally.lines, expected.len());
}

#[tokio::test]
async fn a_ledger_without_the_key_holds_each_change_once_when_nobody_dies() {
    let (expected, tally, crashed) = scenario(false, [vec![None], vec![None]]).await;
    report(
        "ledger without the key, no kill",
        &expected,
        &tally,
        &crashed,
    );
    let (duplicates, missing) = duplicates_and_missing(&expected, &tally);
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    assert!(missing.is_empty(), "missing: {missing:?}");
    assert_eq!(tally.lines, expected.len());
}

#[tokio::test]
async fn without_the_key_only_changes_in_flight_in_a_killed_replica_repeat() {
    let (expected, tally, crashed) = scenario(
        false,
        [vec![Some(10), Some(25), None], vec![Some(15), None]],
    )
    .await;
    report(
        "ledger without the key, 3 kills",
        &expected,
        &tally,
        &crashed,
    );
    assert_eq!(crashed.len(), 3, "every planned kill happened");
    let (duplicates, missing) = duplicates_and_missing(&expected, &tally);
    assert!(missing.is_empty(), "missing: {missing:?}");
    // The next holder redoes what a killed one did but could not record:
    // the change at each crash point, and any other the killed process had
    // in flight between its side effect and its release. Every line but
    // the last of a change is a killed life's.
    for key in &crashed {
        assert!(
            duplicates.contains(key),
            "{key}: killed after it, not repeated"
        );
    }
    for key in &duplicates {
        let lines = &tally.per_key[key];
        let (earlier, _last) = lines.split_at(lines.len() - 1);
        for (effect, holder) in earlier {
            assert!(
                tally.killed.contains(holder),
                "{key}: {effect} by {holder}, which was not killed, was repeated: {lines:?}"
            );
        }
    }
    eprintln!(
        "{} repeated: {} at the crash points, {} more in flight in the killed processes",
        duplicates.len(),
        crashed.len(),
        duplicates.len() - crashed.len()
    );
}
