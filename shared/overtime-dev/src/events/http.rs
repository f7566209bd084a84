//! The AWS JSON 1.1 wire protocol: `POST /` with `x-amz-target: AWSEvents.<Operation>`, as a
//! middleware in front of the SQS routes, so one address serves both.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Events, EventsError, put};

const TARGET_PREFIX: &str = "AWSEvents.";

/// The largest request body read: a PutEvents of 256 KiB, JSON-escaped, with room to spare.
const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// Axum middleware: answers EventBridge's operations, passes everything else on.
pub async fn intercept(State(events): State<Events>, req: Request, next: Next) -> Response {
    let op = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .map(str::to_owned);
    let Some(op) = op else {
        return next.run(req).await;
    };
    let body = match axum::body::to_bytes(req.into_body(), MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return EventsError::Validation(format!(
                "The request is over {MAX_REQUEST_BYTES} bytes; PutEvents takes at most 256 KiB of entries."
            ))
            .into_response();
        }
    };
    let span = tracing::debug_span!("eventbridge", op = %op);
    let _enter = span.enter();
    match dispatch(&events, &op, &body).await {
        Ok(v) => {
            let mut r = Response::new(Body::from(v.to_string()));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            r
        }
        Err(e) => {
            tracing::debug!(error = %e, "request refused");
            e.into_response()
        }
    }
}

fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, EventsError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        EventsError::Serialization(format!(
            "The request body is not the JSON this operation takes: {e}"
        ))
    })
}

async fn dispatch(events: &Events, op: &str, body: &Bytes) -> Result<Value, EventsError> {
    match op {
        "CreateEventBus" => events.create_event_bus(parse(body)?),
        "DescribeEventBus" => events.describe_event_bus(parse(body)?),
        "ListEventBuses" => events.list_event_buses(parse(body)?),
        "DeleteEventBus" => events.delete_event_bus(parse(body)?),
        "PutRule" => events.put_rule(parse(body)?),
        "DescribeRule" => events.describe_rule(parse(body)?),
        "ListRules" => events.list_rules(parse(body)?),
        "EnableRule" => events.set_rule_state(parse(body)?, "ENABLED"),
        "DisableRule" => events.set_rule_state(parse(body)?, "DISABLED"),
        "DeleteRule" => events.delete_rule(parse(body)?),
        "PutTargets" => events.put_targets(parse(body)?),
        "RemoveTargets" => events.remove_targets(parse(body)?),
        "ListTargetsByRule" => events.list_targets_by_rule(parse(body)?),
        "PutEvents" => events.put_events(parse(body)?).await,
        "TestEventPattern" => put::test_event_pattern(parse(body)?),
        other => Err(EventsError::UnknownOperation(format!(
            "AWSEvents.{other} is not served by overtime dev; it serves buses, rules, targets, PutEvents and TestEventPattern."
        ))),
    }
}
