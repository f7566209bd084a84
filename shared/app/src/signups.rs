//! What follows a sign-up: the `user.signed_up` event `functions/signup` sends, and the CRM
//! sync that listens to it for paying plans (infra/overtime.toml's `[[listeners]]`). The
//! welcome email listens too; it is [`WelcomeEmail`](crate::WelcomeEmail).

use crate::App;
use overtime::{Job, JobContext, JobResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A user signed up: the data of the `user.signed_up` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedUp {
    /// The user's id.
    pub id: String,
    /// Their address.
    pub email: String,
    /// The plan they chose: `free`, `pro` or `team`.
    pub plan: String,
}

#[cfg(feature = "events")]
impl overtime::events::Event for SignedUp {
    const NAME: &'static str = "user.signed_up";
}

impl SignedUp {
    /// The sign-up of `email` on `plan`. Its id stands in for the row a users table would
    /// insert; derived from the address, a retried request names the same user.
    pub fn new(email: String, plan: String) -> Self {
        let digest = Sha256::digest(email.as_bytes());
        let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            id: format!("u_{id}"),
            email,
            plan,
        }
    }

    /// The sign-up's idempotency key: its event's id, and the key of the welcome email it
    /// enqueues, so a retried request and the `welcome-email` listener send one email.
    pub fn key(&self) -> String {
        format!("signup:{}", self.id)
    }
}

/// Puts a paying user in the CRM. Listens to `user.signed_up` on the pro and team plans.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrmSync {
    /// The user's id: the CRM contact's external id.
    pub id: String,
    /// Their address.
    pub email: String,
    /// Their plan.
    pub plan: String,
}

impl Job for CrmSync {
    const NAME: &'static str = "crm-sync";
    type State = App;

    async fn run(self, ctx: JobContext<App>) -> JobResult {
        ctx.state()
            .shop
            .upsert_contact(&self.id, &self.email, &self.plan)?;
        Ok(())
    }
}
