//! The dead-letter operations on the wire: which queues dead-letter to one, and the message
//! move tasks that move its messages back.

use super::{out, queue_of, required};
use crate::sqs::model;
use crate::sqs::{Sqs, SqsError};
use serde_json::json;

/// ListDeadLetterSourceQueues: URLs of the queues that dead-letter to this one.
pub(super) async fn list_dead_letter_source_queues(
    sqs: &Sqs,
    r: model::QueueUrl,
) -> Result<String, SqsError> {
    let names = sqs.dead_letter_sources(&queue_of(r.queue_url)?).await?;
    let urls: Vec<String> = names.iter().map(|n| sqs.queue_url(n)).collect();
    out(&json!({ "queueUrls": urls }))
}

/// StartMessageMoveTask: the task's handle.
pub(super) async fn start_message_move_task(
    sqs: &Sqs,
    r: model::StartMove,
) -> Result<String, SqsError> {
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

/// ListMessageMoveTasks: a source's tasks, newest first (1 to 10 of them).
pub(super) async fn list_message_move_tasks(
    sqs: &Sqs,
    r: model::ListMoves,
) -> Result<String, SqsError> {
    let source = required(r.source_arn, "SourceArn")?;
    let tasks = sqs
        .move_tasks(source, r.max_results.unwrap_or(1).clamp(1, 10))
        .await?;
    out(&json!({ "Results": tasks }))
}

/// CancelMessageMoveTask: how many messages the task had moved.
pub(super) async fn cancel_message_move_task(
    sqs: &Sqs,
    r: model::TaskHandle,
) -> Result<String, SqsError> {
    let handle = required(r.task_handle, "TaskHandle")?;
    let moved = sqs.cancel_move(&handle).await?;
    out(&json!({ "ApproximateNumberOfMessagesMoved": moved }))
}
