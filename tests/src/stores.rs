//! A run store that is down for a while: for "the store is unavailable" tests.

use futures_util::future::BoxFuture;
use overtime::store::{Entry, RunRecord, RunStore, SqliteStore, StoreError};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Wraps a store; its first `failures` reads (`get`, `step`, `entry`) and step and entry writes
/// (`put_step`, `put_entry`) fail as [`StoreError::Unavailable`], the rest go through.
pub struct Down {
    inner: SqliteStore,
    failures: AtomicUsize,
}

impl Down {
    /// `inner`, down for its first `failures` reads and step writes.
    pub fn new(inner: SqliteStore, failures: usize) -> Self {
        Self {
            inner,
            failures: AtomicUsize::new(failures),
        }
    }

    fn down(&self) -> Result<(), StoreError> {
        let was_down = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if was_down {
            return Err(StoreError::Unavailable("connection refused".into()));
        }
        Ok(())
    }
}

impl RunStore for Down {
    fn create<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.create(run)
    }
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RunRecord>, StoreError>> {
        Box::pin(async move {
            self.down()?;
            self.inner.get(id).await
        })
    }
    fn replace<'a>(&'a self, next: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.replace(next)
    }
    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<RunRecord>, StoreError>> {
        self.inner.list(limit)
    }
    fn step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            self.down()?;
            self.inner.step(run, name).await
        })
    }
    fn put_step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            self.down()?;
            self.inner.put_step(run, name, value).await
        })
    }
    fn entry<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            self.down()?;
            self.inner.entry(key, now_ms).await
        })
    }
    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        entry: &'a Entry,
        expected: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.down()?;
            self.inner.put_entry(key, entry, expected, now_ms).await
        })
    }
}
