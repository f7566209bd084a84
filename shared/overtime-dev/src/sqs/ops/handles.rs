//! What a receipt handle names, and the operations on the message it names: delete and
//! visibility changes.

use crate::sqs::SqsError;
use crate::sqs::rules;
use crate::sqs::state::{Change, State, now_ms};
use base64::Engine as _;

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
