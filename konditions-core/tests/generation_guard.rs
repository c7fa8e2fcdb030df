//! The generation guard against the real API server: the rule the
//! `Conditions` schema puts on each condition (`schema::GENERATION_RULE`)
//! makes the server refuse a write that would replace a condition with one
//! of an older generation, whoever sends it, so an old replica's apply
//! loses against a newer one's; and everything else (newer generations,
//! foreign conditions, the lock, the runner) writes as before.
//!
//! These tests fail (they do not skip) when no control plane is running.

// The measured latencies are printed for the record (run with --nocapture).
#![allow(clippy::print_stderr)]

mod lock_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use konditions_core::crd::remove_generation_guard;
use konditions_core::reconcile::Reconciler;
use konditions_core::schema::GENERATION_RULE_MESSAGE;
use konditions_core::{
    ApplyError, ConditionalResource, ConditionalStatus, Conditions, Lock, Outcome, Status, Verdict,
    apply::apply_status_if_current, apply_conditions, apply_status,
};
use kube::api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const MANAGER: &str = "kiln-controller";

/// A kiln: glazed by apply, fired under the lock.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "generation.konditions.test",
    version = "v1",
    kind = "Kiln",
    namespaced,
    status = "KilnStatus"
)]
#[konditions(types(Glazed, Fired(lock)), summary = Ready)]
pub struct KilnSpec {
    temperature: i64,
}

/// What the kiln controller reports.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KilnStatus {
    #[serde(default)]
    conditions: Conditions<KilnCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
}

/// The same resource, installed without the guard
/// (`crd::remove_generation_guard`): the control.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "generation.konditions.test",
    version = "v1",
    kind = "Oven",
    namespaced,
    status = "OvenStatus"
)]
#[konditions(types(Glazed), summary = Ready)]
pub struct OvenSpec {
    temperature: i64,
}

/// What the oven controller reports.
#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OvenStatus {
    #[serde(default)]
    conditions: Conditions<OvenCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
}

/// The kinds whose `spec.temperature` the tests change (each change is a
/// new generation) and whose `Glazed` they set.
trait Furnace:
    Resource<DynamicType = ()>
    + ConditionalResource<Status = Status>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn create(name: &str) -> Self;
    fn glazed() -> Self::Type;
}

impl Furnace for Kiln {
    fn create(name: &str) -> Self {
        Kiln::new(name, KilnSpec { temperature: 1000 })
    }
    fn glazed() -> KilnCondition {
        KilnCondition::Glazed
    }
}

impl Furnace for Oven {
    fn create(name: &str) -> Self {
        Oven::new(name, OvenSpec { temperature: 1000 })
    }
    fn glazed() -> OvenCondition {
        OvenCondition::Glazed
    }
}

/// Installs both CRDs (the oven's without the guard), in a fresh namespace.
async fn setup() -> (kube::Client, konditions_testing::TestNamespace) {
    let client = konditions_testing::client().await;
    konditions_testing::install_crd(&client, &Kiln::crd()).await;
    let mut oven = Oven::crd();
    assert_eq!(remove_generation_guard(&mut oven), 1);
    konditions_testing::install_crd(&client, &oven).await;
    let ns = konditions_testing::namespace(&client).await;
    (client, ns)
}

async fn create<K: Furnace>(api: &Api<K>, name: &str) -> K {
    api.create(&PostParams::default(), &K::create(name))
        .await
        .expect("create")
}

/// A spec change: the object's next generation, as stored.
async fn next_generation<K: Furnace>(api: &Api<K>, name: &str, temperature: i64) -> K {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"temperature": temperature}})),
    )
    .await
    .expect("spec change")
}

/// `copy` with `Glazed` set (for the copy's generation) and the summary
/// updated, as a reconcile of that copy computes them.
fn glazed<K: Furnace>(copy: &K, status: Status, reason: &str, message: &str) -> K {
    let mut copy = copy.clone();
    copy.set_condition(
        &K::glazed(),
        Verdict::new(status, reason.to_owned()).message(message.to_owned()),
    )
    .expect("valid condition");
    copy.update_summary().expect("summary");
    copy
}

/// The stored condition `type_` as JSON.
fn condition<K: Serialize>(object: &K, type_: &str) -> Value {
    let object = serde_json::to_value(object).unwrap();
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == type_)
        .cloned()
        .unwrap_or(Value::Null)
}

/// `error` is the guard's refusal: 422 Invalid, with the rule's message.
fn assert_guard_refusal(error: &kube::Error) {
    let kube::Error::Api(status) = error else {
        panic!("expected the guard's 422, got {error:?}")
    };
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status.message.contains(GENERATION_RULE_MESSAGE),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn an_old_replicas_apply_loses_against_a_newer_ones() {
    let (client, ns) = setup().await;
    let api: Api<Kiln> = Api::namespaced(client, ns.name());
    create(&api, "k").await;
    // The old replica's copy: generation 1. Then the spec changes.
    let old = api.get("k").await.unwrap();
    let new = next_generation(&api, "k", 1200).await;
    assert_eq!((old.generation(), new.generation()), (Some(1), Some(2)));

    // The newer replica writes generation 2's conditions.
    let written = apply_status(
        &api,
        &glazed(&new, Status::True, "Glazed", "at 1200"),
        MANAGER,
    )
    .await
    .unwrap();
    let stored = condition(&written, "Glazed");
    assert_eq!(stored["observedGeneration"], 2);

    // The old replica, from its old copy, with the same field manager (a
    // replica of the same controller), then with another one (the previous
    // release's), forced like every konditions apply: refused, nothing
    // written.
    let late = glazed(&old, Status::False, "Cracked", "at 1000");
    for manager in [MANAGER, "kiln-controller-v1"] {
        let error = apply_status(&api, &late, manager).await.unwrap_err();
        let ApplyError::OlderGeneration(source) = &error else {
            panic!("{error:?}")
        };
        assert_guard_refusal(source);
    }
    // The conditional apply refuses it on its resourceVersion first.
    assert!(
        apply_status_if_current(&api, &late, MANAGER)
            .await
            .unwrap()
            .is_none()
    );
    // Any writer, any request: a plain merge patch of the status.
    let mut entry = condition(&late, "Glazed");
    entry["observedGeneration"] = json!(1);
    let refused = api
        .patch_status(
            "k",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [entry]}})),
        )
        .await
        .unwrap_err();
    assert_guard_refusal(&refused);
    // And an update of the whole status, with the current resourceVersion
    // (so no conflict stops it first) but the old replica's verdict.
    let mut replaced =
        serde_json::to_value(glazed(&new, Status::False, "Cracked", "at 1000")).unwrap();
    replaced["metadata"]["resourceVersion"] = json!(written.resource_version());
    for entry in replaced["status"]["conditions"].as_array_mut().unwrap() {
        if entry["type"] == "Glazed" {
            entry["observedGeneration"] = json!(1);
        }
    }
    let refused = api
        .replace_status(
            "k",
            &PostParams::default(),
            &serde_json::from_value::<Kiln>(replaced).unwrap(),
        )
        .await
        .unwrap_err();
    assert_guard_refusal(&refused);

    // What the server stores is the newer replica's write, untouched.
    let now = api.get("k").await.unwrap();
    assert_eq!(now.resource_version(), written.resource_version());
    assert_eq!(condition(&now, "Glazed"), stored);
    assert_eq!(condition(&now, "Ready")["observedGeneration"], 2);
    assert_eq!(now.status.unwrap().observed_generation, Some(2));
}

#[tokio::test]
async fn without_the_guard_the_old_apply_wins() {
    // The control: the same writes on a CRD without the rule store the
    // regression, so the rule is what refuses it above.
    let (client, ns) = setup().await;
    let api: Api<Oven> = Api::namespaced(client, ns.name());
    create(&api, "o").await;
    let old = api.get("o").await.unwrap();
    let new = next_generation(&api, "o", 1200).await;
    apply_status(
        &api,
        &glazed(&new, Status::True, "Glazed", "at 1200"),
        MANAGER,
    )
    .await
    .unwrap();
    let written = apply_status(
        &api,
        &glazed(&old, Status::False, "Cracked", "at 1000"),
        MANAGER,
    )
    .await
    .unwrap();
    let stored = condition(&written, "Glazed");
    assert_eq!(
        (&stored["observedGeneration"], &stored["reason"]),
        (&json!(1), &json!("Cracked"))
    );
}

/// What one replica's write did.
#[derive(Debug)]
enum Wrote {
    Stored,
    Refused,
}

/// One status apply of `copy`'s `Glazed`: stored, or refused by the guard
/// (any other error fails the test).
async fn write_glazed<K: Furnace>(api: &Api<K>, copy: &K, message: &str) -> Wrote {
    match apply_status(api, &glazed(copy, Status::True, "Glazed", message), MANAGER).await {
        Ok(_) => Wrote::Stored,
        Err(ApplyError::OlderGeneration(_)) => Wrote::Refused,
        Err(error) => panic!("{error:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_racing_never_store_an_older_generation() {
    const ROUNDS: i64 = 24;
    let (client, ns) = setup().await;
    let api: Api<Kiln> = Api::namespaced(client, ns.name());
    let created = create(&api, "race").await;

    // Every state the server stores, in order, from a watch.
    let watch = {
        let api = api.clone();
        let from = created.resource_version().unwrap();
        let params = WatchParams::default().fields("metadata.name=race");
        tokio::spawn(async move {
            let mut generations = Vec::new();
            let mut events = api.watch(&params, &from).await.unwrap().boxed();
            while let Some(event) = events.try_next().await.unwrap() {
                match event {
                    WatchEvent::Modified(kiln) => {
                        let glazed = condition(&kiln, "Glazed")["observedGeneration"].as_i64();
                        let done = kiln.spec.temperature == -1;
                        generations.extend(glazed);
                        if done {
                            return generations;
                        }
                    }
                    WatchEvent::Bookmark(_) => {}
                    other => panic!("{other:?}"),
                }
            }
            panic!("the watch ended early")
        })
    };

    // The newer replica: a spec change, then its conditions for that
    // generation. `applied` is the generation it last stored.
    let applied = Arc::new(AtomicI64::new(0));
    let newer = {
        let (api, applied) = (api.clone(), applied.clone());
        tokio::spawn(async move {
            for round in 1..=ROUNDS {
                let copy = next_generation(&api, "race", 1000 + round).await;
                let generation = copy.generation().unwrap();
                let wrote = write_glazed(&api, &copy, &format!("newer at {generation}")).await;
                assert!(
                    matches!(wrote, Wrote::Stored),
                    "the newest copy loses nothing"
                );
                applied.store(generation, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };

    // The old replica: it reads a copy, and applies it once the generation
    // moved on: in even rounds only after the newer replica stored the next
    // generation (it must lose), in odd ones at once (a true race).
    let mut refused_when_late = 0;
    let mut raced = Vec::new();
    let mut round = 0;
    while !newer.is_finished() {
        round += 1;
        let copy = api.get("race").await.unwrap();
        let generation = copy.generation().unwrap();
        let late = round % 2 == 0;
        if late {
            while applied.load(Ordering::SeqCst) <= generation && !newer.is_finished() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if applied.load(Ordering::SeqCst) <= generation {
                break; // the newer replica finished first
            }
        }
        let wrote = write_glazed(&api, &copy, &format!("old at {generation}")).await;
        if late {
            assert!(matches!(wrote, Wrote::Refused), "round {round}: {wrote:?}");
            refused_when_late += 1;
        } else {
            raced.push(wrote);
        }
    }
    newer.await.unwrap();
    next_generation(&api, "race", -1).await;
    let generations = watch.await.unwrap();

    assert!(refused_when_late > 0);
    assert!(
        generations.windows(2).all(|w| w[0] <= w[1]),
        "an older generation was stored: {generations:?}"
    );
    let last = api.get("race").await.unwrap();
    assert_eq!(
        condition(&last, "Glazed")["observedGeneration"],
        json!(ROUNDS + 1)
    );
    eprintln!(
        "{} stored states, old replica: {refused_when_late} late writes refused, raced: {:?}",
        generations.len(),
        raced
    );
}

#[tokio::test]
async fn foreign_conditions_newer_generations_and_removals_write_as_before() {
    let (client, ns) = setup().await;
    let api: Api<Kiln> = Api::namespaced(client, ns.name());
    create(&api, "k").await;

    // A foreign controller's condition without observedGeneration, and one
    // that claims a generation the object has not reached.
    let mut foreign = Conditions::<String>::default();
    foreign
        .set(
            None,
            "backup.example.com/Done",
            Verdict::new(Status::True, "Uploaded"),
        )
        .unwrap();
    foreign
        .set(
            Some(7),
            "policy.example.com/Checked",
            Verdict::new(Status::True, "Allowed"),
        )
        .unwrap();
    apply_conditions(&api, "k", "backup-controller", foreign.iter())
        .await
        .unwrap();

    // Ours, generation after generation: every write is stored, and the
    // foreign entries are left as they were.
    let mut kiln = api.get("k").await.unwrap();
    for temperature in [1100, 1200, 1300] {
        let written = apply_status(
            &api,
            &glazed(&kiln, Status::True, "Glazed", &format!("at {temperature}")),
            MANAGER,
        )
        .await
        .unwrap();
        assert_eq!(
            condition(&written, "Glazed")["observedGeneration"],
            json!(kiln.generation())
        );
        assert_eq!(
            condition(&written, "policy.example.com/Checked")["observedGeneration"],
            7
        );
        kiln = next_generation(&api, "k", temperature).await;
    }
    // The same generation again, with another verdict: stored.
    let written = apply_status(
        &api,
        &glazed(&kiln, Status::False, "Cracked", "same generation"),
        MANAGER,
    )
    .await
    .unwrap();
    assert_eq!(condition(&written, "Glazed")["reason"], "Cracked");

    // The foreign owner changes its conditions as it likes: without a
    // generation, and from a generation to none.
    let mut foreign = Conditions::<String>::default();
    foreign
        .set(
            None,
            "backup.example.com/Done",
            Verdict::new(Status::False, "Failed"),
        )
        .unwrap();
    foreign
        .set(
            None,
            "policy.example.com/Checked",
            Verdict::new(Status::False, "Denied"),
        )
        .unwrap();
    let written = apply_conditions(&api, "k", "backup-controller", foreign.iter())
        .await
        .unwrap();
    assert_eq!(
        condition(&written, "backup.example.com/Done")["reason"],
        "Failed"
    );
    assert!(
        condition(&written, "policy.example.com/Checked")
            .get("observedGeneration")
            .is_none()
    );
    assert_eq!(condition(&written, "Glazed")["reason"], "Cracked");
}

/// Removes the condition `type_` from the status the way docs/several-controllers.md
/// tells a user to: `kubectl patch --subresource=status --type=json` (the
/// real kubectl), a JSON Patch that tests the entry it removes.
async fn remove_condition<K: Furnace>(api: &Api<K>, object: &K, type_: &str) -> K {
    let value = serde_json::to_value(object).unwrap();
    let list = value["status"]["conditions"].as_array().unwrap();
    let index = list.iter().position(|c| c["type"] == type_).unwrap();
    let path = format!("/status/conditions/{index}");
    let patch = json!([
        {"op": "test", "path": path, "value": list[index]},
        {"op": "remove", "path": path},
    ]);
    let resource = format!("{}.{}", K::plural(&()), K::group(&()));
    // A discovery cache of its own: kubectl's shared one (~/.kube/cache,
    // kept for hours) would hide the CRDs later tests install on this
    // control plane from their own kubectl calls.
    let cache = std::env::temp_dir().join(format!("konditions-kubectl-{}", std::process::id()));
    let output = std::process::Command::new(konditions_testing::kubectl())
        .arg("--kubeconfig")
        .arg(konditions_testing::kubeconfig_path())
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--namespace", &object.namespace().unwrap()])
        .args(["patch", &resource, &object.name_any()])
        .args(["--subresource=status", "--type=json", "--patch"])
        .arg(patch.to_string())
        .output()
        .expect("run kubectl");
    let _ = std::fs::remove_dir_all(&cache);
    assert!(
        output.status.success(),
        "kubectl patch: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    api.get(&object.name_any()).await.unwrap()
}

#[tokio::test]
async fn a_condition_claiming_a_future_generation_blocks_its_writer_until_removed() {
    let (client, ns) = setup().await;
    let api: Api<Kiln> = Api::namespaced(client.clone(), ns.name());
    let kiln = create(&api, "k").await;
    let kiln = apply_status(
        &api,
        &glazed(&kiln, Status::True, "Glazed", "at 1000"),
        MANAGER,
    )
    .await
    .unwrap();
    // As restored from a backup into a new object, or edited by hand.
    let mut entry = condition(&kiln, "Glazed");
    entry["observedGeneration"] = json!(50);
    let kiln = api
        .patch_status(
            "k",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [entry, condition(&kiln, "Ready")]}})),
        )
        .await
        .unwrap();

    // The writer of that condition is refused; the conditional apply says
    // nothing was written (and logs a warning), as the runner expects.
    let fixed = glazed(&kiln, Status::False, "Cracked", "at 1000");
    assert!(matches!(
        apply_status(&api, &fixed, MANAGER).await,
        Err(ApplyError::OlderGeneration(_))
    ));
    assert!(
        apply_status_if_current(&api, &fixed, MANAGER)
            .await
            .unwrap()
            .is_none()
    );
    // The runner treats it as a lost race: its run finishes without an
    // error (no error storm), and the condition stays.
    let reconciler = Reconciler::new(client.clone(), MANAGER);
    let mut run = reconciler.start(Arc::new(kiln.clone())).await.unwrap();
    run.check(
        &KilnCondition::Glazed,
        Verdict::new(Status::False, "Cracked"),
    )
    .unwrap();
    run.finish().await.unwrap();
    let stored = api.get("k").await.unwrap();
    assert_eq!(condition(&stored, "Glazed")["observedGeneration"], 50);

    // The remedy: remove the entry; the next write puts it back.
    let removed = remove_condition(&api, &stored, "Glazed").await;
    let written = apply_status(
        &api,
        &glazed(&removed, Status::False, "Cracked", "at 1000"),
        MANAGER,
    )
    .await
    .unwrap();
    let glazed = condition(&written, "Glazed");
    assert_eq!(
        (&glazed["observedGeneration"], &glazed["reason"]),
        (&json!(1), &json!("Cracked"))
    );
}

#[tokio::test]
async fn the_lock_and_the_runner_write_as_before() {
    let (client, ns) = setup().await;
    let api: Api<Kiln> = Api::namespaced(client.clone(), ns.name());
    create(&api, "k").await;

    // The lock, generation after generation: acquire, task, release.
    for temperature in [1100, 1200] {
        let copy = api.get("k").await.unwrap();
        let outcome = Lock::new(api.clone(), &copy, KilnLock::Fired)
            .holder("kiln-test")
            .run(|_ctx| async move { Ok::<_, std::io::Error>(Verdict::new(Status::True, "Fired")) })
            .await
            .unwrap();
        let Outcome::Ran { object, error, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(error.is_none());
        assert_eq!(
            condition(&*object, "Fired")["observedGeneration"],
            json!(copy.generation())
        );
        next_generation(&api, "k", temperature).await;
    }

    // The runner: a check and the lock, its status carried by the release
    // or applied, for generation 4, then a replica's run from the copy of
    // generation 3 writes nothing.
    let old = api.get("k").await.unwrap();
    assert_eq!(old.generation(), Some(3));
    let current = next_generation(&api, "k", 1300).await;
    let reconciler = Reconciler::new(client.clone(), MANAGER).holder("kiln-test");
    let mut run = reconciler.start(Arc::new(current)).await.unwrap();
    run.check(&KilnCondition::Glazed, Verdict::new(Status::True, "Glazed"))
        .unwrap();
    run.lock(KilnLock::Fired, |_ctx| async move {
        Ok::<_, std::io::Error>(Verdict::new(Status::True, "Fired"))
    })
    .await
    .unwrap();
    run.finish().await.unwrap();
    let stored = api.get("k").await.unwrap();
    for type_ in ["Glazed", "Fired", "Ready"] {
        assert_eq!(
            condition(&stored, type_)["observedGeneration"],
            4,
            "{type_}"
        );
    }

    let replica = Reconciler::new(client, MANAGER).holder("kiln-old");
    let mut run = replica.start(Arc::new(old)).await.unwrap();
    run.check(
        &KilnCondition::Glazed,
        Verdict::new(Status::False, "Cracked"),
    )
    .unwrap();
    run.finish().await.unwrap();
    let after = api.get("k").await.unwrap();
    assert_eq!(condition(&after, "Glazed"), condition(&stored, "Glazed"));
}

/// Median and 90th percentile of `samples`, in milliseconds.
fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.9))
}

#[tokio::test]
async fn the_guard_costs_no_request_300_writes_with_and_without_it() {
    const WRITES: usize = 300;
    let (_, ns) = setup().await;
    let (client, requests) = lock_support::counting_client().await;
    let kilns: Api<Kiln> = Api::namespaced(client.clone(), ns.name());
    let ovens: Api<Oven> = Api::namespaced(client, ns.name());
    let kiln = create(&kilns, "k").await;
    let oven = create(&ovens, "o").await;

    // Interleaved, each write a changed condition (one request each: the
    // guard is checked while the server validates the write).
    let (mut guarded, mut unguarded) = (Vec::new(), Vec::new());
    let before = requests.total();
    for i in 0..WRITES {
        let message = format!("write {i}");
        let kiln = glazed(&kiln, Status::True, "Glazed", &message);
        let oven = glazed(&oven, Status::True, "Glazed", &message);
        let timed_kiln = async {
            let started = Instant::now();
            let stored = apply_status(&kilns, &kiln, MANAGER).await.unwrap();
            assert_eq!(condition(&stored, "Glazed")["message"], message);
            started.elapsed()
        };
        let timed_oven = async {
            let started = Instant::now();
            let stored = apply_status(&ovens, &oven, MANAGER).await.unwrap();
            assert_eq!(condition(&stored, "Glazed")["message"], message);
            started.elapsed()
        };
        // Alternate which goes first.
        if i % 2 == 0 {
            guarded.push(timed_kiln.await);
            unguarded.push(timed_oven.await);
        } else {
            unguarded.push(timed_oven.await);
            guarded.push(timed_kiln.await);
        }
    }
    assert_eq!(requests.total() - before, 2 * WRITES, "one request a write");
    let (g50, g90) = percentiles(&mut guarded);
    let (u50, u90) = percentiles(&mut unguarded);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "{WRITES} status applies each: with the guard p50 {g50:.2} ms p90 {g90:.2} ms; \
         without p50 {u50:.2} ms p90 {u90:.2} ms; load average {}",
        load.trim()
    );
}
