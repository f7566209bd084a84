//! The tables' layout, and the migration of a store of an earlier layout to it.

use super::SqsError;
use rusqlite::{Connection, OptionalExtension as _, params};

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

pub(super) fn migrate(conn: &mut Connection) -> Result<(), SqsError> {
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
            params![crate::sqs::state::SEQ_RESERVED, used + 1],
        )?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(())
}
