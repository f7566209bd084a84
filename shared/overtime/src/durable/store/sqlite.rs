//! The SQLite run store (rusqlite, bundled): one file, WAL, safe to share between the processes
//! of one host (a worker, `overtime runs`, `overtime dev`).

use super::{Entry, RunRecord, RunStore, StoreError, decode, encode};
use futures_util::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a write waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A run store in one SQLite file.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), overtime::store::StoreError> {
/// use overtime::store::{RunStore, SqliteStore};
///
/// // `OVERTIME_RUN_STORE=sqlite:.overtime/runs.db` opens one for the worker.
/// let store = SqliteStore::open_in_memory()?;
/// assert!(store.get("run-1").await?.is_none());
/// assert!(store.list(10).await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        Self::init(conn)
    }

    /// A private store in memory, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        // WAL lets readers (the CLI) run beside a writer; FULL makes each commit durable.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(unavailable)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS overtime_runs (
                 id TEXT PRIMARY KEY,
                 version INTEGER NOT NULL,
                 started_ms INTEGER NOT NULL,
                 record TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS overtime_runs_started ON overtime_runs (started_ms);
             CREATE TABLE IF NOT EXISTS overtime_steps (
                 run TEXT NOT NULL,
                 name TEXT NOT NULL,
                 value TEXT NOT NULL,
                 PRIMARY KEY (run, name));
             CREATE TABLE IF NOT EXISTS overtime_entries (
                 key TEXT PRIMARY KEY,
                 value TEXT NOT NULL,
                 token TEXT NOT NULL,
                 expires_ms INTEGER NOT NULL);",
        )
        .map_err(unavailable)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs a blocking database call off the async runtime.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, StoreError>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = conn
                    .lock()
                    .map_err(|_| StoreError::Unavailable("the store's lock is poisoned".into()))?;
                f(&conn)
            })
            .await
            .map_err(unavailable)?
        })
    }
}

impl RunStore for SqliteStore {
    fn create<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (id, version, started, record) =
            (run.id.clone(), run.version, run.started_ms, encode(run));
        self.call(move |c| {
            let n = c
                .execute(
                    "INSERT INTO overtime_runs (id, version, started_ms, record) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO NOTHING",
                    params![id, version as i64, started, record],
                )
                .map_err(unavailable)?;
            Ok(n == 1)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RunRecord>, StoreError>> {
        let id = id.to_owned();
        self.call(move |c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT record FROM overtime_runs WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            json.map(|j| decode(&id, &j)).transpose()
        })
    }

    fn replace<'a>(&'a self, next: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (id, version, record) = (next.id.clone(), next.version, encode(next));
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE overtime_runs SET version = ?2, record = ?3 WHERE id = ?1 AND version = ?4",
                    params![id, version as i64, record, version as i64 - 1],
                )
                .map_err(unavailable)?;
            Ok(n == 1)
        })
    }

    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<RunRecord>, StoreError>> {
        self.call(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT id, record FROM overtime_runs ORDER BY started_ms DESC, id LIMIT ?1",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, json) = row.map_err(unavailable)?;
                out.push(decode(&id, &json)?);
            }
            Ok(out)
        })
    }

    fn step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        let (run, name) = (run.to_owned(), name.to_owned());
        self.call(move |c| {
            c.query_row(
                "SELECT value FROM overtime_steps WHERE run = ?1 AND name = ?2",
                params![run, name],
                |row| row.get(0),
            )
            .optional()
            .map_err(unavailable)
        })
    }

    fn put_step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        let (run, name, value) = (run.to_owned(), name.to_owned(), value.to_owned());
        self.call(move |c| {
            c.execute(
                "INSERT INTO overtime_steps (run, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run, name) DO NOTHING",
                params![run, name, value],
            )
            .map_err(unavailable)?;
            c.query_row(
                "SELECT value FROM overtime_steps WHERE run = ?1 AND name = ?2",
                params![run, name],
                |row| row.get(0),
            )
            .map_err(unavailable)
        })
    }

    fn entry<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        let key = key.to_owned();
        self.call(move |c| {
            c.query_row(
                "SELECT value, token, expires_ms FROM overtime_entries
                 WHERE key = ?1 AND expires_ms > ?2",
                params![key, now_ms],
                |row| {
                    Ok(Entry {
                        value: row.get(0)?,
                        token: row.get(1)?,
                        expires_ms: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(unavailable)
        })
    }

    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        entry: &'a Entry,
        expected: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (key, entry, expected) = (key.to_owned(), entry.clone(), expected.map(str::to_owned));
        self.call(move |c| {
            let n = match expected {
                // Absent, or expired: an expired entry is overwritten in place.
                None => c.execute(
                    "INSERT INTO overtime_entries (key, value, token, expires_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, token = excluded.token,
                         expires_ms = excluded.expires_ms
                     WHERE overtime_entries.expires_ms <= ?5",
                    params![key, entry.value, entry.token, entry.expires_ms, now_ms],
                ),
                Some(token) => c.execute(
                    "UPDATE overtime_entries SET value = ?2, token = ?3, expires_ms = ?4
                     WHERE key = ?1 AND token = ?5 AND expires_ms > ?6",
                    params![key, entry.value, entry.token, entry.expires_ms, token, now_ms],
                ),
            }
            .map_err(unavailable)?;
            Ok(n == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn honours_the_store_contract() {
        let store = SqliteStore::open_in_memory().expect("store");
        crate::store::conformance::check(&store).await;
    }

    #[tokio::test]
    async fn two_handles_on_one_file_see_each_other() {
        let dir = std::env::temp_dir().join(format!("overtime-sqlite-{}", uuid::Uuid::new_v4()));
        let path = dir.join("runs.db");
        let a = SqliteStore::open(&path).expect("a");
        let b = SqliteStore::open(&path).expect("b");
        let run = RunRecord::new("shared", "job", "0".into(), None, 1);
        assert!(a.create(&run).await.expect("create"));
        assert_eq!(b.get("shared").await.expect("get"), Some(run));
        let _ = std::fs::remove_dir_all(dir);
    }
}
