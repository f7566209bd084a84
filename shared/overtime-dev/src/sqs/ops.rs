//! SQS's operations on the database, each run on the writer thread.

use super::SqsError;
use super::db::{Db, QueueRow, insert_queue, now_ms};
use super::model::{Attributes, Received, SendEntry, Sent};
use super::rules::{self, DEDUP_WINDOW_MS, MAX_DELAY_SECS};
use base64::Engine as _;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// SQS allows one purge a minute per queue.
const PURGE_INTERVAL_MS: i64 = 60_000;

/// Creates a queue, or returns the existing one when the given attributes agree with it.
pub(crate) fn create_queue(
    db: &mut Db,
    name: &str,
    given: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> Result<(), SqsError> {
    let fifo = given
        .get("FifoQueue")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    rules::check_queue_name(name, fifo)?;
    match db.queue(name) {
        Ok(existing) => {
            let defaults = rules::config_of(&BTreeMap::new())?;
            for (k, v) in given {
                let same = match existing.attributes.get(k) {
                    Some(current) => current == v,
                    // An attribute given with its default value matches an unset one.
                    None => rules::merge_attributes(
                        &BTreeMap::new(),
                        &BTreeMap::from([(k.clone(), v.clone())]),
                        true,
                    )
                    .is_ok_and(|(_, c)| c == defaults),
                };
                if !same {
                    return Err(SqsError::QueueNameExists(k.clone()));
                }
            }
            Ok(())
        }
        Err(SqsError::QueueDoesNotExist) => {
            let (attributes, config) = rules::merge_attributes(&BTreeMap::new(), given, true)?;
            check_redrive_target(db, &config)?;
            insert_queue(db, name, &attributes, tags)
        }
        Err(e) => Err(e),
    }
}

fn check_redrive_target(db: &mut Db, config: &rules::QueueConfig) -> Result<(), SqsError> {
    if let Some((dlq, _)) = &config.redrive {
        let target = db.queue(dlq).map_err(|_| {
            SqsError::InvalidParameterValue(format!(
                "Value {} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.",
                rules::queue_arn(dlq)
            ))
        })?;
        if target.config.fifo != config.fifo {
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
    db: &mut Db,
    name: &str,
    given: &BTreeMap<String, String>,
) -> Result<(), SqsError> {
    let queue = db.queue(name)?;
    let (attributes, config) = rules::merge_attributes(&queue.attributes, given, false)?;
    check_redrive_target(db, &config)?;
    let json = serde_json::to_string(&attributes).map_err(|e| SqsError::Internal(e.to_string()))?;
    db.conn.execute(
        "UPDATE queues SET attributes = ?1, modified_ms = ?2 WHERE id = ?3",
        params![json, now_ms(), queue.id],
    )?;
    db.forget(name);
    Ok(())
}

/// Names of the queues whose names start with `prefix`, in name order.
pub(crate) fn list_queues(db: &mut Db, prefix: &str) -> Result<Vec<String>, SqsError> {
    let mut stmt = db
        .conn
        .prepare_cached("SELECT name FROM queues ORDER BY name")?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect())
}

/// Visible, in-flight and delayed message counts.
pub(crate) fn counts(db: &mut Db, queue: &QueueRow) -> Result<(i64, i64, i64), SqsError> {
    let now = now_ms();
    Ok(db.conn.prepare_cached(
        "SELECT COALESCE(SUM(visible_ms <= ?2), 0), COALESCE(SUM(visible_ms > ?2 AND receives > 0), 0), COALESCE(SUM(visible_ms > ?2 AND receives = 0), 0) FROM messages WHERE queue = ?1",
    )?
    .query_row(params![queue.id, now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
}

/// GetQueueAttributes: the named attributes (`All` for every one).
pub(crate) fn get_attributes(
    db: &mut Db,
    name: &str,
    names: &[String],
) -> Result<BTreeMap<String, String>, SqsError> {
    let queue = db.queue(name)?;
    let all = names.iter().any(|n| n == "All");
    for n in names {
        let known = n == "All"
            || rules::COMPUTED.contains(&n.as_str())
            || rules::SETTABLE.iter().any(|(s, _)| s == n);
        if !known {
            return Err(SqsError::InvalidAttributeName(n.clone()));
        }
    }
    let (visible, in_flight, delayed) = counts(db, &queue)?;
    let c = &queue.config;
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
    put("DelaySeconds", c.delay_secs.to_string());
    put("MaximumMessageSize", c.max_message_bytes.to_string());
    put("MessageRetentionPeriod", c.retention_secs.to_string());
    put("ReceiveMessageWaitTimeSeconds", c.wait_secs.to_string());
    put("VisibilityTimeout", c.visibility_secs.to_string());
    put(
        "SqsManagedSseEnabled",
        queue
            .attributes
            .get("SqsManagedSseEnabled")
            .cloned()
            .unwrap_or_else(|| "false".into()),
    );
    for (k, v) in &queue.attributes {
        if matches!(
            k.as_str(),
            "RedrivePolicy"
                | "RedriveAllowPolicy"
                | "Policy"
                | "KmsMasterKeyId"
                | "KmsDataKeyReusePeriodSeconds"
                | "DeduplicationScope"
                | "FifoThroughputLimit"
        ) && !v.is_empty()
        {
            put(k, v.clone());
        }
    }
    if c.fifo {
        put("FifoQueue", "true".into());
        put("ContentBasedDeduplication", c.content_dedup.to_string());
        put(
            "DeduplicationScope",
            queue
                .attributes
                .get("DeduplicationScope")
                .cloned()
                .unwrap_or_else(|| "queue".into()),
        );
        put(
            "FifoThroughputLimit",
            queue
                .attributes
                .get("FifoThroughputLimit")
                .cloned()
                .unwrap_or_else(|| "perQueue".into()),
        );
    }
    Ok(out)
}

/// Deletes a queue and its messages.
pub(crate) fn delete_queue(db: &mut Db, name: &str) -> Result<(), SqsError> {
    let queue = db.queue(name)?;
    db.conn
        .execute("DELETE FROM messages WHERE queue = ?1", [queue.id])?;
    db.conn
        .execute("DELETE FROM dedup WHERE queue = ?1", [queue.id])?;
    db.conn
        .execute("DELETE FROM queues WHERE id = ?1", [queue.id])?;
    db.forget(name);
    Ok(())
}

/// Deletes every message of a queue (once a minute, as SQS allows).
pub(crate) fn purge(db: &mut Db, name: &str) -> Result<(), SqsError> {
    let queue = db.queue(name)?;
    let now = now_ms();
    if now - queue.purged_ms < PURGE_INTERVAL_MS {
        return Err(SqsError::PurgeQueueInProgress(name.into()));
    }
    db.conn
        .execute("DELETE FROM messages WHERE queue = ?1", [queue.id])?;
    db.conn.execute(
        "UPDATE queues SET purged_ms = ?1 WHERE id = ?2",
        params![now, queue.id],
    )?;
    db.forget(name);
    Ok(())
}

/// Tags (`add`) or untags (`remove`) a queue; returns its tags.
pub(crate) fn tag(
    db: &mut Db,
    name: &str,
    add: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<BTreeMap<String, String>, SqsError> {
    let queue = db.queue(name)?;
    let mut tags = queue.tags.clone();
    tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
    for k in remove {
        tags.remove(k);
    }
    if tags != queue.tags {
        let json = serde_json::to_string(&tags).map_err(|e| SqsError::Internal(e.to_string()))?;
        db.conn.execute(
            "UPDATE queues SET tags = ?1 WHERE id = ?2",
            params![json, queue.id],
        )?;
        db.forget(name);
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
    let content_hash =
        (entry.message_group_id.is_some() && entry.message_deduplication_id.is_none()).then(|| {
            Sha256::digest(body.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        });
    Ok(Prepared {
        size,
        message_id: uuid::Uuid::new_v4().to_string(),
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
pub(crate) fn insert(db: &mut Db, queue: &QueueRow, p: &Prepared) -> Result<Sent, SqsError> {
    let c = &queue.config;
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
    let mut dedup_key = None;
    if c.fifo {
        let group = entry
            .message_group_id
            .as_deref()
            .ok_or_else(|| SqsError::MissingParameter("MessageGroupId".into()))?;
        let dedup = match (&entry.message_deduplication_id, c.content_dedup) {
            (Some(id), _) => id.clone(),
            (None, true) => p.content_hash.clone().unwrap_or_default(),
            (None, false) => {
                return Err(SqsError::InvalidParameterValue(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".into(),
                ));
            }
        };
        let key = if queue
            .attributes
            .get("DeduplicationScope")
            .map(String::as_str)
            == Some("messageGroup")
        {
            format!("{group}\u{0}{dedup}")
        } else {
            dedup.clone()
        };
        let earlier: Option<(String, String)> = db
            .conn
            .prepare_cached(
                "SELECT message_id, sequence FROM dedup WHERE queue = ?1 AND key = ?2 AND expires_ms > ?3",
            )?
            .query_row(params![queue.id, key, now], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((message_id, sequence)) = earlier {
            return Ok(sent(p, message_id, Some(sequence)));
        }
        dedup_key = Some((key, dedup));
    } else if entry.message_deduplication_id.is_some() {
        return Err(SqsError::InvalidParameterValue(
            "Value for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.".into(),
        ));
    }
    db.conn
        .prepare_cached(
            "INSERT INTO messages (queue, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, visible_ms, group_id, dedup_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            queue.id,
            p.message_id,
            entry.message_body,
            p.attrs_json,
            p.md5_body,
            p.md5_attrs,
            p.trace,
            now,
            now + delay * 1000,
            entry.message_group_id,
            dedup_key.as_ref().map(|(_, d)| d.as_str()),
        ])?;
    let sequence = c
        .fifo
        .then(|| format!("{:020}", db.conn.last_insert_rowid()));
    if let (Some((key, _)), Some(seq)) = (dedup_key, &sequence) {
        db.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO dedup (queue, key, message_id, sequence, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![queue.id, key, p.message_id, seq, now + DEDUP_WINDOW_MS])?;
    }
    Ok(sent(p, p.message_id.clone(), sequence))
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

struct Candidate {
    seq: i64,
    id: String,
    receives: i64,
    group: Option<String>,
}

/// Takes up to `max` visible messages, moving any past `maxReceiveCount` to the
/// dead-letter queue on the way, as SQS does.
pub(crate) fn receive(
    db: &mut Db,
    name: &str,
    req: &ReceiveRequest,
) -> Result<(Vec<Taken>, Option<String>), SqsError> {
    let queue = db.queue(name)?;
    let now = now_ms();
    expire(db, &queue, now)?;
    let visibility = req.visibility.unwrap_or(queue.config.visibility_secs);
    let mut out = Vec::new();
    let mut dead_lettered_to = None;
    let blocked: std::collections::HashSet<String> = if queue.config.fifo {
        let mut stmt = db.conn.prepare_cached(
            "SELECT DISTINCT group_id FROM messages WHERE queue = ?1 AND visible_ms > ?2 AND group_id IS NOT NULL",
        )?;
        stmt.query_map(params![queue.id, now], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?
    } else {
        Default::default()
    };
    let mut dead_groups = std::collections::HashSet::new();
    loop {
        let want = req.max - out.len() as i64;
        if want <= 0 {
            break;
        }
        let sql = if queue.config.fifo {
            "SELECT seq, id, receives, group_id FROM messages WHERE queue = ?1 AND visible_ms <= ?2 ORDER BY seq LIMIT ?3"
        } else {
            "SELECT seq, id, receives, group_id FROM messages WHERE queue = ?1 AND visible_ms <= ?2 ORDER BY visible_ms LIMIT ?3"
        };
        let limit = if queue.config.fifo { 1000 } else { want };
        let candidates: Vec<Candidate> = db
            .conn
            .prepare_cached(sql)?
            .query_map(params![queue.id, now, limit], |r| {
                Ok(Candidate {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    receives: r.get(2)?,
                    group: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        if candidates.is_empty() {
            break;
        }
        let mut progressed = false;
        for cand in candidates {
            if out.len() as i64 >= req.max {
                break;
            }
            if let Some(g) = &cand.group
                && (blocked.contains(g) || dead_groups.contains(g))
            {
                continue;
            }
            if let Some((dlq, max)) = &queue.config.redrive
                && cand.receives >= *max
                && let Ok(target) = db.queue(dlq)
            {
                dead_letter(db, &queue, &target, cand.seq, now)?;
                dead_lettered_to = Some(target.name.clone());
                // A dead-lettered FIFO message must not let later ones of its group overtake
                // it in this receive; they follow on the next.
                if let Some(g) = cand.group {
                    dead_groups.insert(g);
                }
                progressed = true;
                continue;
            }
            out.push(deliver(db, &queue, &cand, now, visibility)?);
            progressed = true;
        }
        if !progressed || queue.config.fifo {
            break;
        }
    }
    Ok((out, dead_lettered_to))
}

/// A message taken for a receive, as stored; [`Taken::into_received`] shapes it for the
/// caller outside the writer thread.
#[derive(Debug)]
pub(crate) struct Taken {
    queue: i64,
    seq: i64,
    id: String,
    token: String,
    body: String,
    attributes: Option<String>,
    md5_body: String,
    trace: Option<String>,
    sent_ms: i64,
    receives: i64,
    first_ms: Option<i64>,
    group: Option<String>,
    dedup: Option<String>,
    dead_from: Option<String>,
    fifo: bool,
}

fn deliver(
    db: &mut Db,
    queue: &QueueRow,
    cand: &Candidate,
    now: i64,
    visibility: i64,
) -> Result<Taken, SqsError> {
    let token = format!("{:016x}", fastrand::u64(..));
    let taken = db
        .conn
        .prepare_cached(
            "UPDATE messages SET receives = receives + 1, visible_ms = ?1, receipt = ?2, first_ms = COALESCE(first_ms, ?3) WHERE seq = ?4
             RETURNING body, attributes, md5_body, trace_header, sent_ms, receives, first_ms, group_id, dedup_id, dead_from",
        )?
        .query_row(params![now + visibility * 1000, token, now, cand.seq], |r| {
            Ok(Taken {
                queue: queue.id,
                seq: cand.seq,
                id: cand.id.clone(),
                token: token.clone(),
                body: r.get(0)?,
                attributes: r.get(1)?,
                md5_body: r.get(2)?,
                trace: r.get(3)?,
                sent_ms: r.get(4)?,
                receives: r.get(5)?,
                first_ms: r.get(6)?,
                group: r.get(7)?,
                dedup: r.get(8)?,
                dead_from: r.get(9)?,
                fifo: queue.config.fifo,
            })
        })?;
    Ok(taken)
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
        put("SentTimestamp", self.sent_ms.to_string());
        put("ApproximateReceiveCount", self.receives.to_string());
        if let Some(first) = self.first_ms {
            put("ApproximateFirstReceiveTimestamp", first.to_string());
        }
        if let Some(t) = self.trace {
            put("AWSTraceHeader", t);
        }
        if let Some(d) = self.dead_from {
            put("DeadLetterQueueSourceArn", d);
        }
        if self.fifo {
            if let Some(g) = self.group {
                put("MessageGroupId", g);
            }
            if let Some(d) = self.dedup {
                put("MessageDeduplicationId", d);
            }
            put("SequenceNumber", format!("{:020}", self.seq));
        }
        let message_attributes: Attributes = if req.message_attribute_names.is_empty() {
            Attributes::new()
        } else {
            let all: Attributes = self
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
            .encode(format!("{}:{}:{}", self.queue, self.seq, self.token));
        Ok(Received {
            message_id: self.id,
            receipt_handle: handle,
            md5_of_body: self.md5_body,
            body: self.body,
            attributes,
            md5_of_message_attributes: rules::md5_of_attributes(&message_attributes),
            message_attributes,
        })
    }
}

/// Moves a message to a dead-letter queue (same id, body and attributes; receive count reset).
fn dead_letter(
    db: &mut Db,
    from: &QueueRow,
    to: &QueueRow,
    seq: i64,
    now: i64,
) -> Result<(), SqsError> {
    db.conn
        .prepare_cached(
            "INSERT INTO messages (queue, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, visible_ms, group_id, dedup_id, dead_from)
             SELECT ?1, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, ?2, group_id, dedup_id, ?3 FROM messages WHERE seq = ?4",
        )?
        .execute(params![to.id, now, rules::queue_arn(&from.name), seq])?;
    db.conn
        .prepare_cached("DELETE FROM messages WHERE seq = ?1")?
        .execute([seq])?;
    Ok(())
}

/// Drops messages older than the queue's retention period (at most once a second per queue:
/// the sweep reads the whole queue, and SQS's own expiry is approximate too).
fn expire(db: &mut Db, queue: &QueueRow, now: i64) -> Result<(), SqsError> {
    if !db.expiry_due(queue.id, now) {
        return Ok(());
    }
    db.conn
        .prepare_cached("DELETE FROM messages WHERE queue = ?1 AND sent_ms < ?2")?
        .execute(params![queue.id, now - queue.config.retention_secs * 1000])?;
    Ok(())
}

/// A receipt handle's queue row id, message seq and token.
fn parse_handle(handle: &str) -> Result<(i64, i64, String), SqsError> {
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
    let t = parts.next().ok_or_else(invalid)?.to_owned();
    Ok((q, s, t))
}

/// Deletes a received message. A standard queue accepts an older receipt handle of the
/// message, as SQS does; a FIFO queue wants the latest one while it is in flight.
pub(crate) fn delete(db: &mut Db, queue: &QueueRow, handle: &str) -> Result<bool, SqsError> {
    let (q, seq, token) = parse_handle(handle)?;
    if q != queue.id {
        return Err(SqsError::ReceiptHandleIsInvalid(handle.into()));
    }
    if queue.config.fifo {
        let current: Option<(Option<String>, i64)> = db
            .conn
            .prepare_cached("SELECT receipt, visible_ms FROM messages WHERE seq = ?1")?
            .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((receipt, visible_ms)) = current
            && (receipt.as_deref() != Some(token.as_str()) || visible_ms <= now_ms())
        {
            return Err(SqsError::ReceiptHandleIsInvalid(handle.into()));
        }
    }
    let n = db
        .conn
        .prepare_cached("DELETE FROM messages WHERE seq = ?1 AND queue = ?2")?
        .execute(params![seq, queue.id])?;
    Ok(n > 0)
}

/// Changes an in-flight message's visibility timeout, counted from now.
pub(crate) fn change_visibility(
    db: &mut Db,
    queue: &QueueRow,
    handle: &str,
    timeout: i64,
) -> Result<(), SqsError> {
    if !(0..=rules::MAX_VISIBILITY_SECS).contains(&timeout) {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: must be between 0 and {}.",
            rules::MAX_VISIBILITY_SECS
        )));
    }
    let (q, seq, token) = parse_handle(handle)?;
    if q != queue.id {
        return Err(SqsError::ReceiptHandleIsInvalid(handle.into()));
    }
    let now = now_ms();
    let n = db
        .conn
        .prepare_cached(
            "UPDATE messages SET visible_ms = ?1 WHERE seq = ?2 AND receipt = ?3 AND visible_ms > ?4 AND receives > 0",
        )?
        .execute(params![now + timeout * 1000, seq, token, now])?;
    if n == 0 {
        return Err(SqsError::MessageNotInflight);
    }
    Ok(())
}

/// Queues whose redrive policy names `name` as their dead-letter queue.
pub(crate) fn dead_letter_sources(db: &mut Db, name: &str) -> Result<Vec<String>, SqsError> {
    db.queue(name)?;
    let mut sources = Vec::new();
    for q in list_queues(db, "")? {
        if db
            .queue(&q)?
            .config
            .redrive
            .is_some_and(|(dlq, _)| dlq == name)
        {
            sources.push(q);
        }
    }
    Ok(sources)
}

/// Moves every message of a dead-letter queue back to `dest` (or to the queue each came
/// from); returns the task handle and how many moved.
pub(crate) fn move_messages(
    db: &mut Db,
    source_arn: &str,
    dest_arn: Option<&str>,
    rate: Option<i64>,
) -> Result<(String, i64), SqsError> {
    let not_found = || {
        SqsError::ResourceNotFound(format!(
            "The resource that you specified for the SourceArn parameter doesn't exist: {source_arn}"
        ))
    };
    let source_name = rules::queue_name_of_arn(source_arn).ok_or_else(not_found)?;
    let source = db.queue(source_name).map_err(|_| not_found())?;
    if dead_letter_sources(db, source_name)?.is_empty() {
        return Err(SqsError::InvalidParameterValue(format!(
            "Source queue must be configured as a Dead Letter Queue: {source_arn}"
        )));
    }
    let dest = match dest_arn {
        Some(arn) => Some(
            db.queue(rules::queue_name_of_arn(arn).ok_or_else(|| {
                SqsError::ResourceNotFound(format!("The destination queue does not exist: {arn}"))
            })?)
            .map_err(|_| {
                SqsError::ResourceNotFound(format!("The destination queue does not exist: {arn}"))
            })?,
        ),
        None => None,
    };
    let rows: Vec<(i64, Option<String>)> = db
        .conn
        .prepare_cached("SELECT seq, dead_from FROM messages WHERE queue = ?1 ORDER BY seq")?
        .query_map([source.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let now = now_ms();
    let mut moved = 0;
    for (seq, from) in &rows {
        let target = match (&dest, from.as_deref().and_then(rules::queue_name_of_arn)) {
            (Some(d), _) => d.clone(),
            (None, Some(origin)) => match db.queue(origin) {
                Ok(q) => q,
                Err(_) => continue,
            },
            (None, None) => continue,
        };
        db.conn
            .prepare_cached(
                "INSERT INTO messages (queue, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, visible_ms, group_id, dedup_id)
                 SELECT ?1, id, body, attributes, md5_body, md5_attrs, trace_header, ?2, ?2, group_id, dedup_id FROM messages WHERE seq = ?3",
            )?
            .execute(params![target.id, now, seq])?;
        db.conn
            .prepare_cached("DELETE FROM messages WHERE seq = ?1")?
            .execute([seq])?;
        moved += 1;
    }
    let handle = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        uuid::Uuid::new_v4(),
        source_arn
    ));
    db.conn.execute(
        "INSERT INTO move_tasks (handle, source_arn, dest_arn, rate, moved, to_move, status, started_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'COMPLETED', ?7)",
        params![handle, source_arn, dest_arn, rate, moved, rows.len() as i64, now],
    )?;
    Ok((handle, moved))
}

/// The message move tasks of a source, newest first.
pub(crate) fn move_tasks(
    db: &mut Db,
    source_arn: &str,
    max: i64,
) -> Result<Vec<serde_json::Value>, SqsError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT handle, status, source_arn, dest_arn, rate, moved, to_move, started_ms FROM move_tasks WHERE source_arn = ?1 ORDER BY started_ms DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![source_arn, max], |r| {
            let mut v = serde_json::json!({
                "TaskHandle": r.get::<_, String>(0)?,
                "Status": r.get::<_, String>(1)?,
                "SourceArn": r.get::<_, String>(2)?,
                "ApproximateNumberOfMessagesMoved": r.get::<_, i64>(5)?,
                "ApproximateNumberOfMessagesToMove": r.get::<_, i64>(6)?,
                "StartedTimestamp": r.get::<_, i64>(7)?,
            });
            if let Some(d) = r.get::<_, Option<String>>(3)? {
                v["DestinationArn"] = d.into();
            }
            if let Some(rate) = r.get::<_, Option<i64>>(4)? {
                v["MaxNumberOfMessagesPerSecond"] = rate.into();
            }
            Ok(v)
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
