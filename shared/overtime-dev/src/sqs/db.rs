//! The SQLite file behind the endpoint, and the one writer thread that owns it.
//!
//! Every request runs as a closure on that thread inside a savepoint; the thread gathers
//! whatever requests are waiting into one transaction and commits it once (a group commit).
//! A request whose closure fails rolls back its own savepoint only.
//!
//! Durability is pipelined: SQLite commits to the write-ahead log without syncing, and a
//! second thread fdatasyncs the log and only then answers the requests of every commit it
//! covers, while the writer already runs the next group. The writer checkpoints the log into
//! the database itself and fsyncs the database before the log can be reused, so an answered
//! send, delete or queue change is on disk whichever file holds it. Receives and visibility
//! changes (and reads) are answered at commit: kill -9 cannot lose them (the page cache holds
//! them), and a power cut could only deliver a message again.

use super::SqsError;
use super::rules::{self, QueueConfig};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most requests one transaction takes.
const MAX_GROUP: usize = 512;
/// Commits between checkpoints of the write-ahead log into the database.
const CHECKPOINT_EVERY: u32 = 500;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    attributes  TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '{}',
    created_ms  INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    purged_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_ms);
CREATE INDEX IF NOT EXISTS messages_order ON messages (queue, seq);
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

/// A queue as the writer knows it.
#[derive(Debug, Clone)]
pub(crate) struct QueueRow {
    /// Row id.
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

/// The connection and what the writer caches of it.
pub(crate) struct Db {
    /// The open database (used on the writer thread only).
    pub(crate) conn: Connection,
    queues: HashMap<String, QueueRow>,
    swept: HashMap<i64, i64>,
}

impl Db {
    /// The queue of that name.
    pub(crate) fn queue(&mut self, name: &str) -> Result<QueueRow, SqsError> {
        if let Some(q) = self.queues.get(name) {
            return Ok(q.clone());
        }
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, name, attributes, tags, created_ms, modified_ms, purged_ms FROM queues WHERE name = ?1",
            )?
            .query_row([name], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .optional()?
            .ok_or(SqsError::QueueDoesNotExist)?;
        let attributes: BTreeMap<String, String> = serde_json::from_str(&row.2)
            .map_err(|e| SqsError::Internal(format!("stored attributes of {name}: {e}")))?;
        let queue = QueueRow {
            id: row.0,
            name: row.1,
            config: rules::config_of(&attributes)?,
            attributes,
            tags: serde_json::from_str(&row.3).unwrap_or_default(),
            created_ms: row.4,
            modified_ms: row.5,
            purged_ms: row.6,
        };
        self.queues.insert(name.to_owned(), queue.clone());
        Ok(queue)
    }

    /// True (and noted) when the queue's expired messages were last swept over a second ago.
    pub(crate) fn expiry_due(&mut self, queue: i64, now: i64) -> bool {
        let last = self.swept.entry(queue).or_insert(0);
        if now - *last < 1000 {
            return false;
        }
        *last = now;
        true
    }

    /// Forgets what is cached of a queue (after it changes).
    pub(crate) fn forget(&mut self, name: &str) {
        self.queues.remove(name);
    }
}

type Finish = Box<dyn FnOnce(Result<(), SqsError>) + Send>;
/// A request: its work, whether it succeeded, its answer, and whether the answer waits for
/// the log to be synced.
type Op = Box<dyn FnOnce(&mut Db) -> (bool, Finish) + Send>;

/// When a request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Once its commit is on disk: sends, deletes and queue changes.
    Durable,
    /// Once committed: receives and visibility changes, whose loss in a power cut only
    /// makes a message visible again (SQS is at-least-once), and reads.
    Committed,
}

/// A handle on the writer thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<(Answer, Op)>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Opens (creating) the database at `path` and starts the writer thread.
    pub(crate) fn open(path: &Path) -> Result<Self, SqsError> {
        let conn = Connection::open(path)?;
        // The syncer thread and the writer's checkpoints make commits durable (see above), so
        // SQLite itself does not sync, and does not checkpoint on its own.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY;",
        )?;
        conn.execute_batch(SCHEMA)?;
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
        let (tx, rx) = mpsc::channel::<(Answer, Op)>();
        std::thread::Builder::new()
            .name("overtime-sqs-writer".into())
            .spawn(move || {
                let mut db = Db {
                    conn,
                    queues: HashMap::new(),
                    swept: HashMap::new(),
                };
                run(&mut db, &rx, &sync_tx, &db_file);
            })
            .map_err(|e| SqsError::Internal(format!("start the writer thread: {e}")))?;
        Ok(Writer { tx })
    }

    /// Runs `f` on the writer thread in its own savepoint; answers once its transaction is
    /// durable.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, SqsError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, SqsError> + Send + 'static,
    {
        self.call_as(Answer::Durable, f).await
    }

    /// Runs `f` on the writer thread in its own savepoint; answers as `when` says.
    pub(crate) async fn call_as<T, F>(&self, when: Answer, f: F) -> Result<T, SqsError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, SqsError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op: Op = Box::new(move |db| {
            let result = catch_unwind(AssertUnwindSafe(|| f(db)))
                .unwrap_or_else(|_| Err(SqsError::Internal("a request panicked".into())));
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |commit| {
                let _ = reply.send(commit.and(result));
            });
            (ok, finish)
        });
        self.tx
            .send((when, op))
            .map_err(|_| SqsError::Internal("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| SqsError::Internal("the store stopped".into()))?
    }
}

/// A commit's answers, waiting for the log to be synced.
type Synced = (Vec<Finish>, Result<(), SqsError>);

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
        for (finishes, commit) in pending {
            let result = commit.and(synced.clone());
            for finish in finishes {
                finish(result.clone());
            }
        }
    }
}

fn run(
    db: &mut Db,
    rx: &mpsc::Receiver<(Answer, Op)>,
    sync: &mpsc::Sender<Synced>,
    db_file: &std::fs::File,
) {
    let mut commits = 0u32;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let began = exec_cached(&db.conn, "BEGIN IMMEDIATE");
        let mut finishes = Vec::with_capacity(group.len());
        let mut committed = Vec::new();
        for (when, op) in group {
            let finishes = match when {
                Answer::Durable => &mut finishes,
                Answer::Committed => &mut committed,
            };
            if began.is_err() {
                finishes.push(op(db).1);
                continue;
            }
            let _ = exec_cached(&db.conn, "SAVEPOINT op");
            let (ok, finish) = op(db);
            let end = if ok {
                exec_cached(&db.conn, "RELEASE op")
            } else {
                exec_cached(&db.conn, "ROLLBACK TO op")
                    .and_then(|()| exec_cached(&db.conn, "RELEASE op"))
            };
            if end.is_err() {
                db.queues.clear();
            }
            finishes.push(finish);
        }
        let commit = match began {
            Err(e) => Err(SqsError::from(e)),
            Ok(()) => exec_cached(&db.conn, "COMMIT").map_err(SqsError::from),
        };
        if commit.is_err() {
            let _ = db.conn.execute_batch("ROLLBACK");
            // Cached queue rows may describe changes that were rolled back.
            db.queues.clear();
        }
        commits += 1;
        if commits >= CHECKPOINT_EVERY {
            commits = 0;
            // Into the database, which is synced before the next transaction may reuse the
            // log (a complete checkpoint lets it start over).
            let checkpointed = db
                .conn
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
        for finish in committed {
            finish(commit.clone());
        }
        if let Err(mpsc::SendError((finishes, _))) = sync.send((finishes, commit)) {
            for finish in finishes {
                finish(Err(SqsError::Internal("the sync thread stopped".into())));
            }
        }
    }
}

/// Runs a parameterless statement from the statement cache (these run several times a
/// request; parsing them each time showed in profiles).
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Inserts a queue row.
pub(crate) fn insert_queue(
    db: &mut Db,
    name: &str,
    attributes: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> Result<(), SqsError> {
    let now = now_ms();
    let attrs = serde_json::to_string(attributes).map_err(|e| SqsError::Internal(e.to_string()))?;
    let tags = serde_json::to_string(tags).map_err(|e| SqsError::Internal(e.to_string()))?;
    db.conn.execute(
        "INSERT INTO queues (name, attributes, tags, created_ms, modified_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![name, attrs, tags, now],
    )?;
    db.forget(name);
    Ok(())
}
