//! `overtime dev`: reads the declarations, builds the function binaries and runs the whole
//! topology: the SQS endpoint, the queues, the functions behind the Lambda runtime API, the
//! event source mappings, both files' schedules and the dashboard.
//!
//! - `load`: reading the declarations;
//! - `start`: starting what they declare, with `queues` making the queues and `schedules`
//!   both files' schedules;
//! - `banner`: what start-up prints.

mod banner;
mod load;
mod queues;
mod schedules;
mod start;

pub use load::{Vercel, load, route_binary};

use crate::dynamo::Tables;
use crate::events::Events;
use crate::log::Log;
use crate::runtime::Function;
use crate::scheduler::Scheduler;
use crate::sqs::{self, Sqs};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The declaration file, relative to the project root.
pub const DECLARATION: &str = "infra/overtime.toml";
/// Vercel's project file.
pub const VERCEL_JSON: &str = "vercel.json";
/// The run store's table, as functions name it (`OVERTIME_RUN_STORE=dynamodb:overtime-runs`);
/// it is the state directory's `runs.db`, which `overtime runs` reads.
pub const RUN_TABLE: &str = "overtime-runs";

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
    /// The EventBridge endpoint's state could not be opened, or the listeners set up.
    #[error("events: {0}")]
    Events(#[from] crate::events::EventsError),
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
    /// The EventBridge endpoint.
    pub events: Option<crate::events::Events>,
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
    let topology = match &loaded {
        None => Topology {
            sqs: sqs.clone(),
            functions: BTreeMap::new(),
            broken: BTreeMap::new(),
            scheduler: None,
            log: log.clone(),
            run_store: None,
            mappings: Vec::new(),
            events: None,
        },
        Some((declaration, vercel)) => {
            start::start(
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
    let events = Events::open(&opts.state.join("events.json"), sqs.clone())?
        .with_functions(&topology.functions);
    if let Some((Some(declaration), _)) = &loaded {
        events.declare(declaration)?;
    }
    tokio::spawn(events.clone().run_invocations(opts.lambda_retry_delay));
    let topology = Arc::new(Topology {
        events: Some(events.clone()),
        ..topology
    });
    banner::print_banner(&opts, &base, &topology).await;
    let app = sqs::router(sqs)
        .layer(axum::middleware::from_fn_with_state(
            tables,
            crate::dynamo::intercept,
        ))
        .layer(axum::middleware::from_fn_with_state(
            events,
            crate::events::intercept,
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
