//! The example app's durable work: a backfill longer than any one invocation (chunked), and a
//! checkout workflow whose steps run once each (memoized).

use crate::App;
use overtime::chunk::{Advance, Chunked, SliceContext};
use overtime::{Job, JobContext, JobError, JobResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Accounts scored per step: a bounded unit, well under a second.
const ACCOUNTS_PER_STEP: u64 = 500;

/// Recomputes every account's risk score in `from..to`: an hour of work for a million accounts,
/// run as slices that each end before the function's timeout.
/// `overtime send jobs '{"job":"rescore-accounts","payload":{"from":0,"to":1000000}}'`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RescoreAccounts {
    /// First account.
    pub from: u64,
    /// One past the last account.
    pub to: u64,
}

/// An account's score: a stand-in for real CPU work (hashing its history).
pub fn score(account: u64) -> u64 {
    let mut digest = Sha256::digest(account.to_le_bytes());
    for _ in 0..20 {
        digest = Sha256::digest(digest);
    }
    u64::from(digest[0]) * 100 / 255
}

impl Job for RescoreAccounts {
    const NAME: &'static str = "rescore-accounts";
    type State = App;

    async fn run(self, ctx: JobContext<App>) -> JobResult {
        ctx.run_slice(self).await
    }
}

impl Chunked for RescoreAccounts {
    type Cursor = u64;

    fn start(&self) -> u64 {
        self.from
    }

    fn total(&self) -> Option<u64> {
        Some(self.to.saturating_sub(self.from))
    }

    async fn advance(
        &self,
        next: u64,
        ctx: &mut SliceContext<'_, App>,
    ) -> Result<Advance<u64>, JobError> {
        let end = next.saturating_add(ACCOUNTS_PER_STEP).min(self.to);
        let high = (next..end).filter(|a| score(*a) > 90).count();
        tracing::debug!(from = next, to = end, high, "scored accounts");
        ctx.progress(end - next);
        Ok(if end >= self.to {
            Advance::Done
        } else {
            Advance::To(end)
        })
    }
}

/// Charges a customer, sends the receipt, records the order, tells the team: each step once,
/// even when a later one fails and the job is retried.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkout {
    /// The order.
    pub order_id: String,
    /// Amount in cents.
    pub cents: u64,
    /// Where the receipt goes.
    pub email: String,
}

impl Job for Checkout {
    const NAME: &'static str = "checkout";
    type State = App;

    async fn run(self, ctx: JobContext<App>) -> JobResult {
        if !crate::is_email(&self.email) {
            return Err(JobError::permanent(format!(
                "{:?} is not an email address",
                self.email
            )));
        }
        let shop = &ctx.state().shop;
        // Each provider's idempotency key is the job id (the same on every attempt) and the step.
        let key = |step: &str| format!("{}:{step}", ctx.job_id());
        let charge: String = ctx
            .step("charge", || async {
                Ok(shop.charge(&self.order_id, self.cents, &key("charge"))?)
            })
            .await?;
        ctx.step("receipt", || async {
            Ok(shop.send_email(&self.email, "receipt", &key("receipt"))?)
        })
        .await?;
        ctx.step("record", || async {
            Ok(shop.record_order(&self.order_id, &charge)?)
        })
        .await?;
        ctx.step("notify", || async { Ok(shop.notify_team(&self.order_id)?) })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_stable_percentages() {
        assert_eq!(score(42), score(42));
        assert!((0..1000).map(score).all(|s| s <= 100));
        assert!((0..1000).map(score).any(|s| s > 50));
    }
}
