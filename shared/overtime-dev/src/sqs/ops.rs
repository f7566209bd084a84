//! SQS's operations on the queues in memory. Each runs under the state's lock and notes what
//! it changed in `state.log`, which the caller hands to the SQLite log.

use super::SqsError;
use super::model::{Attributes, Received, SendEntry, Sent};
use super::rules::{self, DEDUP_WINDOW_MS, MAX_DELAY_SECS};
use super::state::{Change, Content, MoveTask, Msg, QueueRow, QueueState, State, now_ms};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

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
    let mut dedup = None;
    if c.fifo {
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
            return Ok(sent(&p, message_id.clone(), Some(sequence.clone())));
        }
        dedup = Some((key, id));
    } else if entry.message_deduplication_id.is_some() {
        return Err(SqsError::InvalidParameterValue(
            "Value for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.".into(),
        ));
    }
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

/// What a receive asks for.
#[derive(Debug, Clone, Default)]
pub struct ReceiveRequest {
    /// 1 to 10.
    pub max: i64,
    /// Seconds, or the queue's.
    pub visibility: Option<i64>,
    /// System attribute names (`All` for all).
    pub attribute_names: Vec<String>,
    /// Message attribute names or `prefix.*` (`All`/`.*` for all).
    pub message_attribute_names: Vec<String>,
}

/// What a receive took, and what its caller needs to know to wait or wake others.
#[derive(Debug, Default)]
pub(crate) struct Receipt {
    /// The messages taken.
    pub(crate) taken: Vec<Taken>,
    /// The dead-letter queue that received messages on the way.
    pub(crate) dead_lettered_to: Option<String>,
    /// When the queue next has a message becoming visible (epoch ms).
    pub(crate) next_visible: Option<i64>,
}

/// Takes up to `max` visible messages, moving any past `maxReceiveCount` to the
/// dead-letter queue on the way, as SQS does.
pub(crate) fn receive(
    state: &mut State,
    name: &str,
    req: &ReceiveRequest,
) -> Result<Receipt, SqsError> {
    let now = now_ms();
    let queue = state.queue(name)?;
    // Messages past maxReceiveCount go to the dead-letter queue if it exists; otherwise they
    // are delivered, as SQS does.
    let redrive = queue
        .row
        .config
        .redrive
        .clone()
        .filter(|(dlq, _)| state.queues.contains_key(dlq));
    let State { queues, log, .. } = &mut *state;
    let queue = queues.get_mut(name).ok_or(SqsError::QueueDoesNotExist)?;
    expire(queue, now, log);
    let fifo = queue.row.config.fifo;
    let visibility = req.visibility.unwrap_or(queue.row.config.visibility_secs);
    let max_receives = redrive.as_ref().map_or(i64::MAX, |(_, m)| *m);
    // The messages to deliver and to dead-letter, in order.
    let mut deliver = Vec::new();
    let mut dead = Vec::new();
    if fifo {
        // A group with a message in flight is blocked. A message still delayed blocks only
        // the ones after it in its group, and so does one dead-lettered now: later messages
        // must not overtake it.
        let mut blocked: HashSet<&str> = queue
            .by_visible
            .range((now + 1, i64::MIN)..)
            .filter_map(|(_, seq)| {
                let m = queue.messages.get(seq)?;
                (m.receives > 0).then_some(m.content.group.as_deref()?)
            })
            .collect();
        for (&seq, m) in &queue.messages {
            if deliver.len() as i64 >= req.max {
                break;
            }
            let group = m.content.group.as_deref().unwrap_or_default();
            if blocked.contains(group) {
                continue;
            }
            if m.visible_ms > now {
                blocked.insert(group);
                continue;
            }
            if m.receives >= max_receives {
                dead.push(seq);
                blocked.insert(group);
            } else {
                deliver.push(seq);
            }
        }
    } else {
        for &(visible, seq) in &queue.by_visible {
            if visible > now || deliver.len() as i64 >= req.max {
                break;
            }
            if queue
                .messages
                .get(&seq)
                .is_some_and(|m| m.receives >= max_receives)
            {
                dead.push(seq);
            } else {
                deliver.push(seq);
            }
        }
    }
    let mut taken = Vec::with_capacity(deliver.len());
    let visible_ms = now + visibility * 1000;
    for seq in deliver {
        queue.set_visible(seq, visible_ms);
        let Some(m) = queue.messages.get_mut(&seq) else {
            continue;
        };
        m.receives += 1;
        let first_ms = *m.first_ms.get_or_insert(now);
        m.receipt = fastrand::u64(1..);
        m.received_ms = now;
        log.push(Change::MessageState {
            seq,
            visible_ms,
            receives: m.receives,
            first_ms: Some(first_ms),
            receipt: m.receipt,
        });
        taken.push(Taken {
            queue: queue.row.id,
            seq,
            token: m.receipt,
            content: m.content.clone(),
            receives: m.receives,
            first_ms,
            dead_from: m.dead_from.clone(),
            fifo,
        });
    }
    let moved: Vec<Msg> = dead.iter().filter_map(|&seq| queue.take(seq)).collect();
    for &seq in &dead {
        log.push(Change::DeleteMessage(seq));
    }
    let mut receipt = Receipt {
        next_visible: queue.next_visible(now),
        taken,
        dead_lettered_to: None,
    };
    if let Some((dlq, _)) = redrive
        && !moved.is_empty()
    {
        let source_arn: Arc<str> = rules::queue_arn(name).into();
        for msg in moved {
            let seq = state.seq();
            // A FIFO queue's dead-letter queue counts retention from the move; a standard
            // one's from the original send (SQS's dead-letter retention rules).
            let content = if fifo {
                Arc::new(Content {
                    sent_ms: now,
                    ..(*msg.content).clone()
                })
            } else {
                msg.content
            };
            let msg = Msg {
                content,
                visible_ms: now,
                receives: 0,
                first_ms: None,
                receipt: 0,
                received_ms: 0,
                dead_from: Some(source_arn.clone()),
            };
            let target = state.queue_mut(&dlq)?;
            let id = target.row.id;
            target.put(seq, msg.clone());
            state.log.push(Change::PutMessage {
                queue: id,
                seq,
                msg,
            });
        }
        receipt.dead_lettered_to = Some(dlq);
    }
    Ok(receipt)
}

/// A message taken for a receive; [`Taken::into_received`] shapes it for the caller outside
/// the lock.
#[derive(Debug)]
pub(crate) struct Taken {
    queue: i64,
    seq: i64,
    token: u64,
    content: Arc<Content>,
    receives: i64,
    first_ms: i64,
    dead_from: Option<Arc<str>>,
    fifo: bool,
}

impl Taken {
    /// The message as ReceiveMessage returns it: the system and message attributes asked
    /// for, their MD5, and a receipt handle for this receive.
    pub(crate) fn into_received(self, req: &ReceiveRequest) -> Result<Received, SqsError> {
        let wants = |n: &str| req.attribute_names.iter().any(|a| a == "All" || a == n);
        let mut attributes = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            if wants(k) {
                attributes.insert(k.to_owned(), v);
            }
        };
        put("SenderId", rules::ACCOUNT.into());
        let c = &self.content;
        put("SentTimestamp", c.sent_ms.to_string());
        put("ApproximateReceiveCount", self.receives.to_string());
        put(
            "ApproximateFirstReceiveTimestamp",
            self.first_ms.to_string(),
        );
        if let Some(t) = &c.trace {
            put("AWSTraceHeader", t.clone());
        }
        if let Some(d) = &self.dead_from {
            put("DeadLetterQueueSourceArn", d.to_string());
        }
        if self.fifo {
            if let Some(g) = &c.group {
                put("MessageGroupId", g.clone());
            }
            if let Some(d) = &c.dedup {
                put("MessageDeduplicationId", d.clone());
            }
            put("SequenceNumber", format!("{:020}", self.seq));
        }
        let message_attributes: Attributes = if req.message_attribute_names.is_empty() {
            Attributes::new()
        } else {
            let all: Attributes = c
                .attributes
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| SqsError::Internal(format!("stored message attributes: {e}")))?
                .unwrap_or_default();
            all.into_iter()
                .filter(|(k, _)| {
                    req.message_attribute_names.iter().any(|w| {
                        w == "All"
                            || w == ".*"
                            || w == k
                            || w.strip_suffix(".*")
                                .is_some_and(|p| k.starts_with(p) && k[p.len()..].starts_with('.'))
                    })
                })
                .collect()
        };
        let handle = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}:{}:{:016x}", self.queue, self.seq, self.token));
        Ok(Received {
            message_id: c.id.clone(),
            receipt_handle: handle,
            md5_of_body: c.md5_body.clone(),
            body: c.body.clone(),
            attributes,
            md5_of_message_attributes: rules::md5_of_attributes(&message_attributes),
            message_attributes,
        })
    }
}

/// Drops a queue's expired messages (see [`expire`]), for the paths that count them.
pub(crate) fn sweep(state: &mut State, name: &str) -> Result<(), SqsError> {
    let State { queues, log, .. } = state;
    let queue = queues.get_mut(name).ok_or(SqsError::QueueDoesNotExist)?;
    expire(queue, now_ms(), log);
    Ok(())
}

/// Drops messages older than the queue's retention period, and expired deduplication
/// entries (at most once a second per queue: the sweep reads the whole queue, and SQS's own
/// expiry is approximate too).
fn expire(queue: &mut QueueState, now: i64, log: &mut Vec<Change>) {
    if now - queue.swept_ms < 1000 {
        return;
    }
    queue.swept_ms = now;
    let oldest = now - queue.row.config.retention_secs * 1000;
    let old: Vec<i64> = queue
        .messages
        .iter()
        .filter(|(_, m)| m.content.sent_ms < oldest)
        .map(|(&seq, _)| seq)
        .collect();
    for seq in old {
        queue.take(seq);
        log.push(Change::DeleteMessage(seq));
    }
    let before = queue.dedup.len();
    queue.dedup.retain(|_, (_, _, expires)| *expires > now);
    if queue.dedup.len() != before {
        log.push(Change::ExpireDedup {
            queue: queue.row.id,
            now,
        });
    }
}

/// Deletes a received message. A standard queue accepts an older receipt handle of the
/// message, as SQS does; a FIFO queue wants the latest one while it is in flight.
pub(crate) fn delete(state: &mut State, name: &str, handle: &str) -> Result<bool, SqsError> {
    let State { queues, log, .. } = state;
    let queue = queues.get_mut(name).ok_or(SqsError::QueueDoesNotExist)?;
    let (q, seq, token) = parse_handle(handle)?;
    if q != queue.row.id {
        return Err(SqsError::ReceiptHandleIsInvalid(handle.into()));
    }
    if queue.row.config.fifo
        && let Some(m) = queue.messages.get(&seq)
        && (m.receipt != token || m.visible_ms <= now_ms())
    {
        return Err(SqsError::ReceiptHandleIsInvalid(handle.into()));
    }
    if queue.take(seq).is_none() {
        return Ok(false);
    }
    log.push(Change::DeleteMessage(seq));
    Ok(true)
}

/// Changes an in-flight message's visibility timeout, counted from now.
pub(crate) fn change_visibility(
    state: &mut State,
    name: &str,
    handle: &str,
    timeout: i64,
) -> Result<(), SqsError> {
    if !(0..=rules::MAX_VISIBILITY_SECS).contains(&timeout) {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: must be between 0 and {}.",
            rules::MAX_VISIBILITY_SECS
        )));
    }
    let State { queues, log, .. } = state;
    let queue = queues.get_mut(name).ok_or(SqsError::QueueDoesNotExist)?;
    let (q, seq, token) = parse_handle(handle)?;
    if q != queue.row.id {
        return Err(SqsError::ReceiptHandleIsInvalid(handle.into()));
    }
    let now = now_ms();
    let in_flight = queue
        .messages
        .get(&seq)
        .filter(|m| m.receipt == token && m.visible_ms > now && m.receives > 0)
        .map(|m| m.received_ms);
    let Some(received_ms) = in_flight else {
        return Err(SqsError::MessageNotInflight);
    };
    let visible_ms = now + timeout * 1000;
    if visible_ms > received_ms + rules::MAX_VISIBILITY_SECS * 1000 {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [{} seconds] (12 hours from its receive).",
            rules::MAX_VISIBILITY_SECS
        )));
    }
    queue.set_visible(seq, visible_ms);
    log.push(Change::Visibility { seq, visible_ms });
    Ok(())
}

/// Queues whose redrive policy names `name` as their dead-letter queue.
pub(crate) fn dead_letter_sources(state: &State, name: &str) -> Result<Vec<String>, SqsError> {
    state.queue(name)?;
    Ok(state
        .queues
        .values()
        .filter(|q| {
            q.row
                .config
                .redrive
                .as_ref()
                .is_some_and(|(dlq, _)| dlq == name)
        })
        .map(|q| q.row.name.clone())
        .collect())
}

/// StartMessageMoveTask: checks the source (a dead-letter queue) and destination, and records
/// a RUNNING task for [`move_step`] to carry out; the task handle.
pub(crate) fn start_move(
    state: &mut State,
    source_arn: &str,
    dest_arn: Option<&str>,
    rate: Option<i64>,
) -> Result<String, SqsError> {
    let not_found = || {
        SqsError::ResourceNotFound(format!(
            "The resource that you specified for the SourceArn parameter doesn't exist: {source_arn}"
        ))
    };
    let source_name = rules::queue_name_of_arn(source_arn).ok_or_else(not_found)?;
    let source = state.queue(source_name).map_err(|_| not_found())?;
    let to_move = source.messages.len() as i64;
    if dead_letter_sources(state, source_name)?.is_empty() {
        return Err(SqsError::InvalidParameterValue(format!(
            "Source queue must be configured as a Dead Letter Queue: {source_arn}"
        )));
    }
    if let Some(arn) = dest_arn {
        let missing =
            || SqsError::ResourceNotFound(format!("The destination queue does not exist: {arn}"));
        let name = rules::queue_name_of_arn(arn).ok_or_else(missing)?;
        state.queue(name).map_err(|_| missing())?;
    }
    if state
        .move_tasks
        .iter()
        .any(|t| t.source_arn == source_arn && t.status == "RUNNING")
    {
        return Err(SqsError::InvalidParameterValue(format!(
            "There is already a message move task running for {source_arn}: only one can run per queue."
        )));
    }
    let handle = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        uuid::Uuid::new_v4(),
        source_arn
    ));
    let task = MoveTask {
        handle: handle.clone(),
        source_arn: source_arn.to_owned(),
        dest_arn: dest_arn.map(str::to_owned),
        rate,
        moved: 0,
        to_move,
        status: "RUNNING".into(),
        started_ms: now_ms(),
    };
    state.log.push(Change::PutMoveTask(task.clone()));
    state.move_tasks.push(task);
    Ok(handle)
}

/// What one step of a move task did.
#[derive(Debug, Default)]
pub(crate) struct MoveStep {
    /// Queues that received messages.
    pub(crate) targets: Vec<String>,
    /// The task is no longer running (completed, cancelled, or its queue is gone).
    pub(crate) finished: bool,
}

impl MoveStep {
    /// A step that found the task no longer running.
    fn done() -> Self {
        MoveStep {
            finished: true,
            ..MoveStep::default()
        }
    }
}

/// Moves up to `max` more messages of a running task, oldest first, each to the task's
/// destination or back to the queue it was dead-lettered from; the task completes when it has
/// moved what was there at its start (or nothing movable is left).
pub(crate) fn move_step(state: &mut State, handle: &str, max: usize) -> MoveStep {
    let Some(at) = state.move_tasks.iter().position(|t| t.handle == handle) else {
        return MoveStep::done();
    };
    let task = state.move_tasks[at].clone();
    if task.status != "RUNNING" {
        return MoveStep::done();
    }
    let dest = task
        .dest_arn
        .as_deref()
        .and_then(rules::queue_name_of_arn)
        .map(str::to_owned);
    let source_name = rules::queue_name_of_arn(&task.source_arn).unwrap_or_default();
    if !state.queues.contains_key(source_name)
        || dest.as_ref().is_some_and(|d| !state.queues.contains_key(d))
    {
        // A queue of the task is gone.
        let task = &mut state.move_tasks[at];
        task.status = "FAILED".into();
        state.log.push(Change::PutMoveTask(task.clone()));
        return MoveStep::done();
    }
    let want = usize::try_from(task.to_move - task.moved)
        .unwrap_or(0)
        .min(max);
    let plan: Vec<(i64, String)> = state
        .queues
        .get(source_name)
        .map(|source| {
            source
                .messages
                .iter()
                .filter_map(|(&seq, m)| {
                    let target = match (
                        &dest,
                        m.dead_from.as_deref().and_then(rules::queue_name_of_arn),
                    ) {
                        (Some(d), _) if state.queues.contains_key(d) => d.clone(),
                        (None, Some(origin)) if state.queues.contains_key(origin) => {
                            origin.to_owned()
                        }
                        _ => return None,
                    };
                    Some((seq, target))
                })
                .take(want)
                .collect()
        })
        .unwrap_or_default();
    let now = now_ms();
    let mut step = MoveStep::default();
    let mut moved = 0i64;
    for (old, target) in &plan {
        let Some(msg) = state.queues.get_mut(source_name).and_then(|q| q.take(*old)) else {
            continue;
        };
        let seq = state.seq();
        let msg = Msg {
            content: Arc::new(Content {
                sent_ms: now,
                ..(*msg.content).clone()
            }),
            visible_ms: now,
            receives: 0,
            first_ms: None,
            receipt: 0,
            received_ms: 0,
            dead_from: None,
        };
        let Some(queue) = state.queues.get_mut(target) else {
            continue;
        };
        let id = queue.row.id;
        queue.put(seq, msg.clone());
        state.log.push(Change::DeleteMessage(*old));
        state.log.push(Change::PutMessage {
            queue: id,
            seq,
            msg,
        });
        moved += 1;
        if !step.targets.contains(target) {
            step.targets.push(target.clone());
        }
    }
    let task = &mut state.move_tasks[at];
    task.moved += moved;
    if task.moved >= task.to_move || usize::try_from(moved).unwrap_or(0) < want || want == 0 {
        task.status = "COMPLETED".into();
        step.finished = true;
    }
    state.log.push(Change::PutMoveTask(task.clone()));
    step
}

/// CancelMessageMoveTask: stops a running task; how many it had moved.
pub(crate) fn cancel_move(state: &mut State, handle: &str) -> Result<i64, SqsError> {
    let task = state
        .move_tasks
        .iter_mut()
        .find(|t| t.handle == handle && t.status == "RUNNING")
        .ok_or_else(|| {
            SqsError::ResourceNotFound(format!(
                "Task {handle} is not running: only a RUNNING message move task can be cancelled."
            ))
        })?;
    task.status = "CANCELLED".into();
    let (moved, task) = (task.moved, task.clone());
    state.log.push(Change::PutMoveTask(task));
    Ok(moved)
}

/// The message move tasks of a source, newest first.
pub(crate) fn move_tasks(state: &State, source_arn: &str, max: i64) -> Vec<serde_json::Value> {
    state
        .move_tasks
        .iter()
        .rev()
        .filter(|t| t.source_arn == source_arn)
        .take(usize::try_from(max).unwrap_or(0))
        .map(|t| {
            let mut v = serde_json::json!({
                "TaskHandle": t.handle,
                "Status": t.status,
                "SourceArn": t.source_arn,
                "ApproximateNumberOfMessagesMoved": t.moved,
                "ApproximateNumberOfMessagesToMove": t.to_move,
                "StartedTimestamp": t.started_ms,
            });
            if let Some(d) = &t.dest_arn {
                v["DestinationArn"] = d.clone().into();
            }
            if let Some(rate) = t.rate {
                v["MaxNumberOfMessagesPerSecond"] = rate.into();
            }
            v
        })
        .collect()
}

/// A receipt handle's queue row id, message seq and token.
fn parse_handle(handle: &str) -> Result<(i64, i64, u64), SqsError> {
    let invalid = || SqsError::ReceiptHandleIsInvalid(handle.into());
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(handle)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    let q = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(invalid)?;
    let s = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(invalid)?;
    let t = parts
        .next()
        .and_then(|p| u64::from_str_radix(p, 16).ok())
        .ok_or_else(invalid)?;
    Ok((q, s, t))
}
