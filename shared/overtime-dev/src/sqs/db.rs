//! The SQLite file behind the endpoint: loaded into memory at start, then kept as a redo log of
//! every change the memory state goes through, written by one thread.
//!
//! Requests run against the state in memory ([`super::state`]) and hand the changes they made
//! to the writer thread, in the order they made them. The writer gathers whatever changes are
//! waiting into one transaction and commits once (a group commit); the tables carry no index
//! but their row ids, so a change is one b-tree write.
//!
//! Durability is pipelined: SQLite commits to the write-ahead log without syncing, and a
//! second thread fdatasyncs the log and only then answers the requests of every commit it
//! covers, while the writer already runs the next group. The writer checkpoints the log into
//! the database itself and fsyncs the database before the log can be reused, so an answered
//! send, delete or queue change is on disk whichever file holds it. Receives and visibility
//! changes are logged without waiting: kill -9 cannot lose what reached SQLite (the page
//! cache holds it), and losing one in a power cut only makes a message visible again early
//! (SQS is at-least-once).
//!
//! A commit that fails leaves memory ahead of the disk; the store then refuses every request
//! with the reason until it is restarted, which reloads what is on disk.

use super::SqsError;
use super::state::{Change, Content, MoveTask, Msg, QueueRow, QueueState, State};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::oneshot;

/// Most requests one transaction takes.
const MAX_GROUP: usize = 1024;
/// Commits between checkpoints of the write-ahead log into the database.
const CHECKPOINT_EVERY: u32 = 500;
/// The layout below (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    attributes  TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '{}',
    created_ms  INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    purged_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    seq          INTEGER PRIMARY KEY,
    queue        INTEGER NOT NULL,
    id           TEXT NOT NULL,
    body         TEXT NOT NULL,
    attributes   TEXT,
    md5_body     TEXT NOT NULL,
    md5_attrs    TEXT,
    trace_header TEXT,
    sent_ms      INTEGER NOT NULL,
    visible_ms   INTEGER NOT NULL,
    receives     INTEGER NOT NULL DEFAULT 0,
    first_ms     INTEGER,
    receipt      TEXT,
    group_id     TEXT,
    dedup_id     TEXT,
    dead_from    TEXT
);
CREATE TABLE IF NOT EXISTS dedup (
    queue      INTEGER NOT NULL,
    key        TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sequence   TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (queue, key)
);
CREATE TABLE IF NOT EXISTS move_tasks (
    handle      TEXT PRIMARY KEY,
    source_arn  TEXT NOT NULL,
    dest_arn    TEXT,
    rate        INTEGER,
    moved       INTEGER NOT NULL,
    to_move     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    started_ms  INTEGER NOT NULL
);
";

/// The first layout (indexes on the messages, AUTOINCREMENT) brought to the current one.
const MIGRATE_FROM_1: &str = "
DROP INDEX IF EXISTS messages_visible;
DROP INDEX IF EXISTS messages_order;
ALTER TABLE messages RENAME TO messages_v1;
";

/// A reply to a request, once its changes are durable.
type Reply = oneshot::Sender<Result<(), SqsError>>;

/// Changes of one request, and who waits for them to be durable (nobody, for receives).
struct Job {
    changes: Vec<Change>,
    reply: Option<Reply>,
}

/// A handle on the writer thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// Opens (creating or migrating) the database at `path`, loads it, and starts the writer
/// thread, which logs changes to it and marks `state` failed if a commit fails.
pub(crate) fn open(path: &Path) -> Result<(Arc<Mutex<State>>, Writer), SqsError> {
    let mut conn = Connection::open(path)?;
    // The syncer thread and the writer's checkpoints make commits durable (see above), so
    // SQLite itself does not sync, and does not checkpoint on its own.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY;",
    )?;
    migrate(&mut conn)?;
    let state = load(&conn)?;
    // Whatever an earlier run left in the log goes into the database, durably, now.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let db_file = std::fs::File::open(path)
        .map_err(|e| SqsError::Internal(format!("open {}: {e}", path.display())))?;
    db_file
        .sync_all()
        .map_err(|e| SqsError::Internal(format!("sync {}: {e}", path.display())))?;
    let mut wal_path = path.as_os_str().to_owned();
    wal_path.push("-wal");
    let wal_path = std::path::PathBuf::from(wal_path);
    let (sync_tx, sync_rx) = mpsc::channel::<Synced>();
    std::thread::Builder::new()
        .name("overtime-sqs-sync".into())
        .spawn(move || syncer(&wal_path, &sync_rx))
        .map_err(|e| SqsError::Internal(format!("start the sync thread: {e}")))?;
    let state = Arc::new(Mutex::new(state));
    let (tx, rx) = mpsc::channel::<Job>();
    let shared = state.clone();
    std::thread::Builder::new()
        .name("overtime-sqs-writer".into())
        .spawn(move || run(&conn, &rx, &sync_tx, &db_file, &shared))
        .map_err(|e| SqsError::Internal(format!("start the writer thread: {e}")))?;
    Ok((state, Writer { tx }))
}

impl Writer {
    /// Logs `changes`; the receiver answers once they are durable (`None` without a wait).
    pub(crate) fn log(
        &self,
        changes: Vec<Change>,
        wait: bool,
    ) -> Option<oneshot::Receiver<Result<(), SqsError>>> {
        let (reply, answer) = if wait {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        // A send fails only when the writer is gone; the receiver then answers with an error.
        let _ = self.tx.send(Job { changes, reply });
        answer
    }
}

fn migrate(conn: &mut Connection) -> Result<(), SqsError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let old: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages')",
        [],
        |r| r.get(0),
    )?;
    if old {
        tx.execute_batch(MIGRATE_FROM_1)?;
    }
    tx.execute_batch(SCHEMA)?;
    if old {
        tx.execute_batch(
            "INSERT INTO messages SELECT seq, queue, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, visible_ms, receives, first_ms, receipt, group_id, dedup_id, dead_from FROM messages_v1;
             DROP TABLE messages_v1;",
        )?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(())
}

/// Reads the whole store into memory.
fn load(conn: &Connection) -> Result<State, SqsError> {
    let now = super::state::now_ms();
    let mut state = State::default();
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
            config: super::rules::config_of(&attributes)?,
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
    let mut stmt = conn.prepare(
        "SELECT seq, queue, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, visible_ms, receives, first_ms, receipt, group_id, dedup_id, dead_from FROM messages ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
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
                receives: r.get(10)?,
                first_ms: r.get(11)?,
                receipt: receipt
                    .and_then(|t| u64::from_str_radix(&t, 16).ok())
                    .unwrap_or(0),
                dead_from: r.get::<_, Option<String>>(15)?.map(Arc::from),
            },
        );
    }
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
        state.move_tasks.push(task?);
    }
    conn.execute("DELETE FROM dedup WHERE expires_ms <= ?1", [now])?;
    Ok(state)
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
        Change::PutMessage { queue, seq, msg } => {
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
        }
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
        Change::PutMoveTask(t) => {
            conn.execute(
                "INSERT OR REPLACE INTO move_tasks (handle, source_arn, dest_arn, rate, moved, to_move, status, started_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![t.handle, t.source_arn, t.dest_arn, t.rate, t.moved, t.to_move, t.status, t.started_ms],
            )?;
        }
    }
    Ok(())
}

/// A commit's replies, waiting for the log to be synced.
type Synced = (Vec<Reply>, Result<(), SqsError>);

fn syncer(wal_path: &Path, rx: &mpsc::Receiver<Synced>) {
    let mut wal: Option<std::fs::File> = None;
    while let Ok(first) = rx.recv() {
        let mut pending = vec![first];
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        if wal.is_none() {
            wal = std::fs::File::open(wal_path).ok();
        }
        let synced = match &wal {
            Some(f) => f
                .sync_data()
                .map_err(|e| SqsError::Internal(format!("sync the queue log: {e}"))),
            None => Err(SqsError::Internal(format!(
                "open the queue log {}",
                wal_path.display()
            ))),
        };
        for (replies, commit) in pending {
            let result = commit.and(synced.clone());
            for reply in replies {
                let _ = reply.send(result.clone());
            }
        }
    }
}

fn run(
    conn: &Connection,
    rx: &mpsc::Receiver<Job>,
    sync: &mpsc::Sender<Synced>,
    db_file: &std::fs::File,
    state: &Mutex<State>,
) {
    let mut commits = 0u32;
    let mut failed: Option<SqsError> = None;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut replies: Vec<Reply> = group.iter_mut().filter_map(|j| j.reply.take()).collect();
        if let Some(e) = &failed {
            // Memory is ahead of the disk: nothing more is written until a restart.
            for reply in replies.drain(..) {
                let _ = reply.send(Err(e.clone()));
            }
            continue;
        }
        let written = (|| -> rusqlite::Result<()> {
            exec_cached(conn, "BEGIN IMMEDIATE")?;
            for job in &group {
                for change in &job.changes {
                    apply(conn, change)?;
                }
            }
            exec_cached(conn, "COMMIT")
        })();
        let commit = written.map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            let e = SqsError::Internal(format!(
                "the queue store could not write ({e}); restart overtime dev, which reloads what is on disk"
            ));
            tracing::error!(error = %e, "queue store failed");
            state.lock().unwrap_or_else(|p| p.into_inner()).failed = Some(e.to_string());
            failed = Some(e.clone());
            e
        });
        commits += 1;
        if commits >= CHECKPOINT_EVERY {
            commits = 0;
            // Into the database, which is synced before the next transaction may reuse the
            // log (a complete checkpoint lets it start over).
            let checkpointed = conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(SqsError::from)
                .and_then(|()| {
                    db_file
                        .sync_all()
                        .map_err(|e| SqsError::Internal(format!("sync the queue database: {e}")))
                });
            if let Err(e) = checkpointed {
                tracing::error!(error = %e, "checkpoint failed; the log keeps growing until one succeeds");
            }
        }
        if replies.is_empty() {
            continue;
        }
        if let Err(mpsc::SendError((replies, _))) = sync.send((replies, commit)) {
            for reply in replies {
                let _ = reply.send(Err(SqsError::Internal("the sync thread stopped".into())));
            }
        }
    }
}

/// Runs a parameterless statement from the statement cache (these run once a group; parsing
/// them each time showed in profiles).
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
