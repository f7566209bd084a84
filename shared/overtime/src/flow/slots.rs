//! Concurrency slots of one key, kept as one run-store entry and changed only by
//! compare-and-swap, so two workers (two Lambda instances, two pollers) cannot both take the
//! last slot. Holders hold a lease they renew while running; a crashed holder's slot frees
//! itself when the lease ends. Jobs that find no free slot queue in arrival order: a slot goes
//! to the first waiters, and a waiter that stops asking (its message gone) leaves the queue
//! after `waiter_ttl`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::store::{RunStore, StoreError};

/// The longest pause between two attempts: writers that lost pause a random time up to
/// `2^attempt` ms (at most this), so contending workers spread out instead of colliding again.
const CAS_MAX_PAUSE_MS: u64 = 100;

/// One run holding a slot until `until` (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The job id holding it.
    pub id: String,
    /// When the slot frees itself unless renewed.
    pub until: i64,
}

/// One job waiting for a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    /// The job id.
    pub id: String,
    /// When it first asked (its place in the queue).
    pub arrived: i64,
    /// When it leaves the queue unless it asks again.
    pub seen_until: i64,
}

/// The slots of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slots {
    /// Who holds a slot.
    pub holders: Vec<Holder>,
    /// Who waits, in arrival order.
    pub waiting: Vec<Waiter>,
}

/// What [`Slots::take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The job holds a slot (it already did, or just got one).
    Granted,
    /// No slot for it yet: `ahead` jobs come before it.
    Queued {
        /// How many waiters are ahead of it beyond the free slots.
        ahead: usize,
    },
}

impl Slots {
    fn forget_expired(&mut self, now: i64) {
        self.holders.retain(|h| h.until > now);
        self.waiting.retain(|w| w.seen_until > now);
    }

    /// Job `id` asks for a slot at `now`, with at most `limit` holders; a granted slot is
    /// held for `lease` ms, a waiter kept for `waiter_ttl` ms.
    pub fn take(&mut self, id: &str, limit: u32, now: i64, lease: i64, waiter_ttl: i64) -> Take {
        self.forget_expired(now);
        if let Some(h) = self.holders.iter_mut().find(|h| h.id == id) {
            h.until = now + lease;
            return Take::Granted;
        }
        let pos = match self.waiting.iter().position(|w| w.id == id) {
            Some(p) => {
                self.waiting[p].seen_until = now + waiter_ttl;
                p
            }
            None => {
                self.waiting.push(Waiter {
                    id: id.to_owned(),
                    arrived: now,
                    seen_until: now + waiter_ttl,
                });
                self.waiting.len() - 1
            }
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let free = limit.saturating_sub(self.holders.len());
        if pos < free {
            self.waiting.remove(pos);
            self.holders.push(Holder {
                id: id.to_owned(),
                until: now + lease,
            });
            Take::Granted
        } else {
            Take::Queued {
                ahead: pos + 1 - free,
            }
        }
    }

    /// Job `id` gives its slot back (or leaves the queue); true if it held or waited.
    pub fn release(&mut self, id: &str) -> bool {
        let before = self.holders.len() + self.waiting.len();
        self.holders.retain(|h| h.id != id);
        self.waiting.retain(|w| w.id != id);
        before != self.holders.len() + self.waiting.len()
    }

    /// Extends `id`'s lease; false if it no longer holds a slot (its lease ran out and the
    /// slot went to another).
    pub fn renew(&mut self, id: &str, now: i64, lease: i64) -> bool {
        self.forget_expired(now);
        match self.holders.iter_mut().find(|h| h.id == id) {
            Some(h) => {
                h.until = now + lease;
                true
            }
            None => false,
        }
    }

    /// When the entry may be forgotten: once every lease and waiter ran out.
    pub fn expires_ms(&self, now: i64) -> i64 {
        self.holders
            .iter()
            .map(|h| h.until)
            .chain(self.waiting.iter().map(|w| w.seen_until))
            .max()
            .unwrap_or(now)
    }
}

/// Before attempt `attempt` (from 0) of a compare-and-swap: nothing for the first, then a
/// random pause of up to `2^attempt` ms, at most [`CAS_MAX_PAUSE_MS`].
pub(crate) async fn cas_pause(attempt: u32) {
    if attempt > 0 {
        let cap = (1u64 << attempt.min(16)).min(CAS_MAX_PAUSE_MS);
        let pause = fastrand::u64(0..=cap);
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
    }
}

/// Reads the JSON state under `key` (its default when absent or expired), lets `change`
/// update it and say what it returns and until when the state must be kept, and writes it
/// back by compare-and-swap, retried (after a random pause that grows with each loss) when
/// another writer came first. Returns `change`'s result once written. A `change` that returns
/// `keep_until <= now` with an absent entry writes nothing.
pub async fn update<T, R, F>(store: &dyn RunStore, key: &str, change: F) -> Result<R, StoreError>
where
    T: Default + Serialize + DeserializeOwned,
    F: FnMut(&mut T, i64) -> (R, i64),
{
    super::cache::States::default()
        .update(store, key, change)
        .await
}
