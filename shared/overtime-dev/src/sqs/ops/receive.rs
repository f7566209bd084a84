//! Receiving: which messages a receive takes (FIFO groups in order), those past
//! `maxReceiveCount` moved to the dead-letter queue on the way, and each taken message shaped
//! as ReceiveMessage returns it.

use super::retention::expire;
use crate::sqs::SqsError;
use crate::sqs::model::{Attributes, Received};
use crate::sqs::rules;
use crate::sqs::state::{Change, Content, Msg, QueueState, State, now_ms};
use base64::Engine as _;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

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
    let picked = if fifo {
        pick_fifo(queue, now, req.max, max_receives)
    } else {
        pick_standard(queue, now, req.max, max_receives)
    };
    let taken = take(queue, picked.deliver, now, now + visibility * 1000, log);
    let moved: Vec<Msg> = picked
        .dead
        .iter()
        .filter_map(|&seq| queue.take(seq))
        .collect();
    for &seq in &picked.dead {
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
        dead_letter(state, name, fifo, &dlq, moved, now)?;
        receipt.dead_lettered_to = Some(dlq);
    }
    Ok(receipt)
}

/// The messages a receive delivers and those it dead-letters, each in order.
#[derive(Default)]
struct Picked {
    deliver: Vec<i64>,
    dead: Vec<i64>,
}

/// Picks from a FIFO queue, in send order. A group with a message in flight is blocked. A
/// message still delayed blocks only the ones after it in its group, and so does one
/// dead-lettered now: later messages must not overtake it.
fn pick_fifo(queue: &QueueState, now: i64, max: i64, max_receives: i64) -> Picked {
    let mut picked = Picked::default();
    let mut blocked: HashSet<&str> = queue
        .by_visible
        .range((now + 1, i64::MIN)..)
        .filter_map(|(_, seq)| {
            let m = queue.messages.get(seq)?;
            (m.receives > 0).then_some(m.content.group.as_deref()?)
        })
        .collect();
    for (&seq, m) in &queue.messages {
        if picked.deliver.len() as i64 >= max {
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
            picked.dead.push(seq);
            blocked.insert(group);
        } else {
            picked.deliver.push(seq);
        }
    }
    picked
}

/// Picks from a standard queue: the visible messages, those visible longest first.
fn pick_standard(queue: &QueueState, now: i64, max: i64, max_receives: i64) -> Picked {
    let mut picked = Picked::default();
    for &(visible, seq) in &queue.by_visible {
        if visible > now || picked.deliver.len() as i64 >= max {
            break;
        }
        if queue
            .messages
            .get(&seq)
            .is_some_and(|m| m.receives >= max_receives)
        {
            picked.dead.push(seq);
        } else {
            picked.deliver.push(seq);
        }
    }
    picked
}

/// Receives the picked messages: each in flight until `visible_ms`, with one more receive and
/// a new receipt token.
fn take(
    queue: &mut QueueState,
    deliver: Vec<i64>,
    now: i64,
    visible_ms: i64,
    log: &mut Vec<Change>,
) -> Vec<Taken> {
    let fifo = queue.row.config.fifo;
    let mut taken = Vec::with_capacity(deliver.len());
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
    taken
}

/// Stores messages taken from queue `name` (FIFO or not) in its dead-letter queue `dlq`,
/// visible at once.
fn dead_letter(
    state: &mut State,
    name: &str,
    fifo: bool,
    dlq: &str,
    moved: Vec<Msg>,
    now: i64,
) -> Result<(), SqsError> {
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
        let target = state.queue_mut(dlq)?;
        let id = target.row.id;
        target.put(seq, msg.clone());
        state.log.push(Change::PutMessage {
            queue: id,
            seq,
            msg,
        });
    }
    Ok(())
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
