//! What the app's jobs call outside themselves, behind one trait so tests can stand in for it.

use overtime::BoxError;
use std::sync::Arc;

/// The worker's shared state: every job gets it as `ctx.state()`.
#[derive(Clone)]
pub struct App {
    /// Payments, email, the order database, the CRM and the team's chat.
    pub shop: Arc<dyn Shop>,
}

impl App {
    /// The app as deployed: here, the shop that logs.
    pub fn from_env() -> Self {
        Self {
            shop: Arc::new(LoggingShop),
        }
    }
}

/// The outside world of the app's jobs. Each call takes an idempotency key where the
/// provider would: a retried job then charges, emails and records once.
pub trait Shop: Send + Sync + 'static {
    /// Charges `cents` for `order`; the charge's id.
    fn charge(&self, order: &str, cents: u64, key: &str) -> Result<String, BoxError>;
    /// Sends the email `template` to `to`.
    fn send_email(&self, to: &str, template: &str, key: &str) -> Result<(), BoxError>;
    /// Records a paid order.
    fn record_order(&self, order: &str, charge: &str) -> Result<(), BoxError>;
    /// Tells the team about an order.
    fn notify_team(&self, order: &str) -> Result<(), BoxError>;
    /// Creates or updates the CRM contact of user `user` (an upsert by id: a retry is harmless).
    fn upsert_contact(&self, user: &str, email: &str, plan: &str) -> Result<(), BoxError>;
}

/// A [`Shop`] that logs each call and always succeeds: the example's stand-in for real providers.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingShop;

impl Shop for LoggingShop {
    fn charge(&self, order: &str, cents: u64, key: &str) -> Result<String, BoxError> {
        tracing::info!(order, cents, key, "charged");
        Ok(format!("ch_{order}"))
    }

    fn send_email(&self, to: &str, template: &str, key: &str) -> Result<(), BoxError> {
        tracing::info!(to, template, key, "email sent");
        Ok(())
    }

    fn record_order(&self, order: &str, charge: &str) -> Result<(), BoxError> {
        tracing::info!(order, charge, "order recorded");
        Ok(())
    }

    fn notify_team(&self, order: &str) -> Result<(), BoxError> {
        tracing::info!(order, "team notified");
        Ok(())
    }

    fn upsert_contact(&self, user: &str, email: &str, plan: &str) -> Result<(), BoxError> {
        tracing::info!(user, email, plan, "CRM contact upserted");
        Ok(())
    }
}
