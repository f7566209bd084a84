//! The AWS JSON 1.0 wire protocol: `POST /` with `x-amz-target: AmazonSQS.<Operation>`.

use super::model::{self, BatchFailure};
use super::rules::{self, MAX_RECEIVE, MAX_WAIT_SECS};
use super::{ReceiveRequest, Sqs, SqsError};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;

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

#[derive(serde::Serialize)]
struct Batch<T> {
    #[serde(rename = "Successful")]
    successful: Vec<T>,
    #[serde(rename = "Failed")]
    failed: Vec<BatchFailure>,
}

#[derive(serde::Serialize)]
struct EntryId {
    #[serde(rename = "Id")]
    id: String,
}

#[derive(serde::Serialize)]
struct Messages {
    #[serde(rename = "Messages")]
    messages: Vec<super::model::Received>,
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

fn failure(id: String, e: &SqsError) -> BatchFailure {
    BatchFailure {
        id,
        sender_fault: e.is_sender_fault(),
        code: e.code().into(),
        message: e.to_string(),
    }
}

async fn dispatch(sqs: &Sqs, op: &str, body: &Bytes) -> Result<String, SqsError> {
    match op {
        "CreateQueue" => {
            let r: model::CreateQueue = parse(body)?;
            let name = required(r.queue_name, "QueueName")?;
            let url = sqs.create_queue(&name, r.attributes, r.tags).await?;
            out(&json!({ "QueueUrl": url }))
        }
        "GetQueueUrl" => {
            let r: model::QueueName = parse(body)?;
            let url = sqs
                .get_queue_url(&required(r.queue_name, "QueueName")?)
                .await?;
            out(&json!({ "QueueUrl": url }))
        }
        "ListQueues" => {
            let r: model::ListQueues = parse(body)?;
            let names = sqs
                .list_queues(r.queue_name_prefix.as_deref().unwrap_or_default())
                .await?;
            let max = match r.max_results {
                Some(m) if !(1..=1000).contains(&m) => {
                    return Err(SqsError::InvalidParameterValue(
                        "Value for parameter MaxResults is invalid. Reason: must be between 1 and 1000.".into(),
                    ));
                }
                Some(m) => m as usize,
                None => 1000,
            };
            let start = r
                .next_token
                .as_deref()
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0);
            let page: Vec<String> = names
                .iter()
                .skip(start)
                .take(max)
                .map(|n| sqs.queue_url(n))
                .collect();
            let mut list = json!({ "QueueUrls": page });
            let end = start.saturating_add(max);
            if r.max_results.is_some() && end < names.len() {
                list["NextToken"] = end.to_string().into();
            }
            out(&list)
        }
        "GetQueueAttributes" => {
            let r: model::GetQueueAttributes = parse(body)?;
            let name = queue_of(r.queue_url)?;
            let attrs = sqs.get_attributes(&name, r.attribute_names).await?;
            if attrs.is_empty() {
                out(&json!({}))
            } else {
                out(&json!({ "Attributes": attrs }))
            }
        }
        "SetQueueAttributes" => {
            let r: model::SetQueueAttributes = parse(body)?;
            sqs.set_attributes(&queue_of(r.queue_url)?, r.attributes)
                .await?;
            out(&json!({}))
        }
        "DeleteQueue" => {
            let r: model::QueueUrl = parse(body)?;
            sqs.delete_queue(&queue_of(r.queue_url)?).await?;
            out(&json!({}))
        }
        "PurgeQueue" => {
            let r: model::QueueUrl = parse(body)?;
            sqs.purge(&queue_of(r.queue_url)?).await?;
            out(&json!({}))
        }
        "SendMessage" => {
            let r: model::SendMessage = parse(body)?;
            let name = queue_of(r.queue_url)?;
            let mut results = sqs.send(&name, vec![r.entry]).await?;
            let sent = results
                .pop()
                .ok_or_else(|| SqsError::Internal("no result for the message".into()))??;
            out(&sent)
        }
        "SendMessageBatch" => {
            let r: model::SendMessageBatch = parse(body)?;
            let name = queue_of(r.queue_url)?;
            rules::check_batch_ids(
                r.entries.iter().map(|e| e.id.as_deref()),
                "SendMessageBatch",
            )?;
            rules::check_batch_size(&r.entries)?;
            let ids: Vec<String> = r
                .entries
                .iter()
                .map(|e| e.id.clone().unwrap_or_default())
                .collect();
            let results = sqs.send(&name, r.entries).await?;
            let (mut ok, mut failed) = (Vec::new(), Vec::new());
            for (id, result) in ids.into_iter().zip(results) {
                match result {
                    Ok(sent) => ok.push(sent),
                    Err(e) => failed.push(failure(id, &e)),
                }
            }
            out(&Batch {
                successful: ok,
                failed,
            })
        }
        "ReceiveMessage" => {
            let r: model::ReceiveMessage = parse(body)?;
            let name = queue_of(r.queue_url)?;
            let max = r.max_number_of_messages.unwrap_or(1);
            if !(1..=MAX_RECEIVE).contains(&max) {
                return Err(SqsError::InvalidParameterValue(format!(
                    "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and {MAX_RECEIVE}, if provided."
                )));
            }
            if let Some(v) = r.visibility_timeout
                && !(0..=rules::MAX_VISIBILITY_SECS).contains(&v)
            {
                return Err(SqsError::InvalidParameterValue(format!(
                    "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and {}, if provided.",
                    rules::MAX_VISIBILITY_SECS
                )));
            }
            let wait = match r.wait_time_seconds {
                Some(w) if !(0..=MAX_WAIT_SECS).contains(&w) => {
                    return Err(SqsError::InvalidParameterValue(format!(
                        "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= {MAX_WAIT_SECS}, if provided."
                    )));
                }
                Some(w) => w,
                None => sqs.config(&name).await?.wait_secs,
            };
            let mut attribute_names = r.attribute_names;
            attribute_names.extend(r.message_system_attribute_names);
            let req = ReceiveRequest {
                max,
                visibility: r.visibility_timeout,
                attribute_names,
                message_attribute_names: r.message_attribute_names,
            };
            let messages = sqs
                .receive(&name, req, Duration::from_secs(wait as u64))
                .await?;
            if messages.is_empty() {
                out(&json!({}))
            } else {
                out(&Messages { messages })
            }
        }
        "DeleteMessage" => {
            let r: model::DeleteMessage = parse(body)?;
            let name = queue_of(r.queue_url)?;
            let handle = required(r.receipt_handle, "ReceiptHandle")?;
            for result in sqs.delete(&name, vec![handle]).await? {
                result?;
            }
            out(&json!({}))
        }
        "DeleteMessageBatch" => {
            let r: model::HandleBatch = parse(body)?;
            let name = queue_of(r.queue_url)?;
            rules::check_batch_ids(
                r.entries.iter().map(|e| e.id.as_deref()),
                "DeleteMessageBatch",
            )?;
            let mut ids = Vec::new();
            let mut handles = Vec::new();
            let mut failed = Vec::new();
            for e in r.entries {
                let id = e.id.unwrap_or_default();
                match e.receipt_handle {
                    Some(h) => {
                        ids.push(id);
                        handles.push(h);
                    }
                    None => failed.push(failure(
                        id,
                        &SqsError::MissingParameter("ReceiptHandle".into()),
                    )),
                }
            }
            let mut ok = Vec::new();
            for (id, result) in ids.into_iter().zip(sqs.delete(&name, handles).await?) {
                match result {
                    Ok(_) => ok.push(EntryId { id }),
                    Err(e) => failed.push(failure(id, &e)),
                }
            }
            out(&Batch {
                successful: ok,
                failed,
            })
        }
        "ChangeMessageVisibility" => {
            let r: model::ChangeVisibility = parse(body)?;
            let name = queue_of(r.queue_url)?;
            let handle = required(r.receipt_handle, "ReceiptHandle")?;
            let timeout = required(r.visibility_timeout, "VisibilityTimeout")?;
            for result in sqs
                .change_visibility(&name, vec![(handle, timeout)])
                .await?
            {
                result?;
            }
            out(&json!({}))
        }
        "ChangeMessageVisibilityBatch" => {
            let r: model::HandleBatch = parse(body)?;
            let name = queue_of(r.queue_url)?;
            rules::check_batch_ids(
                r.entries.iter().map(|e| e.id.as_deref()),
                "ChangeMessageVisibilityBatch",
            )?;
            let mut ids = Vec::new();
            let mut entries = Vec::new();
            let mut failed = Vec::new();
            for e in r.entries {
                let id = e.id.unwrap_or_default();
                match (e.receipt_handle, e.visibility_timeout) {
                    (Some(h), Some(t)) => {
                        ids.push(id);
                        entries.push((h, t));
                    }
                    (None, _) => failed.push(failure(
                        id,
                        &SqsError::MissingParameter("ReceiptHandle".into()),
                    )),
                    (_, None) => failed.push(failure(
                        id,
                        &SqsError::MissingParameter("VisibilityTimeout".into()),
                    )),
                }
            }
            let mut ok = Vec::new();
            for (id, result) in ids
                .into_iter()
                .zip(sqs.change_visibility(&name, entries).await?)
            {
                match result {
                    Ok(()) => ok.push(EntryId { id }),
                    Err(e) => failed.push(failure(id, &e)),
                }
            }
            out(&Batch {
                successful: ok,
                failed,
            })
        }
        "ListDeadLetterSourceQueues" => {
            let r: model::QueueUrl = parse(body)?;
            let names = sqs.dead_letter_sources(&queue_of(r.queue_url)?).await?;
            let urls: Vec<String> = names.iter().map(|n| sqs.queue_url(n)).collect();
            out(&json!({ "queueUrls": urls }))
        }
        "StartMessageMoveTask" => {
            let r: model::StartMove = parse(body)?;
            let source = required(r.source_arn, "SourceArn")?;
            if let Some(rate) = r.max_number_of_messages_per_second
                && !(1..=500).contains(&rate)
            {
                return Err(SqsError::InvalidParameterValue(
                    "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: must be between 1 and 500.".into(),
                ));
            }
            let handle = sqs
                .start_move(
                    source,
                    r.destination_arn,
                    r.max_number_of_messages_per_second,
                )
                .await?;
            out(&json!({ "TaskHandle": handle }))
        }
        "ListMessageMoveTasks" => {
            let r: model::ListMoves = parse(body)?;
            let source = required(r.source_arn, "SourceArn")?;
            let tasks = sqs
                .move_tasks(source, r.max_results.unwrap_or(1).clamp(1, 10))
                .await?;
            out(&json!({ "Results": tasks }))
        }
        "CancelMessageMoveTask" => {
            let r: model::TaskHandle = parse(body)?;
            let handle = required(r.task_handle, "TaskHandle")?;
            let moved = sqs.cancel_move(&handle).await?;
            out(&json!({ "ApproximateNumberOfMessagesMoved": moved }))
        }
        "TagQueue" => {
            let r: model::TagQueue = parse(body)?;
            sqs.tag(&queue_of(r.queue_url)?, r.tags, Vec::new()).await?;
            out(&json!({}))
        }
        "UntagQueue" => {
            let r: model::TagQueue = parse(body)?;
            sqs.tag(&queue_of(r.queue_url)?, Default::default(), r.tag_keys)
                .await?;
            out(&json!({}))
        }
        "ListQueueTags" => {
            let r: model::TagQueue = parse(body)?;
            let tags = sqs
                .tag(&queue_of(r.queue_url)?, Default::default(), Vec::new())
                .await?;
            out(&json!({ "Tags": tags }))
        }
        "AddPermission" | "RemovePermission" => Err(SqsError::UnsupportedOperation(format!(
            "{op}: queue policies are not enforced locally; every local client may use every queue."
        ))),
        other => Err(SqsError::UnknownOperation(format!(
            "AmazonSQS.{other} is not an SQS operation."
        ))),
    }
}
