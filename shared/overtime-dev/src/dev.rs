//! `overtime dev`: reads the declarations, builds the function binaries and runs the whole
//! topology: the SQS endpoint, the queues, the functions behind the Lambda runtime API, the
//! event source mappings, both files' schedules and the dashboard.

use crate::build::{self, Built};
use crate::dynamo::Tables;
use crate::log::Log;
use crate::mapping::{self, MappingSpec};
use crate::runtime::{Function, FunctionSpec};
use crate::scheduler::{Scheduler, Target, Trigger};
use crate::sqs::{self, Sqs, rules};
use crate::vercel::{Route, RouteSpec};
use overtime::config::{Declaration, VercelConfig};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The declaration file, relative to the project root.
pub const DECLARATION: &str = "infra/overtime.toml";
/// Vercel's project file.
pub const VERCEL_JSON: &str = "vercel.json";
/// The run store's table, as functions name it (`OVERTIME_RUN_STORE=dynamodb:overtime-runs`);
/// it is the state directory's `runs.db`, which `overtime runs` reads.
pub const RUN_TABLE: &str = "overtime-runs";
/// How long a dead-letter queue keeps messages (SQS's maximum; as the template sets it).
const DEAD_LETTER_RETENTION_SECS: i64 = 1_209_600;
/// Vercel's default `maxDuration` (seconds) for a route vercel.json does not configure.
const VERCEL_DEFAULT_MAX_DURATION: u64 = 300;
/// Seconds a Vercel drain route keeps to answer after its slice budget.
const VERCEL_ANSWER_MARGIN: u64 = 5;

/// What `overtime dev` was asked for.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The project root (with `vercel.json` and/or `infra/overtime.toml`).
    pub root: PathBuf,
    /// Where the SQS endpoint (and dashboard) listen; loopback only.
    pub sqs_addr: SocketAddr,
    /// Where the SQLite files live.
    pub state: PathBuf,
    /// Serve the SQS endpoint only: no functions, mappings or schedules.
    pub endpoint_only: bool,
    /// Take prebuilt binaries from this folder instead of building them with cargo.
    pub binaries: Option<PathBuf>,
    /// Build with `--release`.
    pub release: bool,
    /// Most instances of one function at once (Lambda's is the account's 1,000).
    pub max_instances: usize,
    /// No line per invocation.
    pub quiet: bool,
    /// Before Lambda's first retry of a failed scheduled (asynchronous) invocation; the second
    /// waits twice as long.
    pub lambda_retry_delay: std::time::Duration,
}

/// Why `overtime dev` could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The address is not a loopback one.
    #[error("{0} is not a loopback address: overtime dev binds to 127.0.0.1 only")]
    NotLoopback(SocketAddr),
    /// A file or socket could not be opened.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("the queue store in {path}: {source}")]
    Store {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: sqs::SqsError,
    },
    /// A declaration has errors (each `file:line:col: error: …`).
    #[error("{0}\novertime dev did not start: fix the errors above")]
    Config(#[from] overtime::config::ConfigError),
    /// A declared queue could not be made.
    #[error("queue {name}: {source}")]
    Queue {
        /// The queue.
        name: String,
        /// Why.
        source: sqs::SqsError,
    },
    /// The run store could not be opened.
    #[error("the run store {0}")]
    RunStore(String),
    /// Neither file exists.
    #[error(
        "no {DECLARATION} or {VERCEL_JSON} in {0}: run overtime dev in a project, or pass --root"
    )]
    NoProject(PathBuf),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DevError {
    let what = what.into();
    move |source| DevError::Io { what, source }
}

/// The run store the functions share, opened once for the dashboard.
#[derive(Clone)]
pub struct RunStoreHandle {
    /// What the functions get in `OVERTIME_RUN_STORE`, and where the table is kept.
    pub spec: String,
    /// The store.
    pub store: Arc<dyn overtime::store::RunStore>,
}

impl std::fmt::Debug for RunStoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStoreHandle")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// The running topology, as the dashboard shows it.
#[derive(Debug)]
pub struct Topology {
    /// The queue service.
    pub sqs: Sqs,
    /// The functions, by name.
    pub functions: BTreeMap<String, Arc<Function>>,
    /// Functions or routes that could not be built, with why.
    pub broken: BTreeMap<String, String>,
    /// The schedules.
    pub scheduler: Option<Arc<Scheduler>>,
    /// Every invocation.
    pub log: Log,
    /// The run store, when any function declares `runs`.
    pub run_store: Option<RunStoreHandle>,
    /// The mappings, as (queue, function).
    pub mappings: Vec<(String, String)>,
}

/// `vercel.json`: its crons, and the whole file (for `functions.*.maxDuration`).
pub type Vercel = (VercelConfig, serde_json::Value);

/// Reads both files; `None` for a file that does not exist.
pub fn load(root: &Path) -> Result<(Option<Declaration>, Option<Vercel>), DevError> {
    let decl_path = root.join(DECLARATION);
    let declaration = if decl_path.exists() {
        let text = overtime::config::read_file(&decl_path)?;
        let (d, warnings) = Declaration::parse(DECLARATION, &text)?;
        for w in warnings {
            eprintln!("{w}");
        }
        Some(d)
    } else {
        None
    };
    let vercel_path = root.join(VERCEL_JSON);
    let vercel = if vercel_path.exists() {
        let text = overtime::config::read_file(&vercel_path)?;
        let (v, warnings) = VercelConfig::parse(VERCEL_JSON, &text)?;
        for w in warnings {
            eprintln!("{w}");
        }
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        Some((v, raw))
    } else {
        None
    };
    if declaration.is_none() && vercel.is_none() {
        return Err(DevError::NoProject(root.to_path_buf()));
    }
    Ok((declaration, vercel))
}

/// The binary a Vercel cron path runs: its last segment (`/api/cron/drain` → `drain`).
pub fn route_binary(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A route's `maxDuration` from vercel.json's `functions` globs (`api/cron/*.rs`).
fn max_duration(raw: &serde_json::Value, path: &str) -> Duration {
    let file = format!("{}.rs", path.trim_start_matches('/'));
    let secs = raw["functions"]
        .as_object()
        .and_then(|fns| {
            fns.iter()
                .find(|(glob, _)| glob_match(glob, &file))
                .and_then(|(_, f)| f["maxDuration"].as_u64())
        })
        .unwrap_or(VERCEL_DEFAULT_MAX_DURATION);
    Duration::from_secs(secs)
}

/// `*` matches within one path segment, `**` across them.
fn glob_match(glob: &str, path: &str) -> bool {
    fn go(g: &[u8], p: &[u8]) -> bool {
        match (g.first(), p.first()) {
            (None, None) => true,
            (Some(b'*'), _) if g.get(1) == Some(&b'*') => {
                (0..=p.len()).any(|i| go(&g[2..], &p[i..]))
            }
            (Some(b'*'), _) => (0..=p.len())
                .take_while(|&i| i == 0 || p[i - 1] != b'/')
                .any(|i| go(&g[1..], &p[i..])),
            (Some(a), Some(b)) if a == b => go(&g[1..], &p[1..]),
            _ => false,
        }
    }
    go(glob.as_bytes(), path.as_bytes())
}

/// `KEY=VALUE` lines of `.env.local` then `.env` (Vercel's `vercel env pull` files).
fn dotenv(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in [".env", ".env.local"] {
        let Ok(text) = std::fs::read_to_string(root.join(f)) else {
            continue;
        };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
                out.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
            }
        }
    }
    out
}

/// Runs until ctrl-c or SIGTERM.
pub async fn run(opts: DevOptions) -> Result<(), DevError> {
    if !opts.sqs_addr.ip().is_loopback() {
        return Err(DevError::NotLoopback(opts.sqs_addr));
    }
    // Declarations first: a bad one stops start-up before anything listens.
    let loaded = if opts.endpoint_only {
        None
    } else {
        Some(load(&opts.root)?)
    };
    std::fs::create_dir_all(&opts.state).map_err(io(format!("create {}", opts.state.display())))?;
    let listener = tokio::net::TcpListener::bind(opts.sqs_addr)
        .await
        .map_err(io(format!("listen on {}", opts.sqs_addr)))?;
    let addr = listener
        .local_addr()
        .map_err(io("read the bound address"))?;
    let base = format!("http://{addr}");
    let db = opts.state.join("sqs.db");
    let sqs = Sqs::open(&db, &base).map_err(|source| DevError::Store { path: db, source })?;
    let log = Log::new(opts.quiet);
    let tables = Arc::new(Tables::new(
        opts.state.join("tables"),
        [(RUN_TABLE.to_owned(), opts.state.join("runs.db"))],
    ));
    let topology = match loaded {
        None => Topology {
            sqs: sqs.clone(),
            functions: BTreeMap::new(),
            broken: BTreeMap::new(),
            scheduler: None,
            log: log.clone(),
            run_store: None,
            mappings: Vec::new(),
        },
        Some((declaration, vercel)) => {
            start(
                &opts,
                &sqs,
                &log,
                &tables,
                declaration.as_ref(),
                vercel.as_ref(),
            )
            .await?
        }
    };
    let topology = Arc::new(topology);
    print_banner(&opts, &base, &topology).await;
    let app = sqs::router(sqs)
        .layer(axum::middleware::from_fn_with_state(
            tables,
            crate::dynamo::intercept,
        ))
        .merge(crate::dashboard::router(topology.clone()))
        .layer(axum::middleware::from_fn(crate::guard::loopback_only));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .into_future();
    tokio::pin!(serve);
    tokio::select! {
        served = &mut serve => return served.map_err(io("serve")),
        () = overtime::worker::shutdown_signal() => {}
    }
    // Requests being answered get a moment; a long poll (up to 20 s) is not waited for, and
    // the functions, which have a process group of their own and so no Ctrl-C from the
    // terminal, are killed with everything they started as the runtime drops them.
    println!("overtime dev: stopping");
    let _ = stop.send(());
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, serve).await;
    Ok(())
}

/// How long a stop waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

async fn start(
    opts: &DevOptions,
    sqs: &Sqs,
    log: &Log,
    tables: &Tables,
    declaration: Option<&Declaration>,
    vercel: Option<&Vercel>,
) -> Result<Topology, DevError> {
    // Which binaries: every declared function's, and every cron route's.
    let mut wanted: Vec<String> = Vec::new();
    if let Some(d) = declaration {
        wanted.extend(d.functions.iter().map(|f| f.binary.clone()));
    }
    if let Some((v, _)) = vercel {
        wanted.extend(v.crons.iter().map(|c| route_binary(&c.path)));
    }
    wanted.sort();
    wanted.dedup();
    let Built { binaries, failed } = match &opts.binaries {
        Some(dir) => build::prebuilt(dir, &wanted),
        None => build::cargo_build(&opts.root, &wanted, opts.release).await,
    };
    for (bin, why) in &failed {
        eprintln!("overtime dev: {bin} is not available and will not run: {why}");
    }

    // Queues, as the template declares them: `<project>-<name>` with a `-dlq`.
    let mut queue_urls: HashMap<String, String> = HashMap::new();
    if let Some(d) = declaration {
        for q in &d.queues {
            let name = q.sqs_name(&d.project.name);
            let dlq = q.dead_letter_name(&d.project.name);
            let mut dlq_attrs = BTreeMap::from([(
                "MessageRetentionPeriod".to_string(),
                DEAD_LETTER_RETENTION_SECS.to_string(),
            )]);
            let mut attrs = BTreeMap::from([
                (
                    "VisibilityTimeout".to_string(),
                    q.visibility_timeout.to_string(),
                ),
                ("DelaySeconds".to_string(), q.delay.to_string()),
                (
                    "RedrivePolicy".to_string(),
                    serde_json::json!({
                        "deadLetterTargetArn": rules::queue_arn(&dlq),
                        "maxReceiveCount": q.max_receives,
                    })
                    .to_string(),
                ),
            ]);
            if q.fifo {
                for a in [&mut attrs, &mut dlq_attrs] {
                    a.insert("FifoQueue".into(), "true".into());
                    a.insert("ContentBasedDeduplication".into(), "true".into());
                }
            }
            ensure_queue(sqs, &dlq, dlq_attrs).await?;
            let url = ensure_queue(sqs, &name, attrs).await?;
            queue_urls.insert(q.name.clone(), url);
        }
    }

    // The environment every function gets: the standard AWS configuration, pointed here.
    let base_env = vec![
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
        ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
    ];
    // Functions open the run store as they do on AWS (`dynamodb:TABLE`, answered by this
    // endpoint), so no Lambda binary links SQLite to run here.
    let run_store = format!("dynamodb:{RUN_TABLE}");
    let mut function_env: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut functions = BTreeMap::new();
    let mut broken: BTreeMap<String, String> = BTreeMap::new();
    let mut any_runs = false;
    if let Some(d) = declaration {
        for f in &d.functions {
            let mut env = base_env.clone();
            for (var, queue) in &f.queues {
                if let Some(url) = queue_urls.get(queue) {
                    env.push((var.clone(), url.clone()));
                }
            }
            if f.runs {
                any_runs = true;
                env.push(("OVERTIME_RUN_STORE".into(), run_store.clone()));
            }
            env.extend(f.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
            function_env.insert(f.name.clone(), env.clone());
            let Some(binary) = binaries.get(&f.binary) else {
                broken.insert(
                    f.name.clone(),
                    failed
                        .get(&f.binary)
                        .cloned()
                        .unwrap_or_else(|| "not built".into()),
                );
                continue;
            };
            // A mapping's max_concurrency limits that mapping's pollers (mapping.rs), not the
            // function: on Lambda two mappings of 2 and 5 run 7 at once, and other invokers
            // are not limited by either. Locally a function runs up to --max-instances.
            let spec = FunctionSpec {
                name: f.name.clone(),
                binary: binary.clone(),
                timeout: Duration::from_secs(f.timeout.into()),
                memory: f.memory,
                env,
                concurrency: opts.max_instances.max(1),
                init_timeout: crate::runtime::INIT_TIMEOUT,
            };
            functions.insert(f.name.clone(), Function::new(spec, log.clone()));
        }
    }

    // Event source mappings.
    let mut mappings = Vec::new();
    if let Some(d) = declaration {
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
    }

    // Schedules: overtime.toml's as EventBridge Scheduler delivers them, vercel.json's as
    // Vercel's cron calls them.
    let cron_secret = std::env::var("CRON_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let mut triggers = Vec::new();
    if let Some(d) = declaration {
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
    }
    if let Some((v, raw)) = vercel {
        let dotenv = dotenv(&opts.root);
        let every_queue: Vec<(String, String)> = function_env
            .values()
            .flatten()
            .filter(|(k, _)| k.starts_with("OVERTIME_QUEUE") || k.ends_with("_QUEUE_URL"))
            .cloned()
            .collect();
        let mut routes: HashMap<String, Arc<Route>> = HashMap::new();
        for c in &v.crons {
            let bin = route_binary(&c.path);
            let Some(binary) = binaries.get(&bin) else {
                broken.insert(
                    c.path.clone(),
                    failed
                        .get(&bin)
                        .cloned()
                        .unwrap_or_else(|| "not built".into()),
                );
                continue;
            };
            let max = max_duration(raw, &c.path);
            let route = routes
                .entry(bin.clone())
                .or_insert_with(|| {
                    // A route gets the same-named function's variables, else every queue
                    // variable the declaration defines; then .env and .env.local.
                    let mut env = base_env.clone();
                    match function_env.get(&bin) {
                        Some(e) => env.extend(e.iter().cloned()),
                        None => env.extend(every_queue.iter().cloned()),
                    }
                    if any_runs {
                        env.push(("OVERTIME_RUN_STORE".into(), run_store.clone()));
                    }
                    env.push((
                        "OVERTIME_SLICE_BUDGET_SECS".into(),
                        max.as_secs()
                            .saturating_sub(VERCEL_ANSWER_MARGIN)
                            .max(1)
                            .to_string(),
                    ));
                    env.extend(dotenv.iter().cloned());
                    env.push(("CRON_SECRET".into(), cron_secret.clone()));
                    Route::new(
                        bin.clone(),
                        RouteSpec {
                            binary: binary.clone(),
                            max_duration: max,
                            env,
                        },
                        log.clone(),
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
    }
    let scheduler = Scheduler::new(triggers, sqs.clone(), cron_secret, opts.lambda_retry_delay);
    tokio::spawn(scheduler.clone().run());
    Ok(Topology {
        sqs: sqs.clone(),
        functions,
        broken,
        scheduler: Some(scheduler),
        log: log.clone(),
        run_store: match any_runs {
            true => Some(RunStoreHandle {
                store: tables
                    .store(RUN_TABLE)
                    .map_err(|e| DevError::RunStore(format!("{run_store}: {e}")))?,
                spec: format!("{run_store} (in {})", opts.state.join("runs.db").display()),
            }),
            false => None,
        },
        mappings,
    })
}

/// Creates a queue, or brings an existing one's attributes up to the declaration.
async fn ensure_queue(
    sqs: &Sqs,
    name: &str,
    attrs: BTreeMap<String, String>,
) -> Result<String, DevError> {
    let wrap = |source| DevError::Queue {
        name: name.to_owned(),
        source,
    };
    match sqs.get_queue_url(name).await {
        Ok(url) => {
            let mut settable = attrs;
            settable.remove("FifoQueue");
            sqs.set_attributes(name, settable).await.map_err(wrap)?;
            Ok(url)
        }
        Err(sqs::SqsError::QueueDoesNotExist) => sqs
            .create_queue(name, attrs, BTreeMap::new())
            .await
            .map_err(wrap),
        Err(e) => Err(wrap(e)),
    }
}

async fn print_banner(opts: &DevOptions, base: &str, t: &Topology) {
    println!("overtime dev");
    println!("  SQS endpoint   {base}   (AWS_ENDPOINT_URL_SQS={base})");
    println!("  dashboard      {base}/");
    println!("  state          {}", opts.state.display());
    if let Some(runs) = &t.run_store {
        println!("  run store      {}", runs.spec);
    }
    if let Ok(stats) = t.sqs.stats().await
        && !stats.is_empty()
    {
        println!("  queues");
        for q in stats {
            println!(
                "    {:<32} {} visible, {} in flight{}",
                q.name,
                q.visible,
                q.in_flight,
                q.dead_letter_queue
                    .map(|d| format!(", dead letters to {d}"))
                    .unwrap_or_default()
            );
        }
    }
    if !t.functions.is_empty() {
        println!("  functions (Lambda runtime API, killed at their timeout)");
        for (name, f) in &t.functions {
            let s = f.spec();
            println!(
                "    {:<20} timeout {:>3} s, up to {} at once   {}",
                name,
                s.timeout.as_secs(),
                s.concurrency,
                s.binary.display()
            );
        }
    }
    for (queue, function) in &t.mappings {
        println!("  mapping        {queue} -> {function}");
    }
    if let Some(s) = &t.scheduler {
        let now = chrono::Utc::now();
        for tr in s.triggers() {
            let next = tr.schedule.next_after(now).map_or("never".into(), |n| {
                n.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            });
            println!(
                "  schedule       {:<24} {:<24} -> {:<28} next {}{}",
                tr.name,
                tr.expression,
                tr.target_name(),
                next,
                if tr.enabled { "" } else { " (disabled)" }
            );
        }
    }
    for (name, why) in &t.broken {
        println!("  NOT RUNNING    {name}: {why}");
    }
    println!("ready");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vercel_globs_and_routes() {
        assert!(glob_match("api/cron/*.rs", "api/cron/drain.rs"));
        assert!(!glob_match("api/cron/*.rs", "api/cron/x/drain.rs"));
        assert!(glob_match("api/**/*.rs", "api/cron/x/drain.rs"));
        assert!(!glob_match("api/signup.rs", "api/cron/drain.rs"));
        assert_eq!(route_binary("/api/cron/drain"), "drain");
        let raw = serde_json::json!({"functions": {"api/cron/*.rs": {"maxDuration": 60}}});
        assert_eq!(
            max_duration(&raw, "/api/cron/drain"),
            Duration::from_secs(60)
        );
        assert_eq!(
            max_duration(&raw, "/api/other"),
            Duration::from_secs(VERCEL_DEFAULT_MAX_DURATION)
        );
    }
}
