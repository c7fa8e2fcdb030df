//! The operator's HTTP endpoints, for the kubelet's probes and Prometheus:
//!
//! - `GET /healthz`: `200 ok` while the process serves requests (liveness);
//! - `GET /readyz`: `200 ready` once the controller runs and its watch has
//!   listed every PostgresWriter, `503 starting` before, `503 shutting down`
//!   from the moment a shutdown is requested ([`Health`]);
//! - `GET /metrics`: [`Metrics::encode`], in the OpenMetrics text format.
//!
//! ```
//! use axum::body::{Body, to_bytes};
//! use axum::http::{Request, StatusCode};
//! use konditions_examples::postgres_writer::{Health, Metrics, endpoints};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (metrics, health) = (Metrics::default(), Health::default());
//! let router = endpoints::router(metrics.clone(), health.clone());
//! let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
//!
//! let starting = router.clone().oneshot(get("/readyz")).await.unwrap();
//! assert_eq!(starting.status(), StatusCode::SERVICE_UNAVAILABLE);
//! health.mark_synced();
//! let ready = router.clone().oneshot(get("/readyz")).await.unwrap();
//! assert_eq!(ready.status(), StatusCode::OK);
//!
//! metrics.reconciled("ok", std::time::Duration::from_millis(5));
//! let scrape = router.oneshot(get("/metrics")).await.unwrap();
//! let text = to_bytes(scrape.into_body(), usize::MAX).await.unwrap();
//! let text = String::from_utf8_lossy(&text);
//! assert!(text.contains("postgres_writer_reconciles_total{result=\"ok\"} 1"), "{text}");
//! # }
//! ```
//!
//! In the operator, [`serve`] runs the router on a listener (`METRICS_ADDR`,
//! default `0.0.0.0:8080`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::{Health, Metrics, Phase};

/// The content type of `/metrics`: prometheus-client writes OpenMetrics
/// text (counters are suffixed `_total`, the body ends with `# EOF`).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The default address of the endpoints (`METRICS_ADDR`).
pub const DEFAULT_ADDR: &str = "0.0.0.0:8080";

#[derive(Clone)]
struct Shared {
    metrics: Metrics,
    health: Health,
}

/// The routes `/healthz`, `/readyz` and `/metrics`, reading `metrics` and
/// `health` on every request.
pub fn router(metrics: Metrics, health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics_text))
        .with_state(Shared { metrics, health })
}

/// Serves [`router`] on `listener` until the process exits.
///
/// The endpoints keep answering during a graceful shutdown: `/healthz`
/// stays `200` (the process is alive and finishing its work), `/readyz` is
/// `503`.
///
/// ```no_run
/// use konditions_examples::postgres_writer::{Health, Metrics, endpoints};
/// # async fn demo() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind(endpoints::DEFAULT_ADDR).await?;
/// endpoints::serve(listener, Metrics::default(), Health::default()).await
/// # }
/// ```
pub async fn serve(listener: TcpListener, metrics: Metrics, health: Health) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, health)).await
}

async fn readiness(State(shared): State<Shared>) -> impl IntoResponse {
    let phase = shared.health.phase();
    let code = if phase == Phase::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, format!("{}\n", phase.as_str()))
}

async fn metrics_text(State(shared): State<Shared>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        shared.metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get_path(router: &Router, path: &str) -> (StatusCode, String, Option<String>) {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (
            status,
            String::from_utf8(body.to_vec()).unwrap(),
            content_type,
        )
    }

    #[tokio::test]
    async fn readiness_follows_the_phase_and_liveness_does_not() {
        let health = Health::default();
        let router = router(Metrics::default(), health.clone());
        let expected = [
            (None, StatusCode::SERVICE_UNAVAILABLE, "starting\n"),
            (Some(Phase::Ready), StatusCode::OK, "ready\n"),
            (
                Some(Phase::ShuttingDown),
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting down\n",
            ),
        ];
        for (phase, code, body) in expected {
            match phase {
                Some(Phase::Ready) => health.mark_synced(),
                Some(Phase::ShuttingDown) => health.mark_shutting_down(),
                _ => {}
            }
            assert_eq!(
                get_path(&router, "/readyz").await,
                (code, body.into(), Some("text/plain; charset=utf-8".into()))
            );
            let (live, _, _) = get_path(&router, "/healthz").await;
            assert_eq!(live, StatusCode::OK, "liveness in phase {phase:?}");
        }
    }

    #[tokio::test]
    async fn metrics_are_the_registry_in_openmetrics_text() {
        let metrics = Metrics::default();
        metrics.reconciled("ok", std::time::Duration::from_millis(3));
        let router = router(metrics.clone(), Health::default());
        let (code, body, content_type) = get_path(&router, "/metrics").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(METRICS_CONTENT_TYPE));
        assert_eq!(body, metrics.encode());
        assert!(
            body.contains("postgres_writer_reconciles_total{result=\"ok\"} 1"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        let router = router(Metrics::default(), Health::default());
        let (code, _, _) = get_path(&router, "/debug").await;
        assert_eq!(code, StatusCode::NOT_FOUND);
    }
}
