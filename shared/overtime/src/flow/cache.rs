//! Flow-control state changed by compare-and-swap, remembering what this process last wrote:
//! while no other worker wrote a key in between, a change is one conditional write and no
//! read (each store call is a billed request on DynamoDB). Changes to one key from this
//! process go one at a time, so they never make each other's writes fail.

use super::slots::cas_pause;
use crate::store::{Entry, RunStore, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How often a compare-and-swap is retried against other writers before giving up.
const CAS_ATTEMPTS: u32 = 24;
/// Keys remembered before the idle ones are forgotten.
const MAX_KEYS: usize = 4096;

/// What this process knows of a key.
#[derive(Debug, Default)]
enum Known {
    /// Nothing: read it.
    #[default]
    Unknown,
    /// No live entry, as of our own last write.
    Absent,
    /// The entry as we last wrote it.
    Written(Entry),
}

/// The states this process wrote, per key.
#[derive(Debug, Default)]
pub(crate) struct States {
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Known>>>>,
}

impl States {
    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<Known>> {
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if keys.len() >= MAX_KEYS && !keys.contains_key(key) {
            // Forget the keys nobody is changing now.
            keys.retain(|_, known| Arc::strong_count(known) > 1);
        }
        keys.entry(key.to_owned()).or_default().clone()
    }

    /// Reads the JSON state under `key` (its default when absent or expired), lets `change`
    /// update it and say what it returns and until when the state must be kept, and writes it
    /// back by compare-and-swap, retried (after a random pause that grows with each loss) when
    /// another writer came first. A `change` that returns `keep_until <= now` on an absent
    /// entry writes nothing; one that returns it on a present entry lets it expire at once.
    pub(crate) async fn update<T, R, F>(
        &self,
        store: &dyn RunStore,
        key: &str,
        mut change: F,
    ) -> Result<R, StoreError>
    where
        T: Default + Serialize + DeserializeOwned,
        F: FnMut(&mut T, i64) -> (R, i64),
    {
        let lock = self.lock_for(key);
        let mut known = lock.lock().await;
        for attempt in 0..CAS_ATTEMPTS {
            cas_pause(attempt).await;
            let now = crate::store::now_ms();
            let current = match &*known {
                Known::Written(e) if e.is_live(now) => Some(e.clone()),
                Known::Written(_) | Known::Absent => None,
                Known::Unknown => store.entry(key, now).await?,
            };
            let mut state: T = match &current {
                Some(e) => serde_json::from_str(&e.value).map_err(|err| StoreError::Corrupt {
                    id: key.to_owned(),
                    reason: err.to_string(),
                })?,
                None => T::default(),
            };
            let (result, keep_until) = change(&mut state, now);
            if current.is_none() && keep_until <= now {
                return Ok(result);
            }
            let value = serde_json::to_string(&state).map_err(|err| StoreError::Corrupt {
                id: key.to_owned(),
                reason: err.to_string(),
            })?;
            let next = Entry::new(value, keep_until.max(now));
            let token = current.as_ref().map(|e| e.token.as_str());
            if store.put_entry(key, &next, token, now).await? {
                *known = if keep_until <= now {
                    Known::Absent
                } else {
                    Known::Written(next)
                };
                return Ok(result);
            }
            // Another worker wrote it: read it next time.
            *known = Known::Unknown;
        }
        Err(StoreError::Unavailable(format!(
            "{key} kept changing under other writers; try again"
        )))
    }
}
