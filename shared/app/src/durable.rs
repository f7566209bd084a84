//! The example app's durable work: a backfill longer than any one invocation (chunked), and a
//! checkout workflow whose steps run once each (memoized) and that can wait for the payment
//! provider's `payment.succeeded` event.

use crate::App;
use overtime::chunk::{Advance, Chunked, SliceContext};
use overtime::wait::Match;
use overtime::{Job, JobContext, JobError, JobResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

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

/// The event a payment provider's webhook sends when a charge settles (`payment.succeeded`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentSucceeded {
    /// The order paid for.
    pub order_id: String,
    /// The charge that settled.
    pub charge: String,
}

impl PaymentSucceeded {
    /// The event's name on the bus.
    pub const NAME: &'static str = "payment.succeeded";
}

#[cfg(feature = "events")]
impl overtime::events::Event for PaymentSucceeded {
    const NAME: &'static str = PaymentSucceeded::NAME;
}

/// Charges a customer, sends the receipt, records the order, tells the team: each step once,
/// even when a later one fails and the job is retried. With `pay_within_secs`, the charge is
/// only started: the checkout waits (suspended, spending nothing) for `payment.succeeded` for
/// its order, and without it in time records the order as expired and stops.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkout {
    /// The order.
    pub order_id: String,
    /// Amount in cents.
    pub cents: u64,
    /// Where the receipt goes.
    pub email: String,
    /// Wait this long for the provider's `payment.succeeded` before the receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_within_secs: Option<u64>,
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
        if let Some(secs) = self.pay_within_secs {
            let on = Match::field("data.order_id", &self.order_id);
            let paid = ctx
                .wait_for_event::<PaymentSucceeded>(
                    "paid",
                    PaymentSucceeded::NAME,
                    on,
                    Duration::from_secs(secs),
                )
                .await?;
            if paid.is_none() {
                tracing::warn!(
                    order = self.order_id,
                    secs,
                    "no payment in time; the order expires"
                );
                return ctx
                    .step("expire", || async {
                        Ok(shop.record_order(&self.order_id, "expired")?)
                    })
                    .await;
            }
        }
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
