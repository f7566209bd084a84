//! Flow control in the worker: a registered job's declaration, checked at start-up, applied
//! to each delivery before the job runs (wait, skip, or run holding slots), and the slots
//! renewed while it runs and given back when it ends.

use super::Worker;
use super::dispatch::{Delivery, Disposition};
use super::settle::DeadLetterKind;
use super::source::Source;
use crate::envelope::{ATTR_FLOW, RawEnvelope};
use crate::flow::gate::{self, Admission, Ask, Permit};
use crate::flow::plan::{Marks, Plan};
use crate::flow::{Flow, FlowError};
use crate::job::{Failure, Job, Kind};
use std::time::Duration;

/// Sub-second waits (SQS delays are whole seconds) slept in a row before the job is sent
/// again instead: bounds the time a delivery spends asking.
const MAX_SHORT_WAITS: usize = 4;

/// Why a delivery's plan could not be made.
pub(crate) enum PlanError {
    /// The payload is not the job's type.
    Payload(serde_json::Error),
    /// A key function failed on it.
    Key(FlowError),
}

type Planner = Box<dyn Fn(&str) -> Result<Plan, PlanError> + Send + Sync>;

/// A job's flow control, type-erased for the worker.
pub(crate) struct FlowSpec {
    plan: Planner,
    /// The controls in words.
    pub(crate) describe: Vec<String>,
    /// What is wrong with the declaration, if anything.
    pub(crate) check: Result<(), FlowError>,
    /// Whether a new run cancels the key's active one (so runs watch for it at each step).
    pub(crate) singleton_cancel: bool,
}

impl FlowSpec {
    /// `J`'s declaration, or `None` if it declares nothing.
    pub(crate) fn of<J: Job>() -> Option<Self> {
        let flow: Flow<J> = J::flow();
        if flow.is_empty() {
            return None;
        }
        let check = flow.check();
        let describe = flow.describe();
        let singleton_cancel = flow
            .singleton
            .as_ref()
            .is_some_and(|s| s.mode() == crate::flow::SingletonMode::Cancel);
        Some(Self {
            plan: Box::new(move |payload| {
                let job: J = serde_json::from_str(payload).map_err(PlanError::Payload)?;
                flow.plan(&job).map_err(PlanError::Key)
            }),
            describe,
            check,
            singleton_cancel,
        })
    }
}

impl<S: Send + Sync + 'static> Worker<S> {
    /// Refuses to start with a flow-control declaration that cannot work, or without the run
    /// store flow control keeps its state in; records the declarations for the dashboard.
    pub(crate) async fn check_flows(&self) -> Result<(), crate::ConfigError> {
        let mut declared: Vec<(&str, &FlowSpec)> = self
            .runners
            .iter()
            .filter_map(|(name, r)| r.flow.as_ref().map(|f| (*name, f)))
            .collect();
        declared.sort_by_key(|(name, _)| *name);
        for (job, spec) in &declared {
            if let Err(err) = &spec.check {
                return Err(crate::ConfigError::Flow {
                    job: (*job).to_owned(),
                    source: err.clone(),
                });
            }
            if self.store.is_none() {
                return Err(crate::ConfigError::FlowWithoutStore {
                    job: (*job).to_owned(),
                    controls: spec.describe.join("; "),
                });
            }
        }
        if let Some(store) = &self.store {
            for (job, spec) in declared {
                crate::flow::record::declare(&**store, &self.flow_states, job, &spec.describe)
                    .await;
            }
        }
        Ok(())
    }

    /// Judges a delivery of a flow-controlled job: `Ok` to run it holding the permit, `Err`
    /// with how the delivery already ended (sent again to wait, skipped, dead-lettered).
    pub(super) async fn admit_flow(
        &self,
        source: &Source,
        d: &Delivery,
        env: &RawEnvelope<'_>,
        spec: &FlowSpec,
        attempt: u32,
        holder: &str,
    ) -> Result<Permit, Disposition> {
        if let Err(err) = &spec.check {
            // Only a worker driven without `run`/`poll` gets here: fail with what to change.
            let reason = format!("flow control of job {} cannot work: {err}", env.job);
            return Err(self.fail_flow(source, d, attempt, reason).await);
        }
        let plan = match (spec.plan)(env.payload.get()) {
            Ok(plan) => plan,
            Err(PlanError::Payload(err)) => {
                let reason = format!("payload does not match job {}: {err}", env.job);
                return Err(self
                    .dead_letter(source, d, DeadLetterKind::Undecodable, &reason, attempt)
                    .await);
            }
            Err(PlanError::Key(err)) => {
                // The same payload panics the same way: retrying cannot help.
                let reason = format!("flow control: {err}");
                tracing::warn!(error = %reason, "job failed permanently");
                return Err(self
                    .dead_letter(source, d, DeadLetterKind::Permanent, &reason, attempt)
                    .await);
            }
        };
        let Some(store) = &self.store else {
            let reason = crate::ConfigError::FlowWithoutStore {
                job: env.job.to_string(),
                controls: spec.describe.join("; "),
            }
            .to_string();
            return Err(self.fail_flow(source, d, attempt, reason).await);
        };
        let mut marks = Marks::parse(d.attribute(ATTR_FLOW));
        for _ in 0..MAX_SHORT_WAITS {
            let ask = Ask {
                job: &env.job,
                holder,
                job_id: &env.id,
                attempt,
                marks: marks.clone(),
                payload: env.payload.get(),
                sent_ms: d.sent_ms,
            };
            let admission = match gate::admit(&**store, &self.flow_states, &plan, &ask).await {
                Ok(admission) => admission,
                Err(err) => {
                    let reason = format!("flow control could not use the run store: {err}");
                    return Err(self.fail_flow(source, d, attempt, reason).await);
                }
            };
            match admission {
                Admission::Run(permit) => return Ok(permit),
                Admission::Defer {
                    delay,
                    marks: next,
                    why,
                } if delay < Duration::from_secs(1) => {
                    tracing::debug!(
                        wait_ms = delay.as_millis(),
                        reason = why,
                        "flow control: starting shortly"
                    );
                    tokio::time::sleep(delay).await;
                    marks = next;
                }
                Admission::Defer {
                    delay,
                    marks: next,
                    why,
                } => {
                    tracing::info!(
                        wait_s = delay.as_secs_f64(),
                        reason = why,
                        "flow control: waiting; sent again to come back then"
                    );
                    return Err(self
                        .hop_flow(source, d, delay, &next.render(), (attempt, env.attempt))
                        .await);
                }
                Admission::Skip => return Err(Disposition::Succeeded),
                Admission::Superseded { why } => {
                    tracing::info!(reason = why, "flow control: superseded; not run");
                    return Err(Disposition::Succeeded);
                }
            }
        }
        let again = Duration::from_secs(1);
        Err(self
            .hop_flow(source, d, again, &marks.render(), (attempt, env.attempt))
            .await)
    }

    /// Fails a delivery flow control could not judge: retried, and dead-lettered with the
    /// reason when out of attempts.
    async fn fail_flow(
        &self,
        source: &Source,
        d: &Delivery,
        attempt: u32,
        reason: String,
    ) -> Disposition {
        Box::pin(self.fail_or_exhaust(
            source,
            d,
            (attempt, source.max_attempts),
            Kind::Failed(Failure::Retry(None)),
            reason,
        ))
        .await
    }

    /// Runs `work` holding `permit`'s slots, renewing them every third of their lease.
    pub(super) async fn holding<T>(&self, permit: &Permit, work: impl Future<Output = T>) -> T {
        let Some(store) = self.store.as_ref().filter(|_| permit.holds_slots()) else {
            return work.await;
        };
        let renew = async {
            loop {
                tokio::time::sleep(permit.lease() / 3).await;
                if !permit.renew(&**store, &self.flow_states).await {
                    tracing::warn!(
                        "a flow-control slot's lease ran out while the job ran; another job may have taken it"
                    );
                }
            }
        };
        tokio::pin!(work);
        tokio::pin!(renew);
        match futures_util::future::select(work, renew).await {
            futures_util::future::Either::Left((out, _)) => out,
            futures_util::future::Either::Right(((), work)) => work.await,
        }
    }

    /// Gives the slots back when a run ends; a chunked run that goes on to its next slice
    /// keeps them (its next slice renews them).
    pub(super) async fn end_flow(&self, permit: Permit, continues: bool) {
        let Some(store) = self
            .store
            .as_ref()
            .filter(|_| permit.holds_slots() && !continues)
        else {
            return;
        };
        permit.release(&**store, &self.flow_states).await;
    }
}

#[cfg(test)]
mod tests {
    use crate::flow::{Flow, Throttle};
    use crate::{Job, JobContext, JobResult, Worker};
    use serde::{Deserialize, Serialize};
    use std::time::Duration;

    #[derive(Serialize, Deserialize)]
    struct Zero;

    impl Job for Zero {
        const NAME: &'static str = "zero";
        type State = ();
        async fn run(self, _: JobContext<()>) -> JobResult {
            Ok(())
        }
        fn flow() -> Flow<Self> {
            Flow::new().throttle(Throttle::new(0, Duration::from_secs(1)))
        }
    }

    #[tokio::test]
    async fn a_worker_with_a_bad_declaration_or_no_store_refuses_to_start() {
        let no_store = Worker::new().job::<Zero>();
        let err = no_store.check_flows().await.map_err(|e| e.to_string());
        assert!(
            err.as_ref()
                .is_err_and(|e| e.contains("job \"zero\"") && e.contains("the limit is 0")),
            "{err:?}"
        );
        #[derive(Serialize, Deserialize)]
        struct Fine;
        impl Job for Fine {
            const NAME: &'static str = "fine";
            type State = ();
            async fn run(self, _: JobContext<()>) -> JobResult {
                Ok(())
            }
            fn flow() -> Flow<Self> {
                Flow::new().throttle(Throttle::new(1, Duration::from_secs(1)))
            }
        }
        let err = Worker::new().job::<Fine>().check_flows().await;
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_string().contains("set OVERTIME_RUN_STORE")),
            "{err:?}"
        );
        let store = std::sync::Arc::new(crate::store::MemoryStore::new());
        let ok = Worker::new().job::<Fine>().store(store.clone());
        assert!(ok.check_flows().await.is_ok());
        let declared = crate::flow::declared(&*store).await.unwrap_or_default();
        assert_eq!(declared["fine"], ["throttle: 1 per 1s, burst 0 (delayed)"]);
    }
}
