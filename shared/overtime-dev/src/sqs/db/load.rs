//! Reading the whole store into memory at start.

use super::SqsError;
use crate::sqs::state::{Content, MoveTask, Msg, QueueRow, QueueState, State};
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Reads the whole store into memory.
pub(super) fn load(conn: &Connection) -> Result<State, SqsError> {
    let now = crate::sqs::state::now_ms();
    let mut state = State::default();
    let names = load_queues(conn, &mut state)?;
    load_messages(conn, &mut state, &names, now)?;
    load_dedup(conn, &mut state, &names, now)?;
    load_meta(conn, &mut state)?;
    load_move_tasks(conn, &mut state)?;
    conn.execute("DELETE FROM dedup WHERE expires_ms <= ?1", [now])?;
    Ok(state)
}

/// The queues; their names by row id.
fn load_queues(conn: &Connection, state: &mut State) -> Result<BTreeMap<i64, String>, SqsError> {
    let mut names = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT id, name, attributes, tags, created_ms, modified_ms, purged_ms FROM queues",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    for row in rows {
        let (id, name, attributes, tags, created_ms, modified_ms, purged_ms) = row?;
        let attributes: BTreeMap<String, String> = serde_json::from_str(&attributes)
            .map_err(|e| SqsError::Internal(format!("stored attributes of {name}: {e}")))?;
        let queue = QueueRow {
            id,
            name: name.clone(),
            config: crate::sqs::rules::config_of(&attributes)?,
            attributes,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            created_ms,
            modified_ms,
            purged_ms,
        };
        state.next_queue_id = state.next_queue_id.max(id + 1);
        names.insert(id, name.clone());
        state.queues.insert(name, QueueState::new(queue));
    }
    Ok(names)
}

/// Every queue's messages, and the next sequence number past them.
fn load_messages(
    conn: &Connection,
    state: &mut State,
    names: &BTreeMap<i64, String>,
    now: i64,
) -> Result<(), SqsError> {
    let mut stmt = conn.prepare(
        "SELECT seq, queue, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, visible_ms, receives, first_ms, receipt, group_id, dedup_id, dead_from FROM messages ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let receives: i64 = r.get(10)?;
        state.next_seq = state.next_seq.max(seq + 1);
        let Some(queue) = names
            .get(&r.get::<_, i64>(1)?)
            .and_then(|n| state.queues.get_mut(n))
        else {
            continue;
        };
        let content = Content {
            id: r.get(2)?,
            body: r.get(3)?,
            attributes: r.get(4)?,
            md5_body: r.get(5)?,
            md5_attrs: r.get(6)?,
            trace: r.get(7)?,
            sent_ms: r.get(8)?,
            group: r.get(13)?,
            dedup: r.get(14)?,
        };
        let receipt: Option<String> = r.get(12)?;
        queue.put(
            seq,
            Msg {
                content: Arc::new(content),
                visible_ms: r.get(9)?,
                receives,
                first_ms: r.get(11)?,
                receipt: receipt
                    .and_then(|t| u64::from_str_radix(&t, 16).ok())
                    .unwrap_or(0),
                received_ms: if receives > 0 { now } else { 0 },
                dead_from: r.get::<_, Option<String>>(15)?.map(Arc::from),
            },
        );
    }
    Ok(())
}

/// The FIFO deduplication entries still in their window.
fn load_dedup(
    conn: &Connection,
    state: &mut State,
    names: &BTreeMap<i64, String>,
    now: i64,
) -> Result<(), SqsError> {
    let mut stmt = conn.prepare(
        "SELECT queue, key, message_id, sequence, expires_ms FROM dedup WHERE expires_ms > ?1",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (q, key, message_id, sequence, expires_ms) = row?;
        if let Some(queue) = names.get(&q).and_then(|n| state.queues.get_mut(n)) {
            queue.dedup.insert(key, (message_id, sequence, expires_ms));
        }
    }
    Ok(())
}

/// The high-water marks of sequence numbers and queue row ids.
fn load_meta(conn: &Connection, state: &mut State) -> Result<(), SqsError> {
    let mut stmt = conn.prepare("SELECT key, value FROM meta")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (key, value) = row?;
        if key == crate::sqs::state::SEQ_RESERVED {
            state.seq_reserved = value;
            state.next_seq = state.next_seq.max(value);
        } else if key == crate::sqs::state::NEXT_QUEUE_ID {
            state.next_queue_id = state.next_queue_id.max(value);
        }
    }
    Ok(())
}

/// The message move tasks.
fn load_move_tasks(conn: &Connection, state: &mut State) -> Result<(), SqsError> {
    let mut stmt = conn.prepare(
        "SELECT handle, source_arn, dest_arn, rate, moved, to_move, status, started_ms FROM move_tasks ORDER BY started_ms",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(MoveTask {
            handle: r.get(0)?,
            source_arn: r.get(1)?,
            dest_arn: r.get(2)?,
            rate: r.get(3)?,
            moved: r.get(4)?,
            to_move: r.get(5)?,
            status: r.get(6)?,
            started_ms: r.get(7)?,
        })
    })?;
    for task in rows {
        let mut task = task?;
        // A task that was running when the last run stopped does not resume.
        if task.status == "RUNNING" {
            task.status = "FAILED".into();
        }
        state.move_tasks.push(task);
    }
    Ok(())
}
