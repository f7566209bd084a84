//! The runtime API one instance's process calls: `/invocation/next` hands it the invocation
//! with its deadline, and its response, error or init error settles the invocation.

use super::Outcome;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};

/// An invocation on its way to an instance: what `/invocation/next` answers with, and where
/// its start and outcome are reported.
pub(super) struct Pending {
    pub(super) id: String,
    pub(super) payload: Bytes,
    pub(super) timeout: Duration,
    /// A deadline fixed before the instance asked (a retried init counts against the
    /// invocation's timeout); otherwise the deadline is `timeout` from the moment it asks.
    pub(super) deadline: Option<Instant>,
    pub(super) arn: String,
    pub(super) started: oneshot::Sender<()>,
    pub(super) reply: oneshot::Sender<Outcome>,
}

/// One instance's runtime API: the invocations waiting for it, those in progress, and its
/// init error.
#[derive(Default)]
pub(super) struct Api {
    pub(super) next: tokio::sync::Mutex<Option<mpsc::Receiver<Pending>>>,
    pub(super) in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    pub(super) init_error: Mutex<Option<String>>,
    pub(super) init_failed: Notify,
}

/// The routes of the runtime API, for this machine's callers only.
pub(super) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api)
        .layer(axum::middleware::from_fn(crate::guard::loopback_only))
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    let mut guard = api.next.lock().await;
    let Some(rx) = guard.as_mut() else {
        return StatusCode::GONE.into_response();
    };
    let Some(p) = rx.recv().await else {
        return StatusCode::GONE.into_response();
    };
    drop(guard);
    let left = p
        .deadline
        .map_or(p.timeout, |d| d.saturating_duration_since(Instant::now()));
    let deadline = chrono::Utc::now().timestamp_millis() + left.as_millis() as i64;
    api.in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(p.id.clone(), p.reply);
    let _ = p.started.send(());
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", p.id.clone());
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put("lambda-runtime-invoked-function-arn", p.arn);
    put(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{};Parent={:016x};Sampled=0",
            chrono::Utc::now().timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..24],
            fastrand::u64(..)
        ),
    );
    put("content-type", "application/json".into());
    (headers, p.payload).into_response()
}

fn settle(api: &Api, id: &str, outcome: Outcome) -> Response {
    let reply = api
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match reply {
        Some(r) => {
            let _ = r.send(outcome);
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({"status": "OK"})),
            )
                .into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "errorType": "InvalidRequestID",
                "errorMessage": format!("no invocation {id} is in progress"),
            })),
        )
            .into_response(),
    }
}

/// The largest response a function may return: Lambda's limit for a synchronous invocation.
const MAX_RESPONSE_BYTES: usize = overtime::limits::LAMBDA_MAX_PAYLOAD_BYTES;

async fn response(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Body,
) -> Response {
    match axum::body::to_bytes(body, MAX_RESPONSE_BYTES).await {
        Ok(body) => settle(&api, &id, Outcome::Ok(body)),
        Err(e) => {
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let (error_type, message) = if too_large {
                (
                    "Function.ResponseSizeTooLarge",
                    format!(
                        "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                    ),
                )
            } else {
                (
                    "Runtime.ResponseNotRead",
                    "the response body could not be read".to_owned(),
                )
            };
            // The invocation fails at once, as on Lambda, rather than at its timeout.
            settle(
                &api,
                &id,
                Outcome::Error {
                    error_type: error_type.into(),
                    message: message.clone(),
                },
            );
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(serde_json::json!({
                    "errorType": "RequestEntityTooLarge",
                    "errorMessage": message,
                })),
            )
                .into_response()
        }
    }
}

async fn error(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    // The body's errorType, else the runtime's Lambda-Runtime-Function-Error-Type header.
    let header = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|h| h.to_str().ok());
    let outcome = Outcome::Error {
        error_type: v["errorType"]
            .as_str()
            .or(header)
            .unwrap_or("Unhandled")
            .to_owned(),
        message: v["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
    };
    settle(&api, &id, outcome)
}

async fn init_error(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let why = format!(
        "{}: {}",
        v["errorType"].as_str().unwrap_or("Runtime.Unknown"),
        v["errorMessage"].as_str().unwrap_or_default()
    );
    *api.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    api.init_failed.notify_one();
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}
