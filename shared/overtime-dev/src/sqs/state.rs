//! The queues as requests see them: in memory, behind one lock, with every change also handed
//! to the SQLite log ([`super::db`]) in the order it was made.
//!
//! A receive, a delete or a visibility change is a few map operations here and one row write
//! on the log's thread; no request reads SQLite.

use super::rules::QueueConfig;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A queue's settings and metadata.
#[derive(Debug, Clone)]
pub(crate) struct QueueRow {
    /// Row id (in receipt handles).
    pub(crate) id: i64,
    /// Name.
    pub(crate) name: String,
    /// The attributes it was given (settable ones only).
    pub(crate) attributes: BTreeMap<String, String>,
    /// What they mean.
    pub(crate) config: QueueConfig,
    /// Tags.
    pub(crate) tags: BTreeMap<String, String>,
    /// Creation time.
    pub(crate) created_ms: i64,
    /// Last attribute change.
    pub(crate) modified_ms: i64,
    /// Last purge.
    pub(crate) purged_ms: i64,
}

/// What a message was sent with; never changes, so the log and receives share it.
#[derive(Debug, Clone)]
pub(crate) struct Content {
    pub(crate) id: String,
    pub(crate) body: String,
    /// Message attributes as JSON.
    pub(crate) attributes: Option<String>,
    pub(crate) md5_body: String,
    pub(crate) md5_attrs: Option<String>,
    pub(crate) trace: Option<String>,
    pub(crate) sent_ms: i64,
    pub(crate) group: Option<String>,
    pub(crate) dedup: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) content: Arc<Content>,
    /// When it is (or was) visible: after a delay, or when its visibility timeout ends.
    pub(crate) visible_ms: i64,
    pub(crate) receives: i64,
    pub(crate) first_ms: Option<i64>,
    /// The latest receive's token (0: never received).
    pub(crate) receipt: u64,
    /// When the latest receive happened (0: never), from which ChangeMessageVisibility may
    /// extend the visibility timeout to 12 hours at most. Kept in memory only: after a
    /// restart the 12 hours of a message in flight count from the restart.
    pub(crate) received_ms: i64,
    /// The queue it was dead-lettered from (its ARN).
    pub(crate) dead_from: Option<Arc<str>>,
}

/// A queue with its messages.
#[derive(Debug)]
pub(crate) struct QueueState {
    pub(crate) row: QueueRow,
    /// By sequence number: the order sent (FIFO order).
    pub(crate) messages: BTreeMap<i64, Msg>,
    /// (visible time, sequence number) of every message: the visible ones come first.
    pub(crate) by_visible: BTreeSet<(i64, i64)>,
    /// FIFO deduplication: key → (message id, sequence number, expiry).
    pub(crate) dedup: HashMap<String, (String, String, i64)>,
    /// The last retention sweep.
    pub(crate) swept_ms: i64,
}

impl QueueState {
    pub(crate) fn new(row: QueueRow) -> Self {
        QueueState {
            row,
            messages: BTreeMap::new(),
            by_visible: BTreeSet::new(),
            dedup: HashMap::new(),
            swept_ms: 0,
        }
    }

    /// Adds (or replaces) a message.
    pub(crate) fn put(&mut self, seq: i64, msg: Msg) {
        if let Some(old) = self.messages.get(&seq) {
            self.by_visible.remove(&(old.visible_ms, seq));
        }
        self.by_visible.insert((msg.visible_ms, seq));
        self.messages.insert(seq, msg);
    }

    /// Removes a message.
    pub(crate) fn take(&mut self, seq: i64) -> Option<Msg> {
        let msg = self.messages.remove(&seq)?;
        self.by_visible.remove(&(msg.visible_ms, seq));
        Some(msg)
    }

    /// Moves a message's visible time.
    pub(crate) fn set_visible(&mut self, seq: i64, visible_ms: i64) {
        if let Some(m) = self.messages.get_mut(&seq) {
            self.by_visible.remove(&(m.visible_ms, seq));
            m.visible_ms = visible_ms;
            self.by_visible.insert((visible_ms, seq));
        }
    }

    /// Visible, in-flight and delayed message counts at `now`.
    pub(crate) fn counts(&self, now: i64) -> (i64, i64, i64) {
        let (mut visible, mut in_flight, mut delayed) = (0, 0, 0);
        for &(v, seq) in &self.by_visible {
            if v <= now {
                visible += 1;
            } else if self.messages.get(&seq).is_some_and(|m| m.receives > 0) {
                in_flight += 1;
            } else {
                delayed += 1;
            }
        }
        (visible, in_flight, delayed)
    }

    /// The first time after `now` at which a message becomes visible.
    pub(crate) fn next_visible(&self, now: i64) -> Option<i64> {
        self.by_visible
            .range((now + 1, i64::MIN)..)
            .next()
            .map(|&(v, _)| v)
    }
}

/// A message move task, as ListMessageMoveTasks shows it.
#[derive(Debug, Clone)]
pub(crate) struct MoveTask {
    pub(crate) handle: String,
    pub(crate) source_arn: String,
    pub(crate) dest_arn: Option<String>,
    pub(crate) rate: Option<i64>,
    pub(crate) moved: i64,
    pub(crate) to_move: i64,
    pub(crate) status: String,
    pub(crate) started_ms: i64,
}

/// One change to log, in the order it was made.
#[derive(Debug)]
pub(crate) enum Change {
    /// A queue created or changed.
    PutQueue(QueueRow),
    /// A queue deleted, with its messages.
    DeleteQueue(i64),
    /// A queue purged.
    DeleteMessagesOf(i64),
    /// A message stored (sent, dead-lettered or moved).
    PutMessage { queue: i64, seq: i64, msg: Msg },
    /// A message received.
    MessageState {
        seq: i64,
        visible_ms: i64,
        receives: i64,
        first_ms: Option<i64>,
        receipt: u64,
    },
    /// A message's visibility timeout changed.
    Visibility { seq: i64, visible_ms: i64 },
    /// A message deleted (or expired, or moved away).
    DeleteMessage(i64),
    /// A FIFO deduplication entry.
    PutDedup {
        queue: i64,
        key: String,
        message_id: String,
        sequence: String,
        expires_ms: i64,
    },
    /// A queue's expired deduplication entries dropped.
    ExpireDedup { queue: i64, now: i64 },
    /// A move task recorded.
    PutMoveTask(MoveTask),
    /// A high-water mark: sequence numbers or queue ids up to it may be in use, so a restart
    /// never hands out one again (an old receipt handle must not name a new message).
    Meta { key: &'static str, value: i64 },
}

/// Sequence numbers reserved at a time (one small write per block).
const SEQ_BLOCK: i64 = 10_000;

/// The meta key of [`State::seq_reserved`].
pub(crate) const SEQ_RESERVED: &str = "seq_reserved";
/// The meta key of the next queue row id.
pub(crate) const NEXT_QUEUE_ID: &str = "next_queue_id";

/// Every queue, and the changes the current request has made.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// By name.
    pub(crate) queues: BTreeMap<String, QueueState>,
    /// The next message's sequence number.
    pub(crate) next_seq: i64,
    /// Sequence numbers below this are (or were) possibly in use; it is on disk.
    pub(crate) seq_reserved: i64,
    /// The next queue's row id.
    pub(crate) next_queue_id: i64,
    /// Move tasks, oldest first.
    pub(crate) move_tasks: Vec<MoveTask>,
    /// Changes made since the log last took them.
    pub(crate) log: Vec<Change>,
    /// Set when a commit failed: memory is ahead of the disk.
    pub(crate) failed: Option<String>,
}

impl State {
    /// The next sequence number.
    pub(crate) fn seq(&mut self) -> i64 {
        self.next_seq = self.next_seq.max(1);
        let s = self.next_seq;
        self.next_seq += 1;
        if self.next_seq > self.seq_reserved {
            // Logged before the message that uses it, so it is on disk no later than that.
            self.seq_reserved = self.next_seq + SEQ_BLOCK;
            self.log.push(Change::Meta {
                key: SEQ_RESERVED,
                value: self.seq_reserved,
            });
        }
        s
    }

    /// The next queue row id (never one used before, even by a deleted queue).
    pub(crate) fn queue_id(&mut self) -> i64 {
        self.next_queue_id = self.next_queue_id.max(1);
        let id = self.next_queue_id;
        self.next_queue_id += 1;
        self.log.push(Change::Meta {
            key: NEXT_QUEUE_ID,
            value: self.next_queue_id,
        });
        id
    }

    /// A queue by name.
    pub(crate) fn queue(&self, name: &str) -> Result<&QueueState, super::SqsError> {
        self.queues
            .get(name)
            .ok_or(super::SqsError::QueueDoesNotExist)
    }

    /// A queue by name, to change.
    pub(crate) fn queue_mut(&mut self, name: &str) -> Result<&mut QueueState, super::SqsError> {
        self.queues
            .get_mut(name)
            .ok_or(super::SqsError::QueueDoesNotExist)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
