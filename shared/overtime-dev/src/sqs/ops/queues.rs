//! The queue operations: create, set and get attributes, list, delete, purge and tag.

use super::retention::sweep;
use crate::sqs::SqsError;
use crate::sqs::rules;
use crate::sqs::state::{Change, QueueRow, QueueState, State, now_ms};
use std::collections::BTreeMap;

/// SQS allows one purge a minute per queue.
const PURGE_INTERVAL_MS: i64 = 60_000;

/// Creates a queue, or returns the existing one when the given attributes agree with it.
pub(crate) fn create_queue(
    state: &mut State,
    name: &str,
    given: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> Result<(), SqsError> {
    let fifo = given
        .get("FifoQueue")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    rules::check_queue_name(name, fifo)?;
    let (attributes, config) = rules::merge_attributes(&BTreeMap::new(), given, true)?;
    if let Some(existing) = state.queues.get(name) {
        // Compared as GetQueueAttributes shows them, defaults filled in: an attribute given
        // with its default value matches an unset one, and any other value does not.
        let current = settable_view(&existing.row.attributes, &existing.row.config);
        let wanted = settable_view(&attributes, &config);
        if let Some(k) = given
            .keys()
            .find(|k| current.get(k.as_str()) != wanted.get(k.as_str()))
        {
            return Err(SqsError::QueueNameExists(k.clone()));
        }
        return Ok(());
    }
    check_redrive_target(state, &config)?;
    let now = now_ms();
    let row = QueueRow {
        id: state.queue_id(),
        name: name.to_owned(),
        attributes,
        config,
        tags: tags.clone(),
        created_ms: now,
        modified_ms: now,
        purged_ms: 0,
    };
    state.log.push(Change::PutQueue(row.clone()));
    state.queues.insert(name.to_owned(), QueueState::new(row));
    Ok(())
}

fn check_redrive_target(state: &State, config: &rules::QueueConfig) -> Result<(), SqsError> {
    if let Some((dlq, _)) = &config.redrive {
        let target = state.queue(dlq).map_err(|_| {
            SqsError::InvalidParameterValue(format!(
                "Value {} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.",
                rules::queue_arn(dlq)
            ))
        })?;
        if target.row.config.fifo != config.fifo {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.",
                rules::queue_arn(dlq)
            )));
        }
    }
    Ok(())
}

/// Updates a queue's attributes.
pub(crate) fn set_attributes(
    state: &mut State,
    name: &str,
    given: &BTreeMap<String, String>,
) -> Result<(), SqsError> {
    let queue = state.queue(name)?;
    let (attributes, config) = rules::merge_attributes(&queue.row.attributes, given, false)?;
    if config.redrive.as_ref().is_some_and(|(dlq, _)| dlq == name) {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {} for parameter RedrivePolicy is invalid. Reason: a queue cannot be its own dead-letter queue.",
            rules::queue_arn(name)
        )));
    }
    check_redrive_target(state, &config)?;
    let queue = state.queue_mut(name)?;
    queue.row.attributes = attributes;
    queue.row.config = config;
    queue.row.modified_ms = now_ms();
    let row = queue.row.clone();
    state.log.push(Change::PutQueue(row));
    Ok(())
}

/// Names of the queues whose names start with `prefix`, in name order.
pub(crate) fn list_queues(state: &State, prefix: &str) -> Vec<String> {
    state
        .queues
        .keys()
        .filter(|n| n.starts_with(prefix))
        .cloned()
        .collect()
}

/// GetQueueAttributes: the named attributes (`All` for every one).
pub(crate) fn get_attributes(
    state: &mut State,
    name: &str,
    names: &[String],
) -> Result<BTreeMap<String, String>, SqsError> {
    sweep(state, name)?;
    let queue = &state.queue(name)?.row;
    let all = names.iter().any(|n| n == "All");
    for n in names {
        let known = n == "All"
            || rules::COMPUTED.contains(&n.as_str())
            || rules::SETTABLE.iter().any(|(s, _)| s == n);
        if !known {
            return Err(SqsError::InvalidAttributeName(n.clone()));
        }
    }
    let (visible, in_flight, delayed) = state.queue(name)?.counts(now_ms());
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        if all || names.iter().any(|n| n == k) {
            out.insert(k.to_owned(), v);
        }
    };
    put("QueueArn", rules::queue_arn(name));
    put("ApproximateNumberOfMessages", visible.to_string());
    put(
        "ApproximateNumberOfMessagesNotVisible",
        in_flight.to_string(),
    );
    put("ApproximateNumberOfMessagesDelayed", delayed.to_string());
    put("CreatedTimestamp", (queue.created_ms / 1000).to_string());
    put(
        "LastModifiedTimestamp",
        (queue.modified_ms / 1000).to_string(),
    );
    for (k, v) in settable_view(&queue.attributes, &queue.config) {
        put(k, v);
    }
    Ok(out)
}

/// A queue's settable attributes as GetQueueAttributes shows them: defaults filled in, unset
/// optional ones left out.
fn settable_view(
    attributes: &BTreeMap<String, String>,
    c: &rules::QueueConfig,
) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    let given = |k: &str| attributes.get(k).filter(|v| !v.is_empty()).cloned();
    out.insert("DelaySeconds", c.delay_secs.to_string());
    out.insert("MaximumMessageSize", c.max_message_bytes.to_string());
    out.insert("MessageRetentionPeriod", c.retention_secs.to_string());
    out.insert("ReceiveMessageWaitTimeSeconds", c.wait_secs.to_string());
    out.insert("VisibilityTimeout", c.visibility_secs.to_string());
    out.insert(
        "SqsManagedSseEnabled",
        given("SqsManagedSseEnabled").unwrap_or_else(|| "false".into()),
    );
    for k in [
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "Policy",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
    ] {
        if let Some(v) = given(k) {
            out.insert(k, v);
        }
    }
    if c.fifo {
        out.insert("FifoQueue", "true".into());
        out.insert("ContentBasedDeduplication", c.content_dedup.to_string());
        out.insert(
            "DeduplicationScope",
            given("DeduplicationScope").unwrap_or_else(|| "queue".into()),
        );
        out.insert(
            "FifoThroughputLimit",
            given("FifoThroughputLimit").unwrap_or_else(|| "perQueue".into()),
        );
    }
    out
}

/// Deletes a queue and its messages.
pub(crate) fn delete_queue(state: &mut State, name: &str) -> Result<(), SqsError> {
    let queue = state
        .queues
        .remove(name)
        .ok_or(SqsError::QueueDoesNotExist)?;
    state.log.push(Change::DeleteQueue(queue.row.id));
    Ok(())
}

/// Deletes every message of a queue (once a minute, as SQS allows).
pub(crate) fn purge(state: &mut State, name: &str) -> Result<(), SqsError> {
    let queue = state.queue_mut(name)?;
    let now = now_ms();
    if now - queue.row.purged_ms < PURGE_INTERVAL_MS {
        return Err(SqsError::PurgeQueueInProgress(name.into()));
    }
    queue.messages.clear();
    queue.by_visible.clear();
    queue.row.purged_ms = now;
    let (id, row) = (queue.row.id, queue.row.clone());
    state.log.push(Change::DeleteMessagesOf(id));
    state.log.push(Change::PutQueue(row));
    Ok(())
}

/// Tags (`add`) or untags (`remove`) a queue; returns its tags.
pub(crate) fn tag(
    state: &mut State,
    name: &str,
    add: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<BTreeMap<String, String>, SqsError> {
    let queue = state.queue_mut(name)?;
    let mut tags = queue.row.tags.clone();
    tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
    for k in remove {
        tags.remove(k);
    }
    if tags != queue.row.tags {
        queue.row.tags = tags.clone();
        let row = queue.row.clone();
        state.log.push(Change::PutQueue(row));
    }
    Ok(tags)
}
