//! Shared by the lock tests and the lock benchmark: two small CRDs (one
//! namespaced with the standard statuses, one cluster-scoped with
//! konditionner's) and a client that counts its requests.
#![allow(dead_code, unreachable_pub)] // each user takes what it needs

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{
    ConditionalResource, ConditionalStatus, Conditions, KonditionnerStatus, Status,
};
use kube::api::PostParams;
use kube::{Api, Client, CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A namespaced resource with standard conditions.
#[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "lock.konditions.dev",
    version = "v1",
    kind = "Vault",
    namespaced,
    status = "VaultStatus"
)]
pub struct VaultSpec {
    pub size: i64,
}

/// Standard conditions plus a field that is not a condition.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct VaultStatus {
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

impl ConditionalStatus for VaultStatus {
    type Type = String;
    type Status = Status;
    fn conditions(&self) -> &Conditions {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Conditions {
        &mut self.conditions
    }
}

impl ConditionalResource for Vault {
    type Type = String;
    type Status = Status;
    type ResourceStatus = VaultStatus;
    fn resource_status(&self) -> Option<&VaultStatus> {
        self.status.as_ref()
    }
    fn resource_status_mut(&mut self) -> &mut Option<VaultStatus> {
        &mut self.status
    }
    fn generation(&self) -> Option<i64> {
        self.metadata.generation
    }
}

/// A cluster-scoped resource with konditionner's status set.
#[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "lock.konditions.dev",
    version = "v1",
    kind = "Relic",
    status = "RelicStatus"
)]
pub struct RelicSpec {
    pub size: i64,
}

/// konditionner-style conditions.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct RelicStatus {
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions<String, KonditionnerStatus>,
}

impl ConditionalStatus for RelicStatus {
    type Type = String;
    type Status = KonditionnerStatus;
    fn conditions(&self) -> &Conditions<String, KonditionnerStatus> {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Conditions<String, KonditionnerStatus> {
        &mut self.conditions
    }
}

impl ConditionalResource for Relic {
    type Type = String;
    type Status = KonditionnerStatus;
    type ResourceStatus = RelicStatus;
    fn resource_status(&self) -> Option<&RelicStatus> {
        self.status.as_ref()
    }
    fn resource_status_mut(&mut self) -> &mut Option<RelicStatus> {
        &mut self.status
    }
    fn generation(&self) -> Option<i64> {
        self.metadata.generation
    }
}

/// A resource whose CRD declares `status.conditions` a plain list, not a
/// map keyed by `type` (a schema written by hand, not by konditions): two
/// entries of one type are accepted, so no lock can be held on it safely.
#[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "lock.konditions.dev",
    version = "v1",
    kind = "Urn",
    namespaced,
    status = "UrnStatus"
)]
pub struct UrnSpec {
    pub size: i64,
}

/// Standard conditions in a list without list-type `map`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct UrnStatus {
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    #[schemars(schema_with = "plain_list")]
    pub conditions: Conditions,
}

fn plain_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
    })
}

impl ConditionalResource for Urn {
    type Type = String;
    type Status = Status;
    type ResourceStatus = UrnStatus;
    fn resource_status(&self) -> Option<&UrnStatus> {
        self.status.as_ref()
    }
    fn resource_status_mut(&mut self) -> &mut Option<UrnStatus> {
        &mut self.status
    }
    fn generation(&self) -> Option<i64> {
        self.metadata.generation
    }
}

impl ConditionalStatus for UrnStatus {
    type Type = String;
    type Status = Status;
    fn conditions(&self) -> &Conditions {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Conditions {
        &mut self.conditions
    }
}

/// A closed set written by hand whose only type does not say the lock
/// writes it (`written_by` is the default, the apply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandWritten {
    ByApply,
}

impl konditions_core::ConditionType for HandWritten {
    fn as_str(&self) -> &str {
        "ByApply"
    }
    fn parse(value: &str) -> Option<Self> {
        (value == "ByApply").then_some(Self::ByApply)
    }
    fn declared() -> &'static [Self] {
        &[Self::ByApply]
    }
}

/// A resource with the hand-written set (never installed: the lock must
/// refuse it before any request).
#[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "lock.konditions.dev",
    version = "v1",
    kind = "Gadget",
    namespaced,
    status = "GadgetStatus"
)]
pub struct GadgetSpec {
    pub size: i64,
}

/// The hand-written set's conditions.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct GadgetStatus {
    #[serde(default)]
    pub conditions: Conditions<HandWritten>,
}

impl ConditionalStatus for GadgetStatus {
    type Type = HandWritten;
    type Status = Status;
    fn conditions(&self) -> &Conditions<HandWritten> {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Conditions<HandWritten> {
        &mut self.conditions
    }
}

impl ConditionalResource for Gadget {
    type Type = HandWritten;
    type Status = Status;
    type ResourceStatus = GadgetStatus;
    fn resource_status(&self) -> Option<&GadgetStatus> {
        self.status.as_ref()
    }
    fn resource_status_mut(&mut self) -> &mut Option<GadgetStatus> {
        &mut self.status
    }
    fn generation(&self) -> Option<i64> {
        self.metadata.generation
    }
}

/// Installs both CRDs (idempotent).
pub async fn install(client: &Client) {
    konditions_testing::install_crd(client, &Vault::crd()).await;
    konditions_testing::install_crd(client, &Relic::crd()).await;
    konditions_testing::install_crd(client, &Urn::crd()).await;
}

/// Creates a vault named `name` with no status.
pub async fn create_vault(api: &Api<Vault>, name: &str) -> Vault {
    let vault = Vault {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: VaultSpec { size: 1 },
        status: None,
    };
    api.create(&PostParams::default(), &vault)
        .await
        .expect("create vault")
}

/// Creates a relic with a server-generated name (cluster-scoped objects
/// have no namespace to isolate test runs).
pub async fn create_relic(api: &Api<Relic>) -> Relic {
    let relic = Relic {
        metadata: ObjectMeta {
            generate_name: Some("relic-".to_owned()),
            ..ObjectMeta::default()
        },
        spec: RelicSpec { size: 1 },
        status: None,
    };
    api.create(&PostParams::default(), &relic)
        .await
        .expect("create relic")
}

/// Requests sent by one client, by method, and every exchange as the
/// transport saw it (status, bytes, time to the response headers).
#[derive(Debug, Default)]
pub struct Requests {
    pub get: AtomicUsize,
    pub patch: AtomicUsize,
    pub other: AtomicUsize,
    exchanges: Mutex<Vec<Exchange>>,
}

/// One request and its response, at the transport.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: http::Method,
    /// The response status; `None` when no response came back.
    pub status: Option<u16>,
    /// Request body bytes.
    pub sent: u64,
    /// Response body bytes, as announced (exact for the API server's
    /// small responses).
    pub received: u64,
    /// From handing the request to the connection until the response
    /// headers arrived: network and server, no client-side decoding.
    pub elapsed: Duration,
}

impl Exchange {
    /// A write the server refused: a conflict (409) or an invalid patch,
    /// such as a failed JSON Patch `test` or a duplicate map key (422).
    pub fn is_refused(&self) -> bool {
        matches!(self.status, Some(409 | 422))
    }
}

impl Requests {
    /// (GET, PATCH, other) so far.
    pub fn snapshot(&self) -> (usize, usize, usize) {
        (
            self.get.load(Ordering::SeqCst),
            self.patch.load(Ordering::SeqCst),
            self.other.load(Ordering::SeqCst),
        )
    }

    /// All requests so far.
    pub fn total(&self) -> usize {
        let (g, p, o) = self.snapshot();
        g + p + o
    }

    /// Every exchange so far, in the order the responses came back.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log().clone()
    }

    /// Refused writes (409 or 422) so far.
    pub fn refused(&self) -> usize {
        self.log().iter().filter(|e| e.is_refused()).count()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Vec<Exchange>> {
        self.exchanges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The tower layer of [`counting_client`].
#[derive(Clone)]
struct Counting(Arc<Requests>);

impl<S> tower::Layer<S> for Counting {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            requests: self.0.clone(),
        }
    }
}

/// A service that counts and times what passes through it.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    requests: Arc<Requests>,
}

impl<S, B> tower::Service<http::Request<kube::client::Body>> for Counted<S>
where
    S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let requests = self.requests.clone();
        let slot = match *request.method() {
            http::Method::GET => &requests.get,
            http::Method::PATCH => &requests.patch,
            _ => &requests.other,
        };
        slot.fetch_add(1, Ordering::SeqCst);
        let method = request.method().clone();
        let sent = http_body::Body::size_hint(request.body()).lower();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            let elapsed = started.elapsed();
            let (status, received) = match &response {
                Ok(r) => (
                    Some(r.status().as_u16()),
                    http_body::Body::size_hint(r.body()).lower(),
                ),
                Err(_) => (None, 0),
            };
            requests.log().push(Exchange {
                method,
                status,
                sent,
                received,
                elapsed,
            });
            response
        })
    }
}

/// The local control plane's client configuration, for clients with
/// layers of their own.
async fn local_config() -> kube::Config {
    let path = konditions_testing::kubeconfig_path();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("read kubeconfig");
    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("load kubeconfig")
}

/// A client of its own for the local control plane whose requests are
/// counted (by method) and logged (status, bytes, time) at the transport.
pub async fn counting_client() -> (Client, Arc<Requests>) {
    let config = local_config().await;
    let requests = Arc::new(Requests::default());
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("client builder")
        .with_layer(&Counting(requests.clone()))
        .build();
    (client, requests)
}

/// Makes a client whose next status PATCH reaches the server but whose
/// response is lost on the way back, as with a dropped connection.
#[derive(Clone, Default)]
pub struct DropNextStatusReply {
    armed: Arc<std::sync::atomic::AtomicBool>,
    dropping: Arc<std::sync::atomic::AtomicBool>,
}

impl DropNextStatusReply {
    /// The next status PATCH loses its response.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// A client of its own with this fault.
    pub async fn client(&self) -> Client {
        let config = local_config().await;
        let (armed, dropping) = (self.armed.clone(), self.dropping.clone());
        let mark =
            tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
                let status_patch = request.method() == http::Method::PATCH
                    && request.uri().path().ends_with("/status");
                if status_patch && armed.swap(false, Ordering::SeqCst) {
                    dropping.store(true, Ordering::SeqCst);
                }
                request
            });
        let dropping = self.dropping.clone();
        let lose = tower::util::AndThenLayer::new(move |response| {
            let lost = dropping.swap(false, Ordering::SeqCst);
            async move {
                if lost {
                    Err(tower::BoxError::from("the response was lost"))
                } else {
                    Ok(response)
                }
            }
        });
        kube::client::ClientBuilder::try_from(config)
            .expect("client builder")
            .with_layer(&lose)
            .with_layer(&mark)
            .build()
    }
}

/// What the client's writes stored, read from their responses: per object
/// UID, the highest resourceVersion (ground truth for "the process's own
/// last write", independent of what the code under test remembers).
#[derive(Default)]
pub struct Written(Mutex<std::collections::HashMap<String, u64>>);

impl Written {
    /// The highest resourceVersion a write of this client stored for `uid`.
    pub fn last(&self, uid: &str) -> Option<u64> {
        self.0.lock().unwrap().get(uid).copied()
    }

    fn record(&self, body: &[u8]) {
        let Ok(object) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        let meta = &object["metadata"];
        let (Some(uid), Some(rv)) = (
            meta["uid"].as_str(),
            meta["resourceVersion"]
                .as_str()
                .and_then(|rv| rv.parse::<u64>().ok()),
        ) else {
            return;
        };
        let mut written = self.0.lock().unwrap();
        let last = written.entry(uid.to_owned()).or_insert(rv);
        *last = (*last).max(rv);
    }
}

type BoxBody = http_body_util::combinators::UnsyncBoxBody<
    bytes::Bytes,
    Box<dyn std::error::Error + Send + Sync>,
>;

/// Delays every event of the client's watches by `delay` (in order, as a
/// lagging informer delivers them), and records what its writes stored.
#[derive(Clone)]
struct Lag {
    delay: Duration,
    written: Arc<Written>,
}

impl<S> tower::Layer<S> for Lag {
    type Service = Lagged<S>;
    fn layer(&self, inner: S) -> Lagged<S> {
        Lagged {
            inner,
            lag: self.clone(),
        }
    }
}

#[derive(Clone)]
struct Lagged<S> {
    inner: S,
    lag: Lag,
}

impl<S, B> tower::Service<http::Request<kube::client::Body>> for Lagged<S>
where
    S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<BoxBody>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        use http_body_util::BodyExt;
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        let write = request.method() != http::Method::GET;
        let lag = self.lag.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let (parts, body) = response.await?.into_parts();
            let body: BoxBody = if watch && !lag.delay.is_zero() {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                tokio::spawn(async move {
                    let mut body = std::pin::pin!(body);
                    while let Some(frame) = body.frame().await {
                        let due = tokio::time::Instant::now() + lag.delay;
                        if tx.send((due, frame.map_err(Into::into))).is_err() {
                            break;
                        }
                    }
                });
                let frames = futures::stream::unfold(rx, |mut rx| async move {
                    let (due, frame) = rx.recv().await?;
                    tokio::time::sleep_until(due).await;
                    Some((frame, rx))
                });
                http_body_util::StreamBody::new(frames).boxed_unsync()
            } else if write && parts.status.is_success() {
                let bytes = match body.collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(e) => {
                        let error: Box<dyn std::error::Error + Send + Sync> = e.into();
                        let failed = futures::stream::once(async move {
                            Err::<http_body::Frame<bytes::Bytes>, _>(error)
                        });
                        let body = http_body_util::StreamBody::new(failed).boxed_unsync();
                        return Ok(http::Response::from_parts(parts, body));
                    }
                };
                lag.written.record(&bytes);
                http_body_util::Full::new(bytes)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            } else {
                body.map_err(Into::into).boxed_unsync()
            };
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

/// A counting client (see [`counting_client`]) whose watch events arrive
/// `delay` late, and what its writes stored.
pub async fn lagging_client(delay: Duration) -> (Client, Arc<Requests>, Arc<Written>) {
    let config = local_config().await;
    let requests = Arc::new(Requests::default());
    let written = Arc::new(Written::default());
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("client builder")
        .with_layer(&Lag {
            delay,
            written: written.clone(),
        })
        .with_layer(&Counting(requests.clone()))
        .build();
    (client, requests, written)
}

/// A counting client (see [`counting_client`]) that can be cut off from
/// the API server: while `cut` is set, its requests fail before they are
/// sent, as across a network partition.
pub async fn cuttable_client() -> (Client, Arc<Requests>, Arc<std::sync::atomic::AtomicBool>) {
    let config = local_config().await;
    let requests = Arc::new(Requests::default());
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switch = cut.clone();
    let filter =
        tower::filter::FilterLayer::new(move |request: http::Request<kube::client::Body>| {
            if switch.load(Ordering::SeqCst) {
                Err(tower::BoxError::from("cut off from the API server"))
            } else {
                Ok(request)
            }
        });
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("client builder")
        .with_layer(&filter)
        .with_layer(&Counting(requests.clone()))
        .build();
    (client, requests, cut)
}
