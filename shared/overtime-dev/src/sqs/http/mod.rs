//! The AWS JSON 1.0 wire protocol: `POST /` with `x-amz-target: AmazonSQS.<Operation>`.
//!
//! Each operation is a function taking its request, by family: `queues`, `messages` and
//! `moves` (dead-letter queues and message move tasks).

mod messages;
mod moves;
mod queues;

use super::rules;
use super::{Sqs, SqsError};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;

/// The largest request body read: a 1 MiB batch, JSON-escaped, with room to spare. Larger
/// bodies are refused with SQS's size error before they are parsed.
const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// The SQS routes: `POST` anywhere with an `x-amz-target`.
pub fn router(sqs: Sqs) -> Router {
    Router::new()
        .route("/", post(handle))
        .route("/{*path}", post(handle))
        .with_state(sqs)
}

async fn handle(State(sqs): State<Sqs>, req: Request) -> Response {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let op = match target.as_deref().and_then(|t| t.strip_prefix("AmazonSQS.")) {
        Some(op) => op.to_owned(),
        None if form => {
            return SqsError::UnsupportedOperation(
                "This endpoint speaks SQS's AWS JSON 1.0 protocol (x-amz-target: AmazonSQS.*), not the query protocol: use aws-sdk-sqs 1.x, boto3 >= 1.34.90 or AWS CLI >= 2.15.".into(),
            )
            .into_response();
        }
        None => {
            return SqsError::UnknownOperation(format!(
                "Missing or unknown x-amz-target {:?}: SQS operations are named AmazonSQS.<Operation>.",
                target.unwrap_or_default()
            ))
            .into_response();
        }
    };
    let body = match axum::body::to_bytes(req.into_body(), MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => return too_long(&op).into_response(),
    };
    let span = tracing::debug_span!("sqs", op = %op);
    let _enter = span.enter();
    match dispatch(&sqs, &op, &body).await {
        Ok(v) => {
            let mut r = Response::new(Body::from(v));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            r
        }
        Err(e) => {
            tracing::debug!(error = %e, "request refused");
            e.into_response()
        }
    }
}

/// The error for a request body over [`MAX_REQUEST_BYTES`], as the operation would report a
/// message or batch that is too long.
fn too_long(op: &str) -> SqsError {
    let limit = rules::MAX_MESSAGE_BYTES as usize;
    match op {
        "SendMessageBatch" => SqsError::BatchRequestTooLong {
            size: MAX_REQUEST_BYTES + 1,
            limit,
        },
        "SendMessage" => SqsError::InvalidParameterValue(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )),
        _ => SqsError::InvalidParameterValue(format!(
            "The request body is over {MAX_REQUEST_BYTES} bytes, more than any {op} request needs."
        )),
    }
}

fn out<T: serde::Serialize>(v: &T) -> Result<String, SqsError> {
    serde_json::to_string(v).map_err(|e| SqsError::Internal(e.to_string()))
}

fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, SqsError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        SqsError::Serialization(format!(
            "The request body is not the JSON this operation takes: {e}"
        ))
    })
}

fn required<T>(v: Option<T>, name: &str) -> Result<T, SqsError> {
    v.ok_or_else(|| SqsError::MissingParameter(name.into()))
}

fn queue_of(url: Option<String>) -> Result<String, SqsError> {
    Sqs::queue_name_of_url(&required(url, "QueueUrl")?)
}

/// Runs operation `op` on its request `body`; the response body.
async fn dispatch(sqs: &Sqs, op: &str, body: &Bytes) -> Result<String, SqsError> {
    match op {
        "CreateQueue" => queues::create_queue(sqs, parse(body)?).await,
        "GetQueueUrl" => queues::get_queue_url(sqs, parse(body)?).await,
        "ListQueues" => queues::list_queues(sqs, parse(body)?).await,
        "GetQueueAttributes" => queues::get_queue_attributes(sqs, parse(body)?).await,
        "SetQueueAttributes" => queues::set_queue_attributes(sqs, parse(body)?).await,
        "DeleteQueue" => queues::delete_queue(sqs, parse(body)?).await,
        "PurgeQueue" => queues::purge_queue(sqs, parse(body)?).await,
        "SendMessage" => messages::send_message(sqs, parse(body)?).await,
        "SendMessageBatch" => messages::send_message_batch(sqs, parse(body)?).await,
        "ReceiveMessage" => messages::receive_message(sqs, parse(body)?).await,
        "DeleteMessage" => messages::delete_message(sqs, parse(body)?).await,
        "DeleteMessageBatch" => messages::delete_message_batch(sqs, parse(body)?).await,
        "ChangeMessageVisibility" => messages::change_message_visibility(sqs, parse(body)?).await,
        "ChangeMessageVisibilityBatch" => {
            messages::change_message_visibility_batch(sqs, parse(body)?).await
        }
        "ListDeadLetterSourceQueues" => {
            moves::list_dead_letter_source_queues(sqs, parse(body)?).await
        }
        "StartMessageMoveTask" => moves::start_message_move_task(sqs, parse(body)?).await,
        "ListMessageMoveTasks" => moves::list_message_move_tasks(sqs, parse(body)?).await,
        "CancelMessageMoveTask" => moves::cancel_message_move_task(sqs, parse(body)?).await,
        "TagQueue" => queues::tag_queue(sqs, parse(body)?).await,
        "UntagQueue" => queues::untag_queue(sqs, parse(body)?).await,
        "ListQueueTags" => queues::list_queue_tags(sqs, parse(body)?).await,
        "AddPermission" | "RemovePermission" => Err(SqsError::UnsupportedOperation(format!(
            "{op}: queue policies are not enforced locally; every local client may use every queue."
        ))),
        other => Err(SqsError::UnknownOperation(format!(
            "AmazonSQS.{other} is not an SQS operation."
        ))),
    }
}
