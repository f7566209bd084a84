//! Starting the topology the declarations describe: the binaries built, the queues made, then
//! the functions with their environment, their event source mappings and the schedules.

use super::load::route_binary;
use super::{DevError, DevOptions, RUN_TABLE, RunStoreHandle, Topology, Vercel};
use super::{queues, schedules};
use crate::build::{self, Built};
use crate::dynamo::Tables;
use crate::log::Log;
use crate::mapping::{self, MappingSpec};
use crate::runtime::{Function, FunctionSpec};
use crate::scheduler::Scheduler;
use crate::sqs::{Sqs, rules};
use overtime::config::Declaration;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the parts of the topology start from, and what could not start.
pub(super) struct Start<'a> {
    pub(super) opts: &'a DevOptions,
    pub(super) log: &'a Log,
    built: Built,
    /// The environment every function gets: the standard AWS configuration, pointed here.
    pub(super) base_env: Vec<(String, String)>,
    /// What functions that declare `runs` get in `OVERTIME_RUN_STORE`.
    pub(super) run_store: String,
    /// Functions or routes that could not be built, with why.
    broken: BTreeMap<String, String>,
}

/// The declared functions, and the environment each was given.
#[derive(Default)]
pub(super) struct Functions {
    /// By name.
    pub(super) by_name: BTreeMap<String, Arc<Function>>,
    /// Each function's environment, built or not.
    pub(super) env: HashMap<String, Vec<(String, String)>>,
    /// Some function declares `runs`.
    pub(super) any_runs: bool,
}

/// Starts what the declarations describe, on the endpoint's queues (`sqs`) and tables; the
/// topology, as the dashboard shows it.
pub(super) async fn start(
    opts: &DevOptions,
    sqs: &Sqs,
    log: &Log,
    tables: &Tables,
    declaration: Option<&Declaration>,
    vercel: Option<&Vercel>,
) -> Result<Topology, DevError> {
    let built = build_binaries(opts, declaration, vercel).await;
    let queue_urls = match declaration {
        Some(d) => queues::declare(sqs, d).await?,
        None => HashMap::new(),
    };
    let mut start = Start {
        opts,
        log,
        built,
        base_env: base_env(sqs),
        // Functions open the run store as they do on AWS (`dynamodb:TABLE`, answered by this
        // endpoint), so no Lambda binary links SQLite to run here.
        run_store: format!("dynamodb:{RUN_TABLE}"),
        broken: BTreeMap::new(),
    };
    let functions = match declaration {
        Some(d) => start.functions(d, &queue_urls),
        None => Functions::default(),
    };
    let mappings = match declaration {
        Some(d) => start_mappings(sqs, d, &functions.by_name),
        None => Vec::new(),
    };

    // Schedules: overtime.toml's as EventBridge Scheduler delivers them, vercel.json's as
    // Vercel's cron calls them.
    let cron_secret = std::env::var("CRON_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let mut triggers = match declaration {
        Some(d) => schedules::declared(d, &functions.by_name),
        None => Vec::new(),
    };
    if let Some(vercel) = vercel {
        triggers.extend(start.vercel_crons(vercel, &functions, &cron_secret));
    }
    let scheduler = Scheduler::new(triggers, sqs.clone(), cron_secret, opts.lambda_retry_delay);
    tokio::spawn(scheduler.clone().run());
    let run_store = &start.run_store;
    Ok(Topology {
        sqs: sqs.clone(),
        functions: functions.by_name,
        broken: start.broken,
        scheduler: Some(scheduler),
        log: log.clone(),
        run_store: match functions.any_runs {
            true => Some(RunStoreHandle {
                store: tables
                    .store(RUN_TABLE)
                    .map_err(|e| DevError::RunStore(format!("{run_store}: {e}")))?,
                spec: format!("{run_store} (in {})", opts.state.join("runs.db").display()),
            }),
            false => None,
        },
        mappings,
        events: None,
    })
}

/// Builds (or finds, with `--binaries`) every declared function's binary and every cron
/// route's, saying which are not available.
async fn build_binaries(
    opts: &DevOptions,
    declaration: Option<&Declaration>,
    vercel: Option<&Vercel>,
) -> Built {
    let mut wanted: Vec<String> = Vec::new();
    if let Some(d) = declaration {
        wanted.extend(d.functions.iter().map(|f| f.binary.clone()));
    }
    if let Some((v, _)) = vercel {
        wanted.extend(v.crons.iter().map(|c| route_binary(&c.path)));
    }
    wanted.sort();
    wanted.dedup();
    let built = match &opts.binaries {
        Some(dir) => build::prebuilt(dir, &wanted),
        None => build::cargo_build(&opts.root, &wanted, opts.release).await,
    };
    for (bin, why) in &built.failed {
        eprintln!("overtime dev: {bin} is not available and will not run: {why}");
    }
    built
}

/// The standard AWS configuration, pointed at this endpoint.
fn base_env(sqs: &Sqs) -> Vec<(String, String)> {
    vec![
        ("AWS_REGION".to_string(), rules::REGION.to_string()),
        ("AWS_DEFAULT_REGION".to_string(), rules::REGION.to_string()),
        ("AWS_ACCESS_KEY_ID".to_string(), "overtime-dev".to_string()),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            "overtime-dev".to_string(),
        ),
        (
            "AWS_ENDPOINT_URL_SQS".to_string(),
            sqs.base_url().to_string(),
        ),
        (
            "AWS_ENDPOINT_URL_DYNAMODB".to_string(),
            sqs.base_url().to_string(),
        ),
        (
            "AWS_ENDPOINT_URL_EVENTBRIDGE".to_string(),
            sqs.base_url().to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
    ]
}

impl Start<'_> {
    /// The built binary `bin`, or `None` with `name` noted as not running.
    pub(super) fn binary(&mut self, bin: &str, name: &str) -> Option<PathBuf> {
        if let Some(binary) = self.built.binaries.get(bin) {
            return Some(binary.clone());
        }
        self.broken.insert(
            name.to_owned(),
            self.built
                .failed
                .get(bin)
                .cloned()
                .unwrap_or_else(|| "not built".into()),
        );
        None
    }

    /// The declared functions, each with the base environment, its queues' URLs, the run
    /// store if it declares `runs`, and its declared variables.
    fn functions(&mut self, d: &Declaration, queue_urls: &HashMap<String, String>) -> Functions {
        let mut functions = Functions::default();
        for f in &d.functions {
            let mut env = self.base_env.clone();
            for (var, queue) in &f.queues {
                if let Some(url) = queue_urls.get(queue) {
                    env.push((var.clone(), url.clone()));
                }
            }
            if f.events {
                env.push((overtime::env::EVENT_BUS.into(), d.bus_name()));
            }
            if f.runs {
                functions.any_runs = true;
                env.push(("OVERTIME_RUN_STORE".into(), self.run_store.clone()));
            }
            env.extend(f.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
            functions.env.insert(f.name.clone(), env.clone());
            let Some(binary) = self.binary(&f.binary, &f.name) else {
                continue;
            };
            // A mapping's max_concurrency limits that mapping's pollers (mapping.rs), not the
            // function: on Lambda two mappings of 2 and 5 run 7 at once, and other invokers
            // are not limited by either. Locally a function runs up to --max-instances.
            let spec = FunctionSpec {
                name: f.name.clone(),
                binary,
                timeout: Duration::from_secs(f.timeout.into()),
                memory: f.memory,
                env,
                concurrency: self.opts.max_instances.max(1),
                init_timeout: crate::runtime::INIT_TIMEOUT,
            };
            functions
                .by_name
                .insert(f.name.clone(), Function::new(spec, self.log.clone()));
        }
        functions
    }
}

/// Starts the declared event source mappings of the functions that run; (queue, function)
/// of each.
fn start_mappings(
    sqs: &Sqs,
    d: &Declaration,
    functions: &BTreeMap<String, Arc<Function>>,
) -> Vec<(String, String)> {
    let mut mappings = Vec::new();
    for m in &d.mappings {
        let (Some(function), Some(q)) = (
            functions.get(&m.function),
            d.queues.iter().find(|q| q.name == m.queue),
        ) else {
            continue;
        };
        let spec = MappingSpec {
            queue: q.sqs_name(&d.project.name),
            batch_size: m.batch_size,
            batching_window: Duration::from_secs(m.batching_window.into()),
            max_concurrency: m.max_concurrency,
            report_batch_item_failures: true,
        };
        mappings.push((spec.queue.clone(), m.function.clone()));
        tokio::spawn(mapping::run(sqs.clone(), spec, function.clone()));
    }
    mappings
}
