//! What expires: messages older than their queue's retention period, and FIFO
//! deduplication entries past their window.

use crate::sqs::SqsError;
use crate::sqs::state::{Change, QueueState, State, now_ms};

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
pub(super) fn expire(queue: &mut QueueState, now: i64, log: &mut Vec<Change>) {
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
