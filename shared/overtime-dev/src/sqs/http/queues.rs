//! The queue operations on the wire: create, find, list, attributes, delete, purge, tags.

use super::{out, queue_of, required};
use crate::sqs::model;
use crate::sqs::{Sqs, SqsError};
use serde_json::json;

/// CreateQueue: the queue's URL.
pub(super) async fn create_queue(sqs: &Sqs, r: model::CreateQueue) -> Result<String, SqsError> {
    let name = required(r.queue_name, "QueueName")?;
    let url = sqs.create_queue(&name, r.attributes, r.tags).await?;
    out(&json!({ "QueueUrl": url }))
}

/// GetQueueUrl.
pub(super) async fn get_queue_url(sqs: &Sqs, r: model::QueueName) -> Result<String, SqsError> {
    let url = sqs
        .get_queue_url(&required(r.queue_name, "QueueName")?)
        .await?;
    out(&json!({ "QueueUrl": url }))
}

/// ListQueues: URLs of the queues named with the prefix, a page of `MaxResults` at a time
/// when it is given.
pub(super) async fn list_queues(sqs: &Sqs, r: model::ListQueues) -> Result<String, SqsError> {
    let names = sqs
        .list_queues(r.queue_name_prefix.as_deref().unwrap_or_default())
        .await?;
    let max = match r.max_results {
        Some(m) if !(1..=1000).contains(&m) => {
            return Err(SqsError::InvalidParameterValue(
                "Value for parameter MaxResults is invalid. Reason: must be between 1 and 1000."
                    .into(),
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

/// GetQueueAttributes: the attributes asked for (none: no `Attributes` at all).
pub(super) async fn get_queue_attributes(
    sqs: &Sqs,
    r: model::GetQueueAttributes,
) -> Result<String, SqsError> {
    let name = queue_of(r.queue_url)?;
    let attrs = sqs.get_attributes(&name, r.attribute_names).await?;
    if attrs.is_empty() {
        out(&json!({}))
    } else {
        out(&json!({ "Attributes": attrs }))
    }
}

/// SetQueueAttributes.
pub(super) async fn set_queue_attributes(
    sqs: &Sqs,
    r: model::SetQueueAttributes,
) -> Result<String, SqsError> {
    sqs.set_attributes(&queue_of(r.queue_url)?, r.attributes)
        .await?;
    out(&json!({}))
}

/// DeleteQueue.
pub(super) async fn delete_queue(sqs: &Sqs, r: model::QueueUrl) -> Result<String, SqsError> {
    sqs.delete_queue(&queue_of(r.queue_url)?).await?;
    out(&json!({}))
}

/// PurgeQueue.
pub(super) async fn purge_queue(sqs: &Sqs, r: model::QueueUrl) -> Result<String, SqsError> {
    sqs.purge(&queue_of(r.queue_url)?).await?;
    out(&json!({}))
}

/// TagQueue.
pub(super) async fn tag_queue(sqs: &Sqs, r: model::TagQueue) -> Result<String, SqsError> {
    sqs.tag(&queue_of(r.queue_url)?, r.tags, Vec::new()).await?;
    out(&json!({}))
}

/// UntagQueue.
pub(super) async fn untag_queue(sqs: &Sqs, r: model::TagQueue) -> Result<String, SqsError> {
    sqs.tag(&queue_of(r.queue_url)?, Default::default(), r.tag_keys)
        .await?;
    out(&json!({}))
}

/// ListQueueTags.
pub(super) async fn list_queue_tags(sqs: &Sqs, r: model::TagQueue) -> Result<String, SqsError> {
    let tags = sqs
        .tag(&queue_of(r.queue_url)?, Default::default(), Vec::new())
        .await?;
    out(&json!({ "Tags": tags }))
}
