//! The example application's business logic: what the thin functions in `functions/` call.
//!
//! The jobs reach the outside world through [`App`], the worker's shared state: a real app
//! would hold its database pool and its email and payment clients there. These log instead,
//! so the examples run anywhere, and the tests put a fake in their place.

mod durable;
mod shop;
mod signups;

pub use durable::{Checkout, PaymentSucceeded, RescoreAccounts, score};
pub use shop::{App, LoggingShop, Shop};
pub use signups::{CrmSync, SignedUp};

use overtime::{Job, JobContext, JobError, JobResult};
use serde::{Deserialize, Serialize};

/// Sends the welcome email to a new user. Enqueued by `functions/signup`, and listening to
/// `user.signed_up` (whose data has the address too) under the same key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WelcomeEmail {
    /// The new user's address.
    pub email: String,
}

impl Job for WelcomeEmail {
    const NAME: &'static str = "welcome-email";
    type State = App;

    async fn run(self, ctx: JobContext<App>) -> JobResult {
        if !is_email(&self.email) {
            return Err(JobError::permanent(format!(
                "{:?} is not an email address",
                self.email
            )));
        }
        // The idempotency key goes to the email provider, so a retried job sends one email.
        let key = ctx.idempotency_key().unwrap_or(ctx.job_id());
        ctx.state().shop.send_email(&self.email, "welcome", key)?;
        Ok(())
    }
}

/// Pulls one account's data from upstream. Fanned out hourly by `functions/sync-accounts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncAccount {
    /// The account to sync.
    pub account_id: u64,
}

impl Job for SyncAccount {
    const NAME: &'static str = "sync-account";
    type State = App;

    async fn run(self, ctx: JobContext<App>) -> JobResult {
        tracing::info!(
            account = self.account_id,
            key = ctx.idempotency_key(),
            "account synced"
        );
        Ok(())
    }
}

/// The accounts to sync: `ACCOUNT_COUNT` of them (default 50), standing in for a database query.
pub fn accounts() -> Vec<u64> {
    let count = std::env::var("ACCOUNT_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    (1..=count).collect()
}

/// Deletes sessions that expired before `now`; returns how many. Run daily by `functions/cleanup`.
pub fn purge_expired_sessions(now: chrono::DateTime<chrono::Utc>) -> usize {
    tracing::info!(before = %now, "purged expired sessions");
    0
}

/// The app's worker: every job it runs, with `app` as their shared state. Its run store (for
/// the durable jobs) is the one `OVERTIME_RUN_STORE` names: dynamodb:TABLE on AWS,
/// sqlite:PATH locally; without one, durable jobs are dead-lettered with that fix as the reason.
pub fn worker(app: App) -> overtime::Worker<App> {
    overtime::Worker::with_state(app)
        .job::<WelcomeEmail>()
        .job::<CrmSync>()
        .job::<SyncAccount>()
        .job::<Checkout>()
        .job::<RescoreAccounts>()
}

/// A deliberately small check: one `@` with text on both sides.
pub fn is_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((user, domain)) if !user.is_empty() && domain.contains('.') && !domain.contains('@'))
}

#[cfg(test)]
mod tests;
