//! The dashboard (`GET /` on the SQS endpoint's address), its JSON (`GET /_overtime/state`:
//! queues, functions, schedules, runs, invocations and events), and manual firing (`POST /_overtime/trigger/NAME`, which `overtime trigger` calls).

use crate::dev::Topology;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::sync::Arc;

/// Most runs the dashboard lists.
const RUNS_SHOWN: usize = 50;

/// The dashboard's routes.
pub fn router(topology: Arc<Topology>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/_overtime/state", get(state))
        .route("/_overtime/trigger/{*name}", post(trigger))
        .with_state(topology)
}

async fn page() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

async fn state(State(t): State<Arc<Topology>>) -> Response {
    let queues = t.sqs.stats().await.unwrap_or_default();
    let functions: Vec<_> = t
        .functions
        .values()
        .map(|f| {
            let s = f.spec();
            json!({
                "name": s.name,
                "timeout_s": s.timeout.as_secs(),
                "memory_mb": s.memory,
                "concurrency": s.concurrency,
                "binary": s.binary.display().to_string(),
            })
        })
        .collect();
    let now = chrono::Utc::now();
    let schedules: Vec<_> = t
        .scheduler
        .as_ref()
        .map(|s| {
            s.triggers()
                .iter()
                .map(|tr| {
                    json!({
                        "name": tr.name,
                        "file": tr.file,
                        "expression": tr.expression,
                        "target": tr.target_name(),
                        "enabled": tr.enabled,
                        "next": tr.schedule.next_after(now),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let runs = match &t.run_store {
        Some(runs) => runs.store.list(RUNS_SHOWN).await.unwrap_or_default(),
        None => Vec::new(),
    };
    axum::Json(json!({
        "endpoint": t.sqs.base_url(),
        "queues": queues,
        "functions": functions,
        "broken": t.broken,
        "mappings": t.mappings,
        "schedules": schedules,
        "invocations": t.log.recent(),
        "runs": runs,
        "events": t.events.as_ref().map(crate::events::Events::activity_snapshot),
    }))
    .into_response()
}

async fn trigger(State(t): State<Arc<Topology>>, Path(name): Path<String>) -> Response {
    let Some(s) = &t.scheduler else {
        return (
            StatusCode::NOT_FOUND,
            "overtime dev runs no schedules (--endpoint-only)",
        )
            .into_response();
    };
    match s.fire(&name).await {
        Ok(msg) => (StatusCode::OK, msg).into_response(),
        Err(e) if e.starts_with("no schedule") => (StatusCode::NOT_FOUND, e).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
    }
}

/// Why `overtime trigger` failed.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// Nothing listens there.
    #[error(
        "cannot reach overtime dev at {addr}: {why} (is `overtime dev` running there? pass --sqs-addr)"
    )]
    Unreachable {
        /// Where.
        addr: String,
        /// Why.
        why: String,
    },
    /// The schedule is unknown or its target failed.
    #[error("{0}")]
    Failed(String),
}

/// Asks a running `overtime dev` to fire a schedule now; its outcome.
pub async fn fire(addr: std::net::SocketAddr, name: &str) -> Result<String, TriggerError> {
    let unreachable = |why: String| TriggerError::Unreachable {
        addr: addr.to_string(),
        why,
    };
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(conn);
    let path: String = name
        .trim_start_matches('/')
        .split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/");
    let req = hyper::Request::post(format!("/_overtime/trigger/{path}"))
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| TriggerError::Failed(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() {
        Ok(text)
    } else {
        Err(TriggerError::Failed(text))
    }
}
