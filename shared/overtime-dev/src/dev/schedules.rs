//! The schedules of both files: overtime.toml's as EventBridge Scheduler delivers them, and
//! vercel.json's crons as Vercel calls them, each on a route run as a vercel_runtime server.

use super::load::{dotenv, max_duration, route_binary};
use super::start::{Functions, Start};
use super::{DECLARATION, VERCEL_JSON, Vercel};
use crate::runtime::Function;
use crate::scheduler::{Target, Trigger};
use crate::vercel::{Route, RouteSpec};
use overtime::config::Declaration;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Seconds a Vercel drain route keeps to answer after its slice budget.
const VERCEL_ANSWER_MARGIN: u64 = 5;

/// overtime.toml's schedules whose function runs or whose queue is declared.
pub(super) fn declared(
    d: &Declaration,
    functions: &BTreeMap<String, Arc<Function>>,
) -> Vec<Trigger> {
    let mut triggers = Vec::new();
    for s in &d.schedules {
        let target = match &s.target {
            overtime::config::Target::Function(f) => match functions.get(f) {
                Some(f) => Target::Function(f.clone()),
                None => continue,
            },
            overtime::config::Target::Queue { queue, .. } => {
                let Some(q) = d.queues.iter().find(|q| &q.name == queue) else {
                    continue;
                };
                Target::Queue(q.sqs_name(&d.project.name))
            }
        };
        triggers.push(Trigger {
            name: s.name.clone(),
            file: DECLARATION,
            expression: s.schedule.expression().to_owned(),
            schedule: s.schedule.clone(),
            input: s.input(),
            target,
            enabled: s.enabled,
        });
    }
    triggers
}

impl Start<'_> {
    /// vercel.json's crons, one route per binary however many crons call it.
    pub(super) fn vercel_crons(
        &mut self,
        (v, raw): &Vercel,
        functions: &Functions,
        cron_secret: &str,
    ) -> Vec<Trigger> {
        let mut triggers = Vec::new();
        let dotenv = dotenv(&self.opts.root);
        let every_queue: Vec<(String, String)> = functions
            .env
            .values()
            .flatten()
            .filter(|(k, _)| k.starts_with("OVERTIME_QUEUE") || k.ends_with("_QUEUE_URL"))
            .cloned()
            .collect();
        let mut routes: HashMap<String, Arc<Route>> = HashMap::new();
        for c in &v.crons {
            let bin = route_binary(&c.path);
            let Some(binary) = self.binary(&bin, &c.path) else {
                continue;
            };
            let max = max_duration(raw, &c.path);
            let route = routes
                .entry(bin.clone())
                .or_insert_with(|| {
                    // A route gets the same-named function's variables, else every queue
                    // variable the declaration defines; then .env and .env.local.
                    let mut env = self.base_env.clone();
                    match functions.env.get(&bin) {
                        Some(e) => env.extend(e.iter().cloned()),
                        None => env.extend(every_queue.iter().cloned()),
                    }
                    if functions.any_runs {
                        env.push(("OVERTIME_RUN_STORE".into(), self.run_store.clone()));
                    }
                    env.push((
                        "OVERTIME_SLICE_BUDGET_SECS".into(),
                        max.as_secs()
                            .saturating_sub(VERCEL_ANSWER_MARGIN)
                            .max(1)
                            .to_string(),
                    ));
                    env.extend(dotenv.iter().cloned());
                    env.push(("CRON_SECRET".into(), cron_secret.to_owned()));
                    Route::new(
                        bin.clone(),
                        RouteSpec {
                            binary,
                            max_duration: max,
                            env,
                        },
                        self.log.clone(),
                    )
                })
                .clone();
            triggers.push(Trigger {
                name: c.path.clone(),
                file: VERCEL_JSON,
                expression: c.schedule.expression().to_owned(),
                schedule: c.schedule.clone(),
                input: String::new(),
                target: Target::Route(route),
                enabled: true,
            });
        }
        triggers
    }
}
