//! Writing a group: one transaction of the changes, one fdatasync of the write-ahead log when
//! anyone waits, and the store failed closed when either fails; checkpoints into the database.

use super::SqsError;
use super::deferred::Deferred;
use super::writer::Reply;
use crate::sqs::state::{Change, Msg, State};
use rusqlite::{Connection, params};
use std::sync::{Arc, Mutex};

/// The SQLite connection and what writing it needs.
pub(super) struct Log {
    /// `None` once closed.
    pub(super) conn: Option<Connection>,
    /// Commits since the last checkpoint.
    pub(super) commits: u32,
    /// Set by a failed commit or sync: nothing more is written until a restart.
    pub(super) failed: Option<SqsError>,
    /// The write-ahead log, for fdatasync.
    pub(super) wal: std::fs::File,
    pub(super) db_file: std::fs::File,
    pub(super) deferred: Deferred,
    /// Marked failed with the reason when a commit or sync fails.
    pub(super) state: Arc<Mutex<State>>,
}

impl Log {
    /// Copies the log into the database, synced, so the next transaction may reuse the log
    /// (a complete checkpoint lets it start over).
    pub(super) fn checkpoint(&mut self) {
        self.commits = 0;
        if let Some(conn) = &self.conn
            && let Err(e) = checkpoint(conn, &self.db_file)
        {
            tracing::error!(error = %e, "checkpoint failed; the log keeps growing until one succeeds");
        }
    }

    /// Commits `changes` as one transaction (receive and visibility row updates are held
    /// back, see [`DEFER`]), fdatasyncs the log if anyone waits, and answers. With `closing`,
    /// writes everything, checkpoints, and closes the connection; true once closed.
    pub(super) fn group(
        &mut self,
        changes: Vec<Change>,
        replies: Vec<Reply>,
        closing: bool,
    ) -> bool {
        let Some(conn) = &self.conn else {
            return true;
        };
        if let Some(e) = &self.failed {
            // Memory is ahead of the disk: nothing more is written until a restart.
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
            self.deferred = Deferred::default();
            if closing {
                self.conn = None;
            }
            return closing;
        }
        let mut write: Vec<Change> = Vec::with_capacity(changes.len());
        for change in changes {
            if !self.deferred.defer(&change) {
                write.push(change);
            }
        }
        write.extend(self.deferred.take_due(closing));
        if write.is_empty() && replies.is_empty() && !closing {
            return false;
        }
        let written = (|| -> rusqlite::Result<()> {
            if write.is_empty() {
                return Ok(());
            }
            exec_cached(conn, "BEGIN IMMEDIATE")?;
            for change in &write {
                apply(conn, change)?;
            }
            exec_cached(conn, "COMMIT")
        })();
        let mut result = written.map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            fail(&mut self.failed, &self.state, format!(
                "the queue store could not write ({e}); restart overtime dev, which reloads what is on disk"
            ))
        });
        self.commits += u32::from(!write.is_empty());
        // A commit nobody waits on is not synced; the next sync covers it.
        // After a failed sync the kernel may have dropped the pages: fail closed.
        if (!replies.is_empty() || closing)
            && result.is_ok()
            && let Err(e) = self.wal.sync_data()
        {
            result = Err(fail(
                &mut self.failed,
                &self.state,
                format!(
                    "sync the queue log: {e}; restart overtime dev, which reloads what is on disk"
                ),
            ));
        }
        for reply in replies {
            let _ = reply.send(result.clone());
        }
        if closing {
            // Into the database, synced, before the connection's close removes the log.
            if let Err(e) = checkpoint(conn, &self.db_file) {
                tracing::error!(error = %e, "final checkpoint failed; the log stays for the next start");
            }
            self.conn = None;
        }
        closing
    }
}

/// Fails the store closed with `reason`: every request gets it until a restart.
fn fail(failed: &mut Option<SqsError>, state: &Mutex<State>, reason: String) -> SqsError {
    let e = SqsError::Internal(reason);
    tracing::error!(error = %e, "queue store failed");
    state.lock().unwrap_or_else(|p| p.into_inner()).failed = Some(e.to_string());
    *failed = Some(e.clone());
    e
}

/// Writes one change.
fn apply(conn: &Connection, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::PutQueue(q) => {
            let attrs = serde_json::to_string(&q.attributes).unwrap_or_else(|_| "{}".into());
            let tags = serde_json::to_string(&q.tags).unwrap_or_else(|_| "{}".into());
            conn.prepare_cached(
                "INSERT OR REPLACE INTO queues (id, name, attributes, tags, created_ms, modified_ms, purged_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![q.id, q.name, attrs, tags, q.created_ms, q.modified_ms, q.purged_ms])?;
        }
        Change::DeleteQueue(id) => {
            conn.execute("DELETE FROM messages WHERE queue = ?1", [id])?;
            conn.execute("DELETE FROM dedup WHERE queue = ?1", [id])?;
            conn.execute("DELETE FROM queues WHERE id = ?1", [id])?;
        }
        Change::DeleteMessagesOf(id) => {
            conn.execute("DELETE FROM messages WHERE queue = ?1", [id])?;
        }
        Change::PutMessage { queue, seq, msg } => put_message(conn, *queue, *seq, msg)?,
        Change::MessageState {
            seq,
            visible_ms,
            receives,
            first_ms,
            receipt,
        } => {
            conn.prepare_cached(
                "UPDATE messages SET visible_ms = ?1, receives = ?2, first_ms = ?3, receipt = ?4 WHERE seq = ?5",
            )?
            .execute(params![
                visible_ms,
                receives,
                first_ms,
                format!("{receipt:016x}"),
                seq
            ])?;
        }
        Change::Visibility { seq, visible_ms } => {
            conn.prepare_cached("UPDATE messages SET visible_ms = ?1 WHERE seq = ?2")?
                .execute(params![visible_ms, seq])?;
        }
        Change::DeleteMessage(seq) => {
            conn.prepare_cached("DELETE FROM messages WHERE seq = ?1")?
                .execute([seq])?;
        }
        Change::PutDedup {
            queue,
            key,
            message_id,
            sequence,
            expires_ms,
        } => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO dedup (queue, key, message_id, sequence, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![queue, key, message_id, sequence, expires_ms])?;
        }
        Change::ExpireDedup { queue, now } => {
            conn.prepare_cached("DELETE FROM dedup WHERE queue = ?1 AND expires_ms <= ?2")?
                .execute(params![queue, now])?;
        }
        Change::Meta { key, value } => {
            conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![key, value])?;
        }
        Change::PutMoveTask(t) => {
            conn.execute(
                "INSERT OR REPLACE INTO move_tasks (handle, source_arn, dest_arn, rate, moved, to_move, status, started_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![t.handle, t.source_arn, t.dest_arn, t.rate, t.moved, t.to_move, t.status, t.started_ms],
            )?;
        }
    }
    Ok(())
}

/// Writes a message row (a send, a dead-letter or a move).
fn put_message(conn: &Connection, queue: i64, seq: i64, msg: &Msg) -> rusqlite::Result<()> {
    let c = &msg.content;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO messages (seq, queue, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, visible_ms, receives, first_ms, receipt, group_id, dedup_id, dead_from)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        seq,
        queue,
        c.id,
        c.body,
        c.attributes,
        c.md5_body,
        c.md5_attrs,
        c.trace,
        c.sent_ms,
        msg.visible_ms,
        msg.receives,
        msg.first_ms,
        (msg.receipt != 0).then(|| format!("{:016x}", msg.receipt)),
        c.group,
        c.dedup,
        msg.dead_from.as_deref(),
    ])?;
    Ok(())
}

/// Copies the log into the database and syncs the database (SQLite's own checkpoint does not
/// sync it, synchronous being off), so the log may then be reused or removed.
pub(super) fn checkpoint(conn: &Connection, db_file: &std::fs::File) -> Result<(), SqsError> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    db_file
        .sync_all()
        .map_err(|e| SqsError::Internal(format!("sync the queue database: {e}")))
}

/// Runs a parameterless statement from the statement cache (these run once a group; parsing
/// them each time showed in profiles).
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
