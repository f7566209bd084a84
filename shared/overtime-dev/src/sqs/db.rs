//! The SQLite file behind the endpoint: loaded into memory at start, then kept as a redo log of
//! every change the memory state goes through.
//!
//! Requests run against the state in memory ([`super::state`]) and queue the changes they made
//! for the log, in the order they made them (under the state's lock). Whoever writes takes
//! everything queued as one transaction and commits once (a group commit); the tables carry no
//! index but their row ids, so a change is one b-tree write.
//!
//! Durability is a group commit: SQLite commits to the write-ahead log without syncing, then
//! the writer fdatasyncs the log once and answers every request of that group that waits.
//! The writer is the request thread itself when its runtime calls [`on_park`] (`overtime dev`
//! does: when it has handled every request that had arrived, those requests share one commit
//! and one sync, with no hand-off between threads), else the log thread. The log thread also
//! takes changes nobody waits for within [`PICK_UP`], checkpoints the log into the database,
//! and fsyncs the database before the log can be reused, so an answered send, FIFO delete or
//! queue change is on disk whichever file holds it.
//!
//! Changes whose loss can only deliver a message again are not waited for: receives and
//! visibility changes (their row updates are held back [`DEFER`], so the delete that usually
//! follows replaces them), and deletes on standard queues. kill -9 loses at most the last
//! fraction of a second of them, and SQS's at-least-once delivery allows what follows.
//!
//! A commit that fails leaves memory ahead of the disk; the store then refuses every request
//! with the reason until it is restarted, which reloads what is on disk.

use super::SqsError;
use super::state::{Change, Content, MoveTask, Msg, QueueRow, QueueState, State};
use rusqlite::{Connection, OptionalExtension as _, params};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The longest changes nobody waits for (receives, visibility changes, deletes on standard
/// queues) stay in memory before the log thread takes them.
const PICK_UP: Duration = Duration::from_millis(100);
/// Changes waiting that wake the log thread even though nobody waits for them.
const WAKE_AT: usize = 20_000;
/// Commits between checkpoints of the write-ahead log into the database.
const CHECKPOINT_EVERY: u32 = 500;
/// Bytes of the write-ahead log written ahead at start (about what 500 commits fill).
const WAL_PREALLOCATE: u64 = 16 << 20;
/// The layout below (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 3;

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
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
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

/// Changes waiting for the log thread, in the order requests made them, and the requests
/// waiting for them to be durable.
#[derive(Default)]
struct Pending {
    changes: Vec<Change>,
    replies: Vec<Reply>,
    /// When `changes` last went from empty to not empty.
    since: Option<Instant>,
    /// The log thread sleeps on the condvar (so a wake-up is worth a syscall).
    idle: bool,
    /// Every handle is gone: write everything and stop.
    closing: bool,
    /// When the oldest deferred row update is due.
    deferred_due: Option<Instant>,
    /// A checkpoint is due: the log thread's to do, off the request threads.
    checkpoint: bool,
}

/// The queue between requests and the log, and the log itself: written by the log thread,
/// or by a request thread that is about to sleep ([`on_park`]).
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    log: Mutex<Log>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes what is waiting and writes it as one group; the caller holds `log`, so groups
    /// go in order. True once the log is closed.
    fn write(&self, log: &mut Log) -> bool {
        let (changes, replies, closing) = {
            let mut p = self.lock();
            p.since = None;
            (
                std::mem::take(&mut p.changes),
                std::mem::take(&mut p.replies),
                p.closing,
            )
        };
        let closed = log.group(changes, replies, closing);
        let mut p = self.lock();
        p.deferred_due = log.deferred.next_due();
        p.checkpoint = log.commits >= CHECKPOINT_EVERY;
        closed
    }

    /// Wakes the log thread if it sleeps.
    fn wake_log(&self, mut pending: std::sync::MutexGuard<'_, Pending>) {
        let wake = pending.idle;
        pending.idle = false;
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
    }
}

/// Closes the log when the last [`Writer`] clone goes.
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.lock().closing = true;
        self.0.wake.notify_one();
    }
}

/// A handle on the writer thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// Opens (creating or migrating) the database at `path`, loads it, and starts the log
/// thread, which writes changes to it and marks `state` failed if a commit fails.
pub(crate) fn open(path: &Path) -> Result<(Arc<Mutex<State>>, Writer), SqsError> {
    let mut conn = Connection::open(path)?;
    // A store in use is reported at once rather than waited for.
    conn.busy_timeout(Duration::ZERO)?;
    // This thread's fdatasync and checkpoints make commits durable (see above), so SQLite
    // itself does not sync, and does not checkpoint on its own. One process owns the file:
    // exclusive locking saves a lock call per transaction and keeps a second `overtime dev`
    // off the same state.
    conn.execute_batch(
        "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY;",
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            SqsError::Internal(format!(
                "{} is in use by another process (another `overtime dev` on the same --state?)",
                path.display()
            ))
        }
        _ => SqsError::from(e),
    })?;
    migrate(&mut conn)?;
    let state = load(&conn)?;
    // Whatever an earlier run left in the log goes into the database, durably, before the log
    // is emptied (SQLite does not sync here: synchronous is off).
    let db_file = std::fs::File::open(path)
        .map_err(|e| SqsError::Internal(format!("open {}: {e}", path.display())))?;
    checkpoint(&conn, &db_file)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let mut wal_path = path.as_os_str().to_owned();
    wal_path.push("-wal");
    let wal_path = std::path::PathBuf::from(wal_path);
    let wal = preallocate(&wal_path)?;
    let state = Arc::new(Mutex::new(state));
    let shared = Arc::new(Shared {
        pending: Mutex::default(),
        wake: Condvar::new(),
        log: Mutex::new(Log {
            conn: Some(conn),
            commits: 0,
            failed: None,
            wal,
            db_file,
            deferred: Deferred::default(),
            state: state.clone(),
        }),
    });
    let for_thread = shared.clone();
    std::thread::Builder::new()
        .name("overtime-sqs-writer".into())
        .spawn(move || run(&for_thread))
        .map_err(|e| SqsError::Internal(format!("start the writer thread: {e}")))?;
    Ok((
        state,
        Writer {
            handle: Arc::new(Handle(shared)),
        },
    ))
}

impl Writer {
    /// Logs `changes` after those logged before; with `wait`, the receiver answers once they
    /// are durable. Without it the log thread is not woken: it takes them with the next
    /// request that waits, or within [`PICK_UP`].
    pub(crate) fn log(
        &self,
        changes: Vec<Change>,
        wait: bool,
    ) -> Option<oneshot::Receiver<Result<(), SqsError>>> {
        let shared = &self.handle.0;
        let mut pending = shared.lock();
        if !changes.is_empty() {
            if pending.changes.is_empty() {
                pending.since = Some(Instant::now());
                pending.changes = changes;
            } else {
                pending.changes.extend(changes);
            }
        }
        let answer = wait.then(|| {
            let (tx, rx) = oneshot::channel();
            pending.replies.push(tx);
            rx
        });
        if pending.changes.len() >= WAKE_AT {
            shared.wake_log(pending);
        } else if wait && PARKS.get() {
            // This thread's runtime calls `on_park` when it runs out of work: the requests
            // it is about to handle join this one's group instead of forming the next.
            drop(pending);
            LATER.with_borrow_mut(|later| {
                if !later.iter().any(|s| Arc::ptr_eq(s, shared)) {
                    later.push(shared.clone());
                }
            });
        } else if wait {
            shared.wake_log(pending);
        }
        answer
    }
}

thread_local! {
    /// This thread calls [`on_park`] before it sleeps.
    static PARKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Log threads to wake when this one parks.
    static LATER: std::cell::RefCell<Vec<Arc<Shared>>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
thread_local! {
    /// Groups this thread wrote in [`on_park`].
    pub(crate) static WRITTEN_ON_PARK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Writes and syncs, on this thread, what requests on it left waiting for the log; see
/// [`super::on_park`]. Where the log thread is writing already, it is woken instead.
pub(crate) fn on_park() {
    PARKS.set(true);
    let later = LATER.with_borrow_mut(std::mem::take);
    for shared in later {
        // Closing and checkpoints are the log thread's to do; so is a group while it writes.
        if let Ok(mut log) = shared.log.try_lock()
            && !shared.lock().closing
        {
            shared.write(&mut log);
            #[cfg(test)]
            WRITTEN_ON_PARK.with(|n| n.set(n.get() + 1));
            drop(log);
            let pending = shared.lock();
            if pending.checkpoint {
                shared.wake_log(pending);
            }
            continue;
        }
        shared.wake_log(shared.lock());
    }
}

/// Writes the empty log's first [`WAL_PREALLOCATE`] bytes as zeros, once, so commits
/// overwrite blocks that exist: fdatasync of an overwrite skips the file-system journal and
/// took 137 µs here against 226 µs for an append. SQLite writes the log from its start and
/// reads it only up to the first frame whose checksum fails, which a zero frame does.
fn preallocate(wal_path: &Path) -> Result<std::fs::File, SqsError> {
    use std::io::Write as _;
    let failed =
        |e: std::io::Error| SqsError::Internal(format!("preallocate {}: {e}", wal_path.display()));
    let mut wal = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(wal_path)
        .map_err(failed)?;
    let len = wal.metadata().map_err(failed)?.len();
    let zeros = vec![0u8; 1 << 20];
    let mut at = len;
    while at < WAL_PREALLOCATE {
        wal.write_all(&zeros).map_err(failed)?;
        at += zeros.len() as u64;
    }
    wal.sync_all().map_err(failed)?;
    Ok(wal)
}

fn migrate(conn: &mut Connection) -> Result<(), SqsError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    // Version 0 with a messages table is the first layout (AUTOINCREMENT, two indexes).
    let first: bool = version == 0
        && tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages')",
            [],
            |r| r.get(0),
        )?;
    // Its highest sequence number ever handed out, deleted messages included.
    let used: Option<i64> = if first {
        tx.query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
            [],
            |r| r.get(0),
        )
        .optional()?
    } else {
        None
    };
    if first {
        tx.execute_batch(MIGRATE_FROM_1)?;
    }
    tx.execute_batch(SCHEMA)?;
    if first {
        tx.execute_batch(
            "INSERT INTO messages SELECT seq, queue, id, body, attributes, md5_body, md5_attrs, trace_header, sent_ms, visible_ms, receives, first_ms, receipt, group_id, dedup_id, dead_from FROM messages_v1;
             DROP TABLE messages_v1;",
        )?;
    }
    if let Some(used) = used {
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![super::state::SEQ_RESERVED, used + 1],
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
    let mut stmt = conn.prepare("SELECT key, value FROM meta")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (key, value) = row?;
        if key == super::state::SEQ_RESERVED {
            state.seq_reserved = value;
            state.next_seq = state.next_seq.max(value);
        } else if key == super::state::NEXT_QUEUE_ID {
            state.next_queue_id = state.next_queue_id.max(value);
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
        let mut task = task?;
        // A task that was running when the last run stopped does not resume.
        if task.status == "RUNNING" {
            task.status = "FAILED".into();
        }
        state.move_tasks.push(task);
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

/// The log thread's loop: waits until a request waits for a change (and no request thread
/// writes it, see [`on_park`]), changes nobody waits for are due, a checkpoint is due, or every
/// handle is gone; then writes what is waiting as one group, and checkpoints when due (so a
/// request thread never stalls on one).
fn run(shared: &Shared) {
    loop {
        wait(shared);
        let mut log = shared.log.lock().unwrap_or_else(|p| p.into_inner());
        if shared.write(&mut log) {
            return;
        }
        if log.commits >= CHECKPOINT_EVERY {
            log.checkpoint();
            shared.lock().checkpoint = false;
        }
    }
}

/// Waits until there is something to do: a request waiting, changes piling up, changes
/// nobody waits for or deferred updates due, a checkpoint due, or every handle gone.
fn wait(shared: &Shared) {
    let mut p = shared.lock();
    while !(p.closing || p.checkpoint || !p.replies.is_empty() || p.changes.len() >= WAKE_AT) {
        let due = [p.since.map(|since| since + PICK_UP), p.deferred_due]
            .into_iter()
            .flatten()
            .min();
        let now = Instant::now();
        if due.is_some_and(|due| due <= now) {
            break;
        }
        // Never longer than PICK_UP: a request thread may defer updates meanwhile.
        let nap = due.map_or(PICK_UP, |due| (due - now).min(PICK_UP));
        p.idle = true;
        p = shared
            .wake
            .wait_timeout(p, nap)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    p.idle = false;
}

/// The SQLite connection and what writing it needs.
struct Log {
    /// `None` once closed.
    conn: Option<Connection>,
    /// Commits since the last checkpoint.
    commits: u32,
    /// Set by a failed commit or sync: nothing more is written until a restart.
    failed: Option<SqsError>,
    /// The write-ahead log, for fdatasync.
    wal: std::fs::File,
    db_file: std::fs::File,
    deferred: Deferred,
    /// Marked failed with the reason when a commit or sync fails.
    state: Arc<Mutex<State>>,
}

impl Log {
    /// Copies the log into the database, synced, so the next transaction may reuse the log
    /// (a complete checkpoint lets it start over).
    fn checkpoint(&mut self) {
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
    fn group(&mut self, changes: Vec<Change>, replies: Vec<Reply>, closing: bool) -> bool {
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

/// How long a receive's row update may wait to be written: a delete arriving meanwhile
/// replaces it, and a received message is usually deleted within this. Losing one (kill -9
/// within it) only makes a message visible again early, as a power cut could.
const DEFER: Duration = Duration::from_millis(250);

/// A message's receive count, first receive time and receipt token.
type Received = (i64, Option<i64>, u64);

/// Receive and visibility row updates waiting to be written, newest values per message.
#[derive(Default)]
struct Deferred {
    /// Per message: visible time and, after a receive, (receives, first receive, receipt).
    rows: HashMap<i64, (i64, Option<Received>)>,
    /// When each message's first deferred update arrived, oldest first.
    order: VecDeque<(Instant, i64)>,
}

impl Deferred {
    /// Takes a receive or visibility change to write later (true), or leaves the change to be
    /// written now (false); a delete drops what was deferred for its message.
    fn defer(&mut self, change: &Change) -> bool {
        match change {
            Change::MessageState {
                seq,
                visible_ms,
                receives,
                first_ms,
                receipt,
            } => {
                let row = self.rows.entry(*seq).or_insert_with(|| {
                    self.order.push_back((Instant::now(), *seq));
                    (*visible_ms, None)
                });
                *row = (*visible_ms, Some((*receives, *first_ms, *receipt)));
                true
            }
            Change::Visibility { seq, visible_ms } => {
                let row = self.rows.entry(*seq).or_insert_with(|| {
                    self.order.push_back((Instant::now(), *seq));
                    (*visible_ms, None)
                });
                row.0 = *visible_ms;
                true
            }
            Change::DeleteMessage(seq) => {
                self.rows.remove(seq);
                false
            }
            _ => false,
        }
    }

    /// When the oldest deferred update is due.
    fn next_due(&self) -> Option<Instant> {
        self.order.front().map(|(since, _)| *since + DEFER)
    }

    /// The updates due now (all of them with `all`), as changes to write.
    fn take_due(&mut self, all: bool) -> Vec<Change> {
        let mut due = Vec::new();
        while let Some(&(since, seq)) = self.order.front() {
            if !all && since.elapsed() < DEFER {
                break;
            }
            self.order.pop_front();
            match self.rows.remove(&seq) {
                Some((visible_ms, Some((receives, first_ms, receipt)))) => {
                    due.push(Change::MessageState {
                        seq,
                        visible_ms,
                        receives,
                        first_ms,
                        receipt,
                    });
                }
                Some((visible_ms, None)) => due.push(Change::Visibility { seq, visible_ms }),
                None => {}
            }
        }
        due
    }
}

/// Copies the log into the database and syncs the database (SQLite's own checkpoint does not
/// sync it, synchronous being off), so the log may then be reused or removed.
fn checkpoint(conn: &Connection, db_file: &std::fs::File) -> Result<(), SqsError> {
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
