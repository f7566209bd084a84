//! The message operations on the wire: send, receive, delete and change visibility, one at a
//! time or in batches.

use super::{out, queue_of, required};
use crate::sqs::model::{self, BatchFailure};
use crate::sqs::rules::{self, MAX_RECEIVE, MAX_WAIT_SECS};
use crate::sqs::{ReceiveRequest, Sqs, SqsError};
use serde_json::json;
use std::time::Duration;

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
    messages: Vec<model::Received>,
}

/// SendMessage: the message's id and digests.
pub(super) async fn send_message(sqs: &Sqs, r: model::SendMessage) -> Result<String, SqsError> {
    let name = queue_of(r.queue_url)?;
    let mut results = sqs.send(&name, vec![r.entry]).await?;
    let sent = results
        .pop()
        .ok_or_else(|| SqsError::Internal("no result for the message".into()))??;
    out(&sent)
}

/// SendMessageBatch: each entry sent or failed on its own, once the batch as a whole is
/// valid.
pub(super) async fn send_message_batch(
    sqs: &Sqs,
    r: model::SendMessageBatch,
) -> Result<String, SqsError> {
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

/// ReceiveMessage: up to `MaxNumberOfMessages`, long-polling for `WaitTimeSeconds` (the
/// queue's by default).
pub(super) async fn receive_message(
    sqs: &Sqs,
    r: model::ReceiveMessage,
) -> Result<String, SqsError> {
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

/// DeleteMessage.
pub(super) async fn delete_message(sqs: &Sqs, r: model::DeleteMessage) -> Result<String, SqsError> {
    let name = queue_of(r.queue_url)?;
    let handle = required(r.receipt_handle, "ReceiptHandle")?;
    for result in sqs.delete(&name, vec![handle]).await? {
        result?;
    }
    out(&json!({}))
}

/// DeleteMessageBatch: each entry deleted or failed on its own.
pub(super) async fn delete_message_batch(
    sqs: &Sqs,
    r: model::HandleBatch,
) -> Result<String, SqsError> {
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
    let results = sqs.delete(&name, handles).await?;
    batch_answer(ids, results, failed)
}

/// ChangeMessageVisibility.
pub(super) async fn change_message_visibility(
    sqs: &Sqs,
    r: model::ChangeVisibility,
) -> Result<String, SqsError> {
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

/// ChangeMessageVisibilityBatch: each entry changed or failed on its own.
pub(super) async fn change_message_visibility_batch(
    sqs: &Sqs,
    r: model::HandleBatch,
) -> Result<String, SqsError> {
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
    let results = sqs.change_visibility(&name, entries).await?;
    batch_answer(ids, results, failed)
}

/// A handle batch's answer: each entry id with its own result, after the entries refused
/// before the call.
fn batch_answer<T>(
    ids: Vec<String>,
    results: Vec<Result<T, SqsError>>,
    mut failed: Vec<BatchFailure>,
) -> Result<String, SqsError> {
    let mut successful = Vec::new();
    for (id, result) in ids.into_iter().zip(results) {
        match result {
            Ok(_) => successful.push(EntryId { id }),
            Err(e) => failed.push(failure(id, &e)),
        }
    }
    out(&Batch { successful, failed })
}

fn failure(id: String, e: &SqsError) -> BatchFailure {
    BatchFailure {
        id,
        sender_fault: e.is_sender_fault(),
        code: e.code().into(),
        message: e.to_string(),
    }
}
