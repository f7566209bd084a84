//! Once per idempotency key: a job sent with a key runs once per job name and key, however
//! often it is sent or delivered, when the worker has a run store.
//!
//! Before running, the worker claims the entry `once/JOB/KEY` in the run store:
//! - `running ID` while an attempt of job `ID` runs (for the attempt's lease);
//! - `waiting ID` once it failed and will be retried, or sleeps, for [`KEPT_FOR`];
//! - `done ID` once it succeeded, for [`KEPT_FOR`];
//! - released (expired at once) when it was dead-lettered, so a redrive or a new send runs.
//!
//! A delivery of another send of the key (another `ID`) that finds it running, waiting or done
//! is a duplicate: it succeeds without running, since the first send's own retries and
//! dead letter cover it. The first send's retry finds `waiting ID` and takes the claim back.
//! A second delivery of the same message while it runs is retried when that lease ends.

use crate::store::{Entry, RunStore, StoreError, now_ms};
use std::time::{Duration, SystemTime};

/// How long a finished job's key is remembered: at least a day, as Inngest deduplicates
/// events; a duplicate sent later runs again.
pub(crate) const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

/// A running attempt's lease when the invocation has no deadline (the poller, Vercel): a crashed
/// attempt's retry waits at most this long for it.
const LEASE_WITHOUT_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// After the deadline, how long the lease still holds (the answer to Lambda, the settling).
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Claims in a row that lost to another writer before the store is taken as unavailable.
const CLAIM_ATTEMPTS: usize = 4;

/// What a delivery of a keyed job is to do.
#[derive(Debug)]
pub(crate) enum Claim {
    /// Run it; settle the claim when it ends.
    Run(Held),
    /// It ran, or is running, as job `first`: succeed without running.
    Duplicate { first: String },
    /// Another delivery of this same message is running it: look again after `wait`.
    InFlight { wait: Duration },
}

/// A claim this attempt holds.
#[derive(Debug)]
pub(crate) struct Held {
    key: String,
    token: String,
    job_id: String,
}

/// The entry's key for `job` and its idempotency key.
pub(crate) fn entry_key(job: &str, key: &str) -> String {
    format!("once/{job}/{key}")
}

/// Claims `job`'s `key` for attempt `job_id`.
pub(crate) async fn claim(
    store: &dyn RunStore,
    job: &str,
    key: &str,
    job_id: &str,
    deadline: Option<SystemTime>,
) -> Result<Claim, StoreError> {
    let key = entry_key(job, key);
    for _ in 0..CLAIM_ATTEMPTS {
        let now = now_ms();
        let lease = Entry::new(format!("running {job_id}"), now + lease_ms(now, deadline));
        // The first delivery of a key is by far the most common: write first, read only when
        // an entry is there (one store call, not two, per keyed job).
        if !store.put_entry(&key, &lease, None, now).await? {
            let Some(current) = store.entry(&key, now).await? else {
                continue; // it expired in between
            };
            let (state, holder) = current.value.split_once(' ').unwrap_or(("", ""));
            let expected = match state {
                "running" | "waiting" | "done" if holder != job_id || state == "done" => {
                    return Ok(Claim::Duplicate {
                        first: holder.to_owned(),
                    });
                }
                "running" => {
                    // This very message, delivered twice at once or retried after a crash:
                    // look again when the other delivery's lease ends (one receive, not many).
                    let wait = u64::try_from(current.expires_ms - now).unwrap_or(0);
                    return Ok(Claim::InFlight {
                        wait: Duration::from_millis(wait),
                    });
                }
                // Its own retry or wake-up ("waiting ID"), or an entry this version does not
                // know: taken over by token.
                _ => current.token,
            };
            if !store.put_entry(&key, &lease, Some(&expected), now).await? {
                continue;
            }
        }
        return Ok(Claim::Run(Held {
            key,
            token: lease.token,
            job_id: job_id.to_owned(),
        }));
    }
    Err(StoreError::Unavailable(format!(
        "idempotency key {key} kept changing; try again"
    )))
}

/// How long an attempt holds its claim: to its deadline and a margin, or a fixed lease.
fn lease_ms(now: i64, deadline: Option<SystemTime>) -> i64 {
    let until_deadline = deadline.map(|d| {
        let at = d
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        (at - now).max(0)
    });
    let margin = millis(LEASE_MARGIN);
    until_deadline.map_or(millis(LEASE_WITHOUT_DEADLINE), |ms| ms + margin)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Held {
    /// The job succeeded: duplicates from now on are not run.
    pub(crate) async fn finish(self, store: &dyn RunStore) {
        let now = now_ms();
        let done = Entry::new(format!("done {}", self.job_id), now + millis(KEPT_FOR));
        self.settle(
            store,
            &done,
            now,
            "could not record the job as done; a duplicate sent now would run again",
        )
        .await;
    }

    /// The job failed and will be retried, or sleeps: only this job's next delivery runs it.
    pub(crate) async fn wait(self, store: &dyn RunStore) {
        let now = now_ms();
        let waiting = Entry::new(format!("waiting {}", self.job_id), now + millis(KEPT_FOR));
        self.settle(store, &waiting, now, "could not record the job as waiting for its retry; its retry waits for the lease to end")
            .await;
    }

    /// The job was dead-lettered: the key is free for a redrive or a new send.
    pub(crate) async fn release(self, store: &dyn RunStore) {
        let now = now_ms();
        let released = Entry::new("released", now);
        self.settle(store, &released, now, "could not release the idempotency key of a dead-lettered job; a redrive waits for the lease to end")
            .await;
    }

    async fn settle(&self, store: &dyn RunStore, next: &Entry, now: i64, warning: &str) {
        match store
            .put_entry(&self.key, next, Some(&self.token), now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(key = %self.key, "the idempotency key's lease ended while the job ran; {warning}")
            }
            Err(err) => tracing::warn!(key = %self.key, error = %err, "{warning}"),
        }
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_key_runs_once_and_its_duplicates_are_told_apart_from_retries() {
        let store = MemoryStore::new();
        let Claim::Run(held) = claim(&store, "sync", "k", "job-1", None)
            .await
            .expect("claim")
        else {
            panic!("the first delivery runs");
        };
        // Another send of the same key while it runs: a duplicate of the first.
        let second = claim(&store, "sync", "k", "job-2", None)
            .await
            .expect("claim");
        assert!(
            matches!(&second, Claim::Duplicate { first } if first == "job-1"),
            "{second:?}"
        );
        // The same message delivered again while it runs: looked at again after the lease.
        let again = claim(&store, "sync", "k", "job-1", None)
            .await
            .expect("claim");
        assert!(
            matches!(again, Claim::InFlight { wait } if wait > Duration::from_secs(60)),
            "{again:?}"
        );
        // The attempt fails: another send stays a duplicate, its own retry claims and runs.
        held.wait(&store).await;
        let third = claim(&store, "sync", "k", "job-2", None)
            .await
            .expect("claim");
        assert!(
            matches!(&third, Claim::Duplicate { first } if first == "job-1"),
            "{third:?}"
        );
        let Claim::Run(held) = claim(&store, "sync", "k", "job-1", None)
            .await
            .expect("claim")
        else {
            panic!("a retry after a failure runs");
        };
        held.finish(&store).await;
        // Done: every later delivery, of this message or another send, is a duplicate.
        for job_id in ["job-1", "job-2"] {
            let c = claim(&store, "sync", "k", job_id, None)
                .await
                .expect("claim");
            assert!(
                matches!(&c, Claim::Duplicate { first } if first == "job-1"),
                "{c:?}"
            );
        }
        // Keys are per job: another job with the same key runs.
        let other = claim(&store, "email", "k", "job-3", None)
            .await
            .expect("claim");
        assert!(matches!(other, Claim::Run(_)), "{other:?}");
    }

    #[test]
    fn a_lease_lasts_to_the_deadline_and_a_margin() {
        let now = now_ms();
        let deadline = SystemTime::now() + Duration::from_secs(30);
        let ms = lease_ms(now, Some(deadline));
        assert!((34_000..=35_100).contains(&ms), "{ms}");
        assert_eq!(lease_ms(now, None), 15 * 60 * 1000);
    }
}
