//! The HTTP endpoint of both binaries: `/metrics` (Prometheus text of a registry),
//! `/healthz` (the process serves) and, when a readiness signal is given, `/readyz`.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::sync::watch;

/// Readiness, as `/readyz` reports it.
#[derive(Clone, Debug)]
pub enum Readiness {
    /// Ready once the flag is true; until then `/readyz` says `waiting_for`.
    Flag {
        /// True once ready.
        ready: watch::Receiver<bool>,
        /// The body while not ready.
        waiting_for: &'static str,
    },
    /// `None` once ready; else what is missing or awaited, the body of `/readyz`.
    Missing(watch::Receiver<Option<String>>),
}

impl Readiness {
    /// `None` when ready, else why not.
    pub fn missing(&self) -> Option<String> {
        match self {
            Readiness::Flag { ready, .. } if *ready.borrow() => None,
            Readiness::Flag { waiting_for, .. } => Some((*waiting_for).to_owned()),
            Readiness::Missing(m) => m.borrow().clone(),
        }
    }
}

#[derive(Clone)]
struct AppState {
    registry: Registry,
    readiness: Option<Readiness>,
}

/// The text exposition of every metric in `registry`.
pub fn encode(registry: &Registry) -> Result<String, prometheus::Error> {
    let mut buf = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buf)?;
    String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

/// The router, separate from binding so it can be exercised without a socket. `/readyz`
/// exists only with `readiness`.
pub fn router(registry: Registry, readiness: Option<Readiness>) -> Router {
    let with_ready = readiness.is_some();
    let router = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }));
    let router = if with_ready {
        router.route("/readyz", get(ready))
    } else {
        router
    };
    router.with_state(AppState {
        registry,
        readiness,
    })
}

/// Serves [`router`] on `addr` until the listener fails (or the task is dropped).
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    readiness: Option<Readiness>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(registry, readiness)).await
}

async fn metrics_text(State(s): State<AppState>) -> (StatusCode, String) {
    match encode(&s.registry) {
        Ok(text) => (StatusCode::OK, text),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn ready(State(s): State<AppState>) -> (StatusCode, String) {
    match s.readiness.as_ref().map(Readiness::missing) {
        Some(None) => (StatusCode::OK, "ready".to_owned()),
        Some(Some(why)) => (StatusCode::SERVICE_UNAVAILABLE, why),
        None => (StatusCode::NOT_FOUND, "not found".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_renders_registered_metrics() {
        let registry = Registry::new();
        let g = prometheus::IntGauge::new("ironlb_test_gauge", "a test").unwrap();
        registry.register(Box::new(g.clone())).unwrap();
        g.set(3);
        let text = encode(&registry).unwrap();
        assert!(text.contains("ironlb_test_gauge 3"), "{text}");
    }

    #[test]
    fn readiness_says_what_is_missing() {
        let (flag_tx, flag) = watch::channel(false);
        let r = Readiness::Flag {
            ready: flag,
            waiting_for: "waiting for config",
        };
        assert_eq!(r.missing().as_deref(), Some("waiting for config"));
        flag_tx.send_replace(true);
        assert_eq!(r.missing(), None);
        let (why_tx, why) = watch::channel(Some("no packet socket".to_owned()));
        let r = Readiness::Missing(why);
        assert_eq!(r.missing().as_deref(), Some("no packet socket"));
        why_tx.send_replace(None);
        assert_eq!(r.missing(), None);
    }
}
