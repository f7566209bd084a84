//! A run store in this process's memory: for tests (feature `test-util`), not for production.

use super::{Entry, RunRecord, RunStore, StoreError};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A [`RunStore`] in memory, with the same contract as the SQLite and DynamoDB stores
/// (checked by the same conformance test); what [`TestWorker`](crate::testing::TestWorker) and
/// [`JobContext::builder`](crate::JobContext::builder) use unless given another.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = overtime::store::MemoryStore::new();
/// overtime::testing::check_store(&store).await;
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

#[derive(Debug, Default)]
struct Data {
    runs: HashMap<String, RunRecord>,
    steps: HashMap<(String, String), String>,
    entries: HashMap<String, Entry>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // Plain data: a panic elsewhere while holding the lock leaves nothing half-written.
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RunStore for MemoryStore {
    fn create<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut data = self.data();
        let created = !data.runs.contains_key(&run.id);
        if created {
            data.runs.insert(run.id.clone(), run.clone());
        }
        Box::pin(async move { Ok(created) })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RunRecord>, StoreError>> {
        let run = self.data().runs.get(id).cloned();
        Box::pin(async move { Ok(run) })
    }

    fn replace<'a>(&'a self, next: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut data = self.data();
        let replaced = match data.runs.get_mut(&next.id) {
            Some(current) if current.version + 1 == next.version => {
                *current = next.clone();
                true
            }
            _ => false,
        };
        Box::pin(async move { Ok(replaced) })
    }

    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<RunRecord>, StoreError>> {
        let mut runs: Vec<RunRecord> = self.data().runs.values().cloned().collect();
        runs.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(b.id.cmp(&a.id)));
        runs.truncate(limit);
        Box::pin(async move { Ok(runs) })
    }

    fn step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        let value = self
            .data()
            .steps
            .get(&(run.to_owned(), name.to_owned()))
            .cloned();
        Box::pin(async move { Ok(value) })
    }

    fn put_step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        let stored = self
            .data()
            .steps
            .entry((run.to_owned(), name.to_owned()))
            .or_insert_with(|| value.to_owned())
            .clone();
        Box::pin(async move { Ok(stored) })
    }

    fn entry<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        let entry = self
            .data()
            .entries
            .get(key)
            .filter(|e| e.is_live(now_ms))
            .cloned();
        Box::pin(async move { Ok(entry) })
    }

    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        entry: &'a Entry,
        expected: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut data = self.data();
        let current = data.entries.get(key).filter(|e| e.is_live(now_ms));
        let written = match (current, expected) {
            (None, None) => true,
            (Some(current), Some(token)) => current.token == token,
            _ => false,
        };
        if written {
            data.entries.insert(key.to_owned(), entry.clone());
        }
        Box::pin(async move { Ok(written) })
    }
}
