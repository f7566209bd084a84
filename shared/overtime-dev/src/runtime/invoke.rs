//! Invoking a function: on a warm instance or a fresh one, with the init limit and the
//! timeout as deadlines, and Lambda's one retry of an init that overran its limit.

use super::api::Pending;
use super::instance::{Instance, exit_report};
use super::{Function, Outcome, kill_tree};
use crate::log::Invocation;
use axum::body::Bytes;
use std::time::Instant;
use tokio::sync::oneshot;
use tracing::Instrument as _;

/// How an attempt to run an invocation on one instance ended.
enum Attempt {
    Done(Outcome),
    /// The instance did not ask for the invocation within the init limit (it was killed).
    InitTimedOut,
}

impl Function {
    /// Invokes the function with `payload` and waits for the outcome; `trigger` says what
    /// invoked it (for the log).
    pub async fn invoke(&self, payload: Bytes, trigger: &str) -> Outcome {
        let Ok(_permit) = self.permits.acquire().await else {
            return Outcome::StartFailed("the function is shutting down".into());
        };
        let id = uuid::Uuid::new_v4().to_string();
        let began = Instant::now();
        let started_at = chrono::Utc::now();
        let span = tracing::info_span!("invoke", function = %self.spec.name, request_id = %id);
        let outcome = self.invoke_once(&id, payload).instrument(span).await;
        self.log.record(Invocation {
            function: self.spec.name.clone(),
            request_id: id,
            trigger: trigger.to_owned(),
            started: started_at,
            duration_ms: began.elapsed().as_millis() as u64,
            outcome: outcome.summary(),
            ok: outcome.is_ok(),
        });
        outcome
    }

    async fn invoke_once(&self, id: &str, payload: Bytes) -> Outcome {
        if let Some(instance) = self.warm() {
            // A warm instance that could not take the invocation (it exited or hung after its
            // last answer) is replaced, as Lambda replaces a broken environment: the
            // invocation goes to a fresh one rather than failing for it.
            match self.invoke_on(instance, id, payload.clone(), None).await {
                Attempt::Done(Outcome::StartFailed(_)) | Attempt::InitTimedOut => {
                    tracing::warn!(function = %self.spec.name, "a warm instance could not start the invocation; starting a fresh one");
                }
                Attempt::Done(outcome) => return outcome,
            }
        }
        // As Lambda does: an init over its limit is retried once, in a fresh environment,
        // within the invocation's own timeout.
        let mut deadline = None;
        loop {
            let instance = match self.spawn().await {
                Ok(instance) => instance,
                Err(why) => return Outcome::StartFailed(why),
            };
            match self
                .invoke_on(instance, id, payload.clone(), deadline)
                .await
            {
                Attempt::Done(outcome) => return outcome,
                Attempt::InitTimedOut if deadline.is_some() => {
                    return Outcome::Timeout(self.spec.timeout);
                }
                Attempt::InitTimedOut => {
                    tracing::warn!(
                        function = %self.spec.name,
                        "init took over {} s; retrying it within the {} s timeout, as Lambda does",
                        self.spec.init_timeout.as_secs_f64(),
                        self.spec.timeout.as_secs_f64()
                    );
                    deadline = Some(Instant::now() + self.spec.timeout);
                }
            }
        }
    }

    /// An idle instance whose process still runs (dead ones are dropped).
    fn warm(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut instance) = idle.pop() {
            if matches!(instance.child.try_wait(), Ok(None)) {
                return Some(instance);
            }
        }
        None
    }

    /// Runs the invocation on `instance`. Without a `deadline` the instance has the init
    /// limit to ask for it and then the function's timeout; with one, both phases end there.
    async fn invoke_on(
        &self,
        mut instance: Instance,
        id: &str,
        payload: Bytes,
        deadline: Option<Instant>,
    ) -> Attempt {
        let (started_tx, started_rx) = oneshot::channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        let pending = Pending {
            id: id.to_owned(),
            payload,
            timeout: self.spec.timeout,
            deadline,
            arn: self.arn(),
            started: started_tx,
            reply: reply_tx,
        };
        if instance.tx.send(pending).await.is_err() {
            return Attempt::Done(Outcome::StartFailed(
                "the instance's runtime API stopped".into(),
            ));
        }
        // The init phase: until the process asks for the invocation.
        let init_ends = deadline.unwrap_or_else(|| Instant::now() + self.spec.init_timeout);
        tokio::select! {
            r = started_rx => if r.is_err() {
                return Attempt::Done(Outcome::StartFailed("the instance's runtime API stopped".into()));
            },
            () = instance.api.init_failed.notified() => {
                let why = instance.api.init_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Attempt::Done(Outcome::StartFailed(format!("init error: {}", why.unwrap_or_default())));
            }
            status = instance.child.wait() => {
                return Attempt::Done(Outcome::StartFailed(exit_report(status, &instance)));
            }
            () = tokio::time::sleep_until(init_ends.into()) => {
                kill_tree(&mut instance.child);
                let _ = instance.child.wait().await;
                return Attempt::InitTimedOut;
            }
        }
        // The invoke phase: until it answers, exits, or overruns its deadline.
        // Biased: an answer posted just before the process exits is the outcome, not a crash.
        let ends = deadline.unwrap_or_else(|| Instant::now() + self.spec.timeout);
        let outcome = tokio::select! {
            biased;
            r = reply_rx => r.unwrap_or_else(|_| Outcome::Crashed("the runtime API stopped".into())),
            status = instance.child.wait() => Outcome::Crashed(exit_report(status, &instance)),
            () = tokio::time::sleep_until(ends.into()) => {
                // As Lambda does: the whole sandbox goes; the next invocation starts cold.
                kill_tree(&mut instance.child);
                let _ = instance.child.wait().await;
                return Attempt::Done(Outcome::Timeout(self.spec.timeout));
            }
        };
        if !matches!(outcome, Outcome::Crashed(_)) {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(instance);
        }
        Attempt::Done(outcome)
    }
}
