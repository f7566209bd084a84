//! Sending: a message checked and digested outside the lock ([`prepare`]), then stored under
//! it with the checks that depend on its queue, FIFO deduplication among them ([`insert`]).

use crate::sqs::SqsError;
use crate::sqs::model::{SendEntry, Sent};
use crate::sqs::rules::{self, DEDUP_WINDOW_MS, MAX_DELAY_SECS};
use crate::sqs::state::{Change, Content, Msg, QueueState, State, now_ms};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

/// A message checked and digested outside the writer thread, ready to store.
#[derive(Debug)]
pub(crate) struct Prepared {
    entry: SendEntry,
    size: usize,
    message_id: String,
    attrs_json: Option<String>,
    md5_body: String,
    md5_attrs: Option<String>,
    md5_system: Option<String>,
    trace: Option<String>,
    content_hash: Option<String>,
}

/// Checks what does not depend on the queue (body, characters, attributes, ids, delay range)
/// and computes digests, so the writer thread only looks up and inserts.
pub(crate) fn prepare(entry: SendEntry) -> Result<Prepared, SqsError> {
    let body = entry
        .message_body
        .as_deref()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| SqsError::MissingParameter("MessageBody".into()))?;
    rules::check_body(body)?;
    let size = rules::message_size(&entry)?;
    rules::check_system_attributes(&entry.message_system_attributes)?;
    if let Some(d) = entry.delay_seconds
        && !(0..=MAX_DELAY_SECS).contains(&d)
    {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= {MAX_DELAY_SECS}."
        )));
    }
    if let Some(g) = &entry.message_group_id {
        check_fifo_id("MessageGroupId", g)?;
    }
    if let Some(d) = &entry.message_deduplication_id {
        check_fifo_id("MessageDeduplicationId", d)?;
    }
    let attrs_json = if entry.message_attributes.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(&entry.message_attributes)
                .map_err(|e| SqsError::Internal(e.to_string()))?,
        )
    };
    // Content-based deduplication needs the body's SHA-256; only FIFO sends carry a group.
    let content_hash = (entry.message_group_id.is_some()
        && entry.message_deduplication_id.is_none())
    .then(|| rules::hex(&Sha256::digest(body.as_bytes())));
    Ok(Prepared {
        size,
        // Random v4 ids from fastrand: a getrandom call per message showed in profiles, and a
        // message id needs to be unique, not unguessable.
        message_id: uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
            .into_uuid()
            .to_string(),
        attrs_json,
        md5_body: rules::md5_hex(body.as_bytes()),
        md5_attrs: rules::md5_of_attributes(&entry.message_attributes),
        md5_system: rules::md5_of_attributes(&entry.message_system_attributes),
        trace: entry
            .message_system_attributes
            .get("AWSTraceHeader")
            .and_then(|v| v.string_value.clone()),
        content_hash,
        entry,
    })
}

/// Stores a prepared message after the checks that depend on the queue; a FIFO duplicate
/// within 5 minutes answers with the first message's id and stores nothing.
pub(crate) fn insert(state: &mut State, name: &str, p: Prepared) -> Result<Sent, SqsError> {
    // A number used only if the message is stored; gaps are fine (FIFO numbers only grow).
    let seq = state.seq();
    let State { queues, log, .. } = state;
    let queue = queues.get_mut(name).ok_or(SqsError::QueueDoesNotExist)?;
    let c = &queue.row.config;
    if p.size as i64 > c.max_message_bytes {
        return Err(SqsError::InvalidParameterValue(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
            c.max_message_bytes
        )));
    }
    let entry = &p.entry;
    let now = now_ms();
    let delay = match entry.delay_seconds {
        Some(_) if c.fifo => {
            return Err(SqsError::InvalidParameterValue(
                "Value for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type (FIFO queues take DelaySeconds from the queue only).".into(),
            ));
        }
        Some(d) => d,
        None => c.delay_secs,
    };
    let dedup = match deduplicate(queue, &p, now)? {
        Dedup::Standard => None,
        Dedup::New { key, id } => Some((key, id)),
        Dedup::Duplicate {
            message_id,
            sequence,
        } => return Ok(sent(&p, message_id, Some(sequence))),
    };
    let sequence = c.fifo.then(|| format!("{seq:020}"));
    let result = sent(&p, p.message_id.clone(), sequence.clone());
    let Prepared {
        entry,
        message_id,
        attrs_json,
        md5_body,
        md5_attrs,
        trace,
        ..
    } = p;
    let msg = Msg {
        content: Arc::new(Content {
            id: message_id.clone(),
            body: entry.message_body.unwrap_or_default(),
            attributes: attrs_json,
            md5_body,
            md5_attrs,
            trace,
            sent_ms: now,
            group: entry.message_group_id,
            dedup: dedup.as_ref().map(|(_, id)| id.clone()),
        }),
        visible_ms: now + delay * 1000,
        receives: 0,
        first_ms: None,
        receipt: 0,
        received_ms: 0,
        dead_from: None,
    };
    log.push(Change::PutMessage {
        queue: queue.row.id,
        seq,
        msg: msg.clone(),
    });
    queue.put(seq, msg);
    if let (Some((key, _)), Some(sequence)) = (dedup, sequence) {
        let expires_ms = now + DEDUP_WINDOW_MS;
        log.push(Change::PutDedup {
            queue: queue.row.id,
            key: key.clone(),
            message_id: message_id.clone(),
            sequence: sequence.clone(),
            expires_ms,
        });
        queue.dedup.insert(key, (message_id, sequence, expires_ms));
    }
    Ok(result)
}

/// What FIFO deduplication makes of a send.
enum Dedup {
    /// A standard queue's send: nothing to remember.
    Standard,
    /// A FIFO send to store, remembered under `key` with its deduplication `id`.
    New { key: String, id: String },
    /// A FIFO send within 5 minutes of the first with its key: that message's id and number.
    Duplicate {
        message_id: String,
        sequence: String,
    },
}

/// Checks a send's group and deduplication ids against its queue's type, and looks up its
/// deduplication key (per queue, or per group with `DeduplicationScope` `messageGroup`).
fn deduplicate(queue: &QueueState, p: &Prepared, now: i64) -> Result<Dedup, SqsError> {
    let (c, entry) = (&queue.row.config, &p.entry);
    if !c.fifo {
        if entry.message_deduplication_id.is_some() {
            return Err(SqsError::InvalidParameterValue(
                "Value for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.".into(),
            ));
        }
        return Ok(Dedup::Standard);
    }
    let group = entry
        .message_group_id
        .as_deref()
        .ok_or_else(|| SqsError::MissingParameter("MessageGroupId".into()))?;
    let id = match (&entry.message_deduplication_id, c.content_dedup) {
        (Some(id), _) => id.clone(),
        (None, true) => p.content_hash.clone().unwrap_or_default(),
        (None, false) => {
            return Err(SqsError::InvalidParameterValue(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".into(),
            ));
        }
    };
    let key = if queue
        .row
        .attributes
        .get("DeduplicationScope")
        .map(String::as_str)
        == Some("messageGroup")
    {
        format!("{group}\u{0}{id}")
    } else {
        id.clone()
    };
    if let Some((message_id, sequence, expires)) = queue.dedup.get(&key)
        && *expires > now
    {
        return Ok(Dedup::Duplicate {
            message_id: message_id.clone(),
            sequence: sequence.clone(),
        });
    }
    Ok(Dedup::New { key, id })
}

fn check_fifo_id(what: &str, id: &str) -> Result<(), SqsError> {
    let ok = !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(SqsError::InvalidParameterValue(format!(
            "Value {id:?} for parameter {what} is invalid. Reason: use 1 to 128 printable ASCII characters without spaces."
        )))
    }
}

fn sent(p: &Prepared, message_id: String, sequence: Option<String>) -> Sent {
    Sent {
        id: p.entry.id.clone(),
        message_id,
        md5_of_message_body: p.md5_body.clone(),
        md5_of_message_attributes: p.md5_attrs.clone(),
        md5_of_message_system_attributes: p.md5_system.clone(),
        sequence_number: sequence,
    }
}
