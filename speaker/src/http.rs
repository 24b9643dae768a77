//! The speaker's HTTP endpoint: `/metrics` (Prometheus text) and `/healthz`.
#![forbid(unsafe_code)]

use crate::metrics::Metrics;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use std::net::SocketAddr;

/// The routes, over `metrics`.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(metrics)
}

async fn render(State(metrics): State<Metrics>) -> String {
    metrics.render()
}

/// Serves [`router`] on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, metrics: Metrics) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(metrics)).await
}
