//! The example application's business logic: what the thin functions in `functions/` call.
//!
//! A real app would talk to its database and email provider here; these log instead, so the
//! examples run anywhere.

mod durable;

pub use durable::{Checkout, RescoreAccounts, score};
use overtime::{Job, JobContext, JobError, JobResult};
use serde::{Deserialize, Serialize};

/// Sends the welcome email to a new user. Enqueued by `functions/signup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WelcomeEmail {
    /// The new user's address.
    pub email: String,
}

impl Job for WelcomeEmail {
    const NAME: &'static str = "welcome-email";
    type State = ();

    async fn run(self, ctx: JobContext<()>) -> JobResult {
        if !is_email(&self.email) {
            return Err(JobError::permanent(format!(
                "{:?} is not an email address",
                self.email
            )));
        }
        // The idempotency key goes to the email provider, so a retried job sends one email.
        tracing::info!(to = %self.email, key = ctx.idempotency_key(), "welcome email sent");
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
    type State = ();

    async fn run(self, ctx: JobContext<()>) -> JobResult {
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

/// The app's worker: every job it runs, and the run store its durable work keeps its runs in
/// (`OVERTIME_RUN_STORE`: dynamodb:TABLE on AWS, sqlite:PATH locally; without it, durable jobs
/// are dead-lettered with that fix as the reason).
pub async fn worker() -> Result<overtime::Worker, overtime::BoxError> {
    let mut worker = overtime::Worker::new()
        .job::<WelcomeEmail>()
        .job::<SyncAccount>()
        .job::<Checkout>()
        .chunked::<RescoreAccounts>();
    if std::env::var_os(overtime::store::STORE_VAR).is_some() {
        worker = worker.run_store(overtime::store::from_env().await?);
    }
    Ok(worker)
}

/// A deliberately small check: one `@` with text on both sides.
pub fn is_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((user, domain)) if !user.is_empty() && domain.contains('.') && !domain.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("a@example.com"));
        assert!(!is_email("a@b@example.com"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("nobody"));
    }
}
