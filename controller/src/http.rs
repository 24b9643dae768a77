//! The HTTP endpoint: `/metrics` (Prometheus text), `/healthz` (the process serves),
//! `/readyz` (config loaded and Services listed).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::watch;

use crate::metrics::Metrics;

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    ready: watch::Receiver<bool>,
}

/// The router, separate from binding so it can be exercised without a socket.
pub fn router(metrics: Metrics, ready: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .with_state(AppState { metrics, ready })
}

/// Serves until the listener fails.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    ready: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(metrics, ready)).await
}

async fn metrics_text(State(s): State<AppState>) -> (StatusCode, String) {
    match s.metrics.encode() {
        Ok(text) => (StatusCode::OK, text),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn readiness(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if *s.ready.borrow() {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for config and the Service list",
        )
    }
}
