//! The app's jobs, tested the way a user of overtime tests theirs: through `overtime::testing`,
//! with no server, no queue and no database.

use super::*;
use overtime::BoxError;
use overtime::store::RunStatus;
use overtime::testing::{Outcome, TestWorker};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// A shop that remembers every call and fails `record_order` a given number of times.
#[derive(Default)]
struct FakeShop {
    calls: Mutex<Vec<String>>,
    record_failures: AtomicU32,
}

impl FakeShop {
    fn failing_to_record(times: u32) -> Arc<Self> {
        let shop = Self::default();
        shop.record_failures.store(times, Ordering::SeqCst);
        Arc::new(shop)
    }

    fn note(&self, call: String) {
        self.calls.lock().expect("calls").push(call);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }
}

impl Shop for FakeShop {
    fn charge(&self, order: &str, cents: u64, key: &str) -> Result<String, BoxError> {
        self.note(format!("charge {order} {cents} {key}"));
        Ok(format!("ch_{order}"))
    }

    fn send_email(&self, to: &str, template: &str, _key: &str) -> Result<(), BoxError> {
        self.note(format!("email {template} {to}"));
        Ok(())
    }

    fn record_order(&self, order: &str, charge: &str) -> Result<(), BoxError> {
        self.note(format!("record {order} {charge}"));
        let failing = self
            .record_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match failing {
            Ok(_) => Err("the orders database is down".into()),
            Err(_) => Ok(()),
        }
    }

    fn notify_team(&self, order: &str) -> Result<(), BoxError> {
        self.note(format!("notify {order}"));
        Ok(())
    }

    fn upsert_contact(&self, user: &str, email: &str, plan: &str) -> Result<(), BoxError> {
        self.note(format!("crm {user} {email} {plan}"));
        Ok(())
    }
}

fn app(shop: &Arc<FakeShop>) -> App {
    App { shop: shop.clone() }
}

fn checkout() -> Checkout {
    Checkout {
        order_id: "o-1".into(),
        cents: 4200,
        email: "ada@example.com".into(),
        pay_within_secs: None,
    }
}

#[test]
fn emails() {
    assert!(is_email("a@example.com"));
    assert!(!is_email("a@b@example.com"));
    assert!(!is_email("@example.com"));
    assert!(!is_email("nobody"));
}

#[tokio::test]
async fn a_welcome_email_goes_out_once_and_a_bad_address_is_dead_lettered_at_once() {
    let shop = FakeShop::failing_to_record(0);
    let worker = TestWorker::new(worker(app(&shop)));
    worker
        .queue()
        .send(WelcomeEmail {
            email: "ada@example.com".into(),
        })
        .await
        .expect("sent");
    worker
        .queue()
        .send(WelcomeEmail {
            email: "nobody".into(),
        })
        .await
        .expect("sent");
    let report = worker.run_until_idle().await;
    assert_eq!(report.succeeded(), 1);
    assert_eq!(report.dead_lettered(), 1);
    assert_eq!(shop.calls(), ["email welcome ada@example.com"]);
    let dead = worker.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].job.as_str(),
            dead[0].kind.as_str(),
            dead[0].attempts
        ),
        ("welcome-email", "permanent", 1)
    );
    assert_eq!(dead[0].reason, "\"nobody\" is not an email address");
}

#[tokio::test]
async fn a_sign_up_emails_once_though_enqueued_and_heard_and_syncs_a_paying_user_to_the_crm() {
    let shop = FakeShop::failing_to_record(0);
    let worker = TestWorker::new(worker(app(&shop)));
    let ada = SignedUp::new("ada@example.com".into(), "pro".into());
    // What functions/signup enqueues, then what the two listeners' rules deliver: the event's
    // data as each job's payload, the event's id as its key.
    let welcome = WelcomeEmail {
        email: ada.email.clone(),
    };
    let queue = worker.queue();
    queue
        .send(overtime::Message::new(&welcome).idempotency_key(ada.key()))
        .await
        .expect("sent");
    let data = serde_json::to_string(&ada).expect("json");
    for job in ["welcome-email", "crm-sync"] {
        let heard = overtime::Message::from_json(job, &data)
            .expect("a payload")
            .idempotency_key(ada.key());
        queue.send(heard).await.expect("sent");
    }
    let report = worker.run_until_idle().await;
    assert_eq!(report.dead_lettered(), 0);
    let mut calls = shop.calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            format!("crm {} ada@example.com pro", ada.id),
            "email welcome ada@example.com".to_owned(),
        ]
    );
}

#[test]
fn a_sign_up_s_user_id_and_key_follow_from_the_address() {
    let a = SignedUp::new("ada@example.com".into(), "pro".into());
    let again = SignedUp::new("ada@example.com".into(), "free".into());
    let bob = SignedUp::new("bob@example.com".into(), "pro".into());
    assert_eq!(a.id, again.id, "a retried request names the same user");
    assert_ne!(a.id, bob.id);
    assert!(a.id.starts_with("u_") && a.id.len() == 18, "{}", a.id);
    assert_eq!(a.key(), format!("signup:{}", a.id));
}

#[tokio::test]
async fn a_checkout_whose_third_step_fails_resumes_there_and_charges_once() {
    let shop = FakeShop::failing_to_record(1);
    let worker = TestWorker::new(worker(app(&shop)));
    let sent = worker.queue().send(checkout()).await.expect("sent");
    let report = worker.run_until_idle().await;

    let runs: Vec<_> = report
        .of("checkout")
        .map(|r| (r.attempt, r.outcome.clone()))
        .collect();
    assert_eq!(
        runs,
        [
            (
                1,
                Outcome::Retried {
                    reason: "the orders database is down".into()
                }
            ),
            (2, Outcome::Succeeded),
        ]
    );
    // Steps 1 and 2 ran once; step 3 ran again on the retry, and step 4 after it.
    let charge_key = format!("{}:charge", sent.job_id);
    assert_eq!(
        shop.calls(),
        [
            format!("charge o-1 4200 {charge_key}"),
            "email receipt ada@example.com".into(),
            "record o-1 ch_o-1".into(),
            "record o-1 ch_o-1".into(),
            "notify o-1".into(),
        ]
    );
    assert!(worker.dead_letters().is_empty());
}

#[tokio::test]
async fn a_checkout_called_directly_keeps_its_finished_steps_for_the_retry() {
    let shop = FakeShop::failing_to_record(1);
    let store: Arc<dyn overtime::store::RunStore> = Arc::new(overtime::store::MemoryStore::new());
    let context = |attempt| {
        JobContext::builder(app(&shop))
            .job_id("job-1")
            .attempt(attempt)
            .store(store.clone())
            .build()
    };
    let first = checkout().run(context(1)).await.expect_err("step 3 fails");
    assert_eq!(first.failure(), Some(overtime::Failure::Retry(None)));
    assert_eq!(first.to_string(), "the orders database is down");
    checkout()
        .run(context(2))
        .await
        .expect("the retry succeeds");
    let charges = shop
        .calls()
        .iter()
        .filter(|c| c.starts_with("charge"))
        .count();
    assert_eq!(charges, 1, "{:?}", shop.calls());
}

#[tokio::test]
async fn a_rescore_of_five_thousand_accounts_runs_as_a_chain_of_slices_and_completes_once() {
    let shop = FakeShop::failing_to_record(0);
    // 10 steps of 500 accounts; 3 steps a slice: slices 0-3.
    let worker = TestWorker::new(worker(app(&shop))).steps_per_slice(3);
    let sent = worker
        .queue()
        .send(RescoreAccounts { from: 0, to: 5000 })
        .await
        .expect("sent");
    let report = worker.run_until_idle().await;

    let slices: Vec<_> = report.of("rescore-accounts").collect();
    assert_eq!(slices.len(), 4, "{report:?}");
    assert!(
        slices
            .iter()
            .all(|r| r.outcome == Outcome::Succeeded && r.attempt == 1)
    );
    let run = worker
        .store()
        .get(&sent.job_id)
        .await
        .expect("store")
        .expect("the run");
    assert_eq!(run.status(), RunStatus::Done);
    assert_eq!((run.slice(), run.items_done()), (3, 5000));
    assert_eq!(worker.pending(), 0);
}

#[tokio::test]
async fn a_checkout_whose_payment_never_comes_expires_after_its_wait() {
    let shop = FakeShop::failing_to_record(0);
    let worker = TestWorker::new(worker(app(&shop)));
    let job = Checkout {
        pay_within_secs: Some(3600),
        ..checkout()
    };
    let sent = worker.queue().send(job).await.expect("sent");
    let report = worker.run_until_idle().await;
    assert_eq!(report.dead_lettered(), 0);
    // Charged, then an hour of waiting (the test queue's clock skips ahead), then expired.
    let charge_key = format!("{}:charge", sent.job_id);
    assert_eq!(
        shop.calls(),
        [
            format!("charge o-1 4200 {charge_key}"),
            "record o-1 expired".into(),
        ]
    );
    let paid = worker
        .store()
        .step(&sent.job_id, "wait:paid")
        .await
        .expect("store");
    assert_eq!(
        paid.as_deref(),
        Some("null"),
        "the wait ended by its timeout"
    );
}
