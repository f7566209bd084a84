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
//! takes changes nobody waits for within [`PICK_UP`](writer::PICK_UP), checkpoints the log into the database,
//! and fsyncs the database before the log can be reused, so an answered send, FIFO delete or
//! queue change is on disk whichever file holds it.
//!
//! Changes whose loss can only deliver a message again are not waited for: receives and
//! visibility changes (their row updates are held back [`DEFER`](deferred::DEFER), so the delete that usually
//! follows replaces them), and deletes on standard queues. kill -9 loses at most the last
//! fraction of a second of them, and SQS's at-least-once delivery allows what follows.
//!
//! A commit that fails leaves memory ahead of the disk; the store then refuses every request
//! with the reason until it is restarted, which reloads what is on disk.
//!
//! By concern: `writer` hands changes from requests to whoever writes, `log` commits and syncs
//! a group, `deferred` holds back row updates, `schema` and `load` are the tables' layout and
//! how a start reads them.

mod deferred;
mod load;
mod log;
mod schema;
mod writer;

#[cfg(test)]
pub(crate) use writer::WRITTEN_ON_PARK;
pub(crate) use writer::{Writer, on_park};

use super::SqsError;
use super::state::State;
use deferred::Deferred;
use load::load;
use log::{Log, checkpoint};
use rusqlite::Connection;
use schema::migrate;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use writer::{Handle, Shared, run};

/// Bytes of the write-ahead log written ahead at start (about what 500 commits fill).
const WAL_PREALLOCATE: u64 = 16 << 20;

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
