//! `overtime`: the command line for overtime's schedules, infrastructure and queues.
//!
//! Talks to AWS or any compatible endpoint through the standard AWS configuration
//! (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SQS`).

mod dlq;
mod events;
mod infra;
mod runs;
mod schedules;
mod sync;
mod yaml;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use overtime::config::Declaration;
use overtime::schedule::Dialect;
use overtime::{Message, Queue};

/// Background jobs for serverless Rust.
#[derive(Parser)]
#[command(name = "overtime", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole topology on this machine: an SQS endpoint on SQLite, the functions
    /// through the Lambda runtime API with their real timeouts, the event source mappings,
    /// both files' schedules and a dashboard. Binds to 127.0.0.1 only.
    Dev {
        /// Where the SQS endpoint and the dashboard listen.
        #[arg(long, default_value = "127.0.0.1:9324")]
        sqs_addr: std::net::SocketAddr,
        /// Where the SQLite files live (default: .overtime/ in the project).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Serve only the SQS endpoint: no functions, mappings or schedules.
        #[arg(long)]
        endpoint_only: bool,
        /// Use the prebuilt function binaries in this folder instead of running cargo build.
        #[arg(long)]
        binaries: Option<PathBuf>,
        /// Build the functions with --release.
        #[arg(long)]
        release: bool,
        /// Most instances of one function at once.
        #[arg(long, default_value_t = 10)]
        max_instances: usize,
        /// No line per invocation.
        #[arg(long)]
        quiet: bool,
        /// Seconds before Lambda retries a failed scheduled (asynchronous) invocation; the
        /// second retry waits twice as long. Lambda's is about a minute.
        #[arg(long, default_value_t = 60)]
        lambda_retry_delay: u64,
        /// The project directory (default: the nearest one upwards with vercel.json or
        /// infra/overtime.toml).
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Fire a schedule of a running `overtime dev` now: an infra/overtime.toml schedule
    /// name or a vercel.json cron path.
    Trigger {
        /// The schedule (`cleanup`, `/api/cron/drain`).
        schedule: String,
        /// Where `overtime dev` listens.
        #[arg(long, default_value = "127.0.0.1:9324")]
        sqs_addr: std::net::SocketAddr,
    },
    /// Check, preview and deploy schedules.
    Schedules {
        #[command(subcommand)]
        command: SchedulesCommand,
    },
    /// Generate the AWS infrastructure from infra/overtime.toml.
    Infra {
        #[command(subcommand)]
        command: InfraCommand,
    },
    /// Durable runs: progress, details, cancellation.
    Runs {
        /// The run store: sqlite:PATH or dynamodb:TABLE (default: $OVERTIME_RUN_STORE, else
        /// sqlite:.overtime/runs.db).
        #[arg(long, global = true)]
        store: Option<String>,
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Send one job to a queue.
    ///
    /// JSON is {"job": NAME, "payload": …} with optional "key" (idempotency key),
    /// "delay_seconds" and "group" (FIFO message group).
    Send {
        /// The queue: its URL, or its name.
        queue: String,
        /// The job, as JSON.
        json: String,
    },
    /// Read and redrive dead letters.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Send events to the project's event bus.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Send one event: every job listening to NAME runs with JSON as its payload.
    Send {
        /// The event's name (`user.signed_up`).
        name: String,
        /// Its payload, as JSON.
        json: String,
        /// Its id, the listeners' idempotency key (default: a new UUID).
        #[arg(long)]
        id: Option<String>,
        /// The bus: its name or ARN (default: $OVERTIME_EVENT_BUS).
        #[arg(long)]
        bus: Option<String>,
    },
}

#[derive(Subcommand)]
enum SchedulesCommand {
    /// Check every schedule in vercel.json and infra/overtime.toml; prints
    /// `file:line:col: severity: message` per problem and exits 1 on any error.
    Check {
        /// The project directory (default: the nearest one upwards with either file).
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Print the next fire times of an expression, one RFC 3339 UTC timestamp per line.
    ///
    /// An invalid expression exits 2 with the reason.
    Next {
        /// A Vercel (`0 5 * * *`) or EventBridge (`cron(…)`, `rate(…)`, `at(…)`) expression.
        expression: String,
        /// The dialect (default: eventbridge for cron(…)/rate(…)/at(…), vercel otherwise).
        #[arg(long)]
        dialect: Option<Dialect>,
        /// Start after this instant (RFC 3339; default: now). A rate(…) counts from here.
        #[arg(long)]
        from: Option<DateTime<Utc>>,
        /// How many fire times.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// The IANA time zone the expression is evaluated in (EventBridge only).
        #[arg(long)]
        tz: Option<String>,
    },
    /// Make the EventBridge Scheduler schedules of overtime's schedule group equal to
    /// infra/overtime.toml, printing the diff. Touches nothing outside that group.
    Sync {
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The schedule group overtime owns (default: the project name).
        #[arg(long)]
        group: Option<String>,
        /// The role schedules run as (default: the template's `<project>-scheduler`).
        #[arg(long)]
        role_arn: Option<String>,
        /// The project directory (default: the nearest one upwards with infra/overtime.toml).
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// The most recent runs, newest first: status, slices, items, elapsed time, error.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per run.
        #[arg(long)]
        json: bool,
    },
    /// One run in full.
    Show {
        /// The run id (its first slice's job id).
        run: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask a run to stop: its next slice marks it cancelled.
    Cancel {
        /// The run id.
        run: String,
    },
}

#[derive(Subcommand)]
enum InfraCommand {
    /// Write infra/template.yaml (AWS SAM) from infra/overtime.toml.
    Render {
        /// Exit 1 if infra/template.yaml differs from a fresh render, writing nothing.
        #[arg(long)]
        check: bool,
        /// Print the template instead of writing it.
        #[arg(long, conflicts_with = "check")]
        stdout: bool,
        /// The project directory (default: the nearest one upwards with infra/overtime.toml).
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List the dead letters of QUEUE (its redrive target, or QUEUE itself if it has none),
    /// with why each one is there. Messages stay where they are.
    List {
        /// The queue: its URL, or its name.
        queue: String,
        /// Print one JSON object per message instead of text.
        #[arg(long)]
        json: bool,
        /// List at most this many.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Move every dead letter of QUEUE back to QUEUE, for a fresh set of attempts.
    Redrive {
        /// The source queue: its URL, or its name.
        queue: String,
    },
}

/// What went wrong, in words that say what to fix.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("invalid job JSON: {0}; expected {{\"job\": NAME, \"payload\": …}}")]
    Json(String),
    #[error(transparent)]
    Send(#[from] overtime::SendError),
    #[error(transparent)]
    Sqs(#[from] overtime::SqsError),
    #[error("{0}")]
    Config(#[from] overtime::config::ConfigError),
    #[error(transparent)]
    Sync(#[from] sync::SyncError),
    #[error(transparent)]
    Runs(#[from] runs::RunsError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Drift(String),
    #[error(transparent)]
    Dev(#[from] overtime_dev::dev::DevError),
    #[error(transparent)]
    Events(#[from] events::EventsError),
}

/// mimalloc, not glibc's allocator: `overtime dev` serves many small requests from several
/// threads, and a third of its CPU under PutEvents load was glibc's malloc and free
/// (BENCHMARKS.md, "EventBridge").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `overtime dev` serves everything from one thread: its work is short requests and
    // waiting on processes, and a second worker thread only added cross-core wake-ups (its
    // SQS endpoint measured 15-30% faster at receive+delete, for 15% less CPU, on one).
    let runtime = if matches!(cli.command, Command::Dev { .. }) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(overtime_dev::sqs::on_park)
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("error: start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Dev {
            sqs_addr,
            state,
            endpoint_only,
            binaries,
            release,
            max_instances,
            quiet,
            lambda_retry_delay,
            root,
        } => {
            let root = schedules::find_root(root);
            let opts = overtime_dev::dev::DevOptions {
                state: state.unwrap_or_else(|| root.join(".overtime")),
                root,
                sqs_addr,
                endpoint_only,
                binaries,
                release,
                max_instances,
                quiet,
                lambda_retry_delay: std::time::Duration::from_secs(lambda_retry_delay),
            };
            overtime_dev::dev::run(opts).await.map_err(CliError::from)
        }
        Command::Trigger { schedule, sqs_addr } => {
            match overtime_dev::dashboard::fire(sqs_addr, &schedule).await {
                Ok(outcome) => {
                    println!("{schedule}: {outcome}");
                    Ok(())
                }
                Err(e) => Err(CliError::Io(format!("{schedule}: {e}"))),
            }
        }
        Command::Schedules { command } => match command {
            SchedulesCommand::Check { root } => {
                return schedules::check(&schedules::find_root(root), Utc::now());
            }
            SchedulesCommand::Next {
                expression,
                dialect,
                from,
                count,
                tz,
            } => return schedules::next(&expression, dialect, from, count, tz.as_deref()),
            SchedulesCommand::Sync {
                dry_run,
                group,
                role_arn,
                root,
            } => schedules_sync(root, group, role_arn.as_deref(), dry_run).await,
        },
        Command::Infra {
            command:
                InfraCommand::Render {
                    check,
                    stdout,
                    root,
                },
        } => render(root, check, stdout),
        Command::Runs { store, command } => runs_command(store, command).await,
        Command::Send { queue, json } => {
            let client = overtime::queue::sqs_client_from_env().await;
            send(&client, &queue, &json).await
        }
        Command::Events {
            command:
                EventsCommand::Send {
                    name,
                    json,
                    id,
                    bus,
                },
        } => events::send(&name, &json, id, bus)
            .await
            .map_err(CliError::from),
        Command::Dlq { command } => {
            let client = overtime::queue::sqs_client_from_env().await;
            match command {
                DlqCommand::List { queue, json, max } => {
                    dlq::list(&client, &queue, json, max).await
                }
                DlqCommand::Redrive { queue } => dlq::redrive(&client, &queue).await,
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn runs_command(store: Option<String>, command: RunsCommand) -> Result<(), CliError> {
    let store = runs::open(store).await?;
    match command {
        RunsCommand::List { limit, json } => runs::list(&*store, limit, json).await?,
        RunsCommand::Show { run, json } => runs::show(&*store, &run, json).await?,
        RunsCommand::Cancel { run } => runs::cancel(&*store, &run).await?,
    }
    Ok(())
}

fn load_declaration(root: &std::path::Path) -> Result<Declaration, CliError> {
    let shown = schedules::shown(root, schedules::DECLARATION);
    let text = std::fs::read_to_string(root.join(schedules::DECLARATION))
        .map_err(|e| CliError::Io(format!("cannot read {}: {e}", shown.display())))?;
    let (declaration, warnings) = Declaration::parse(&shown, &text)?;
    for w in warnings {
        eprintln!("{w}");
    }
    Ok(declaration)
}

async fn schedules_sync(
    root: Option<PathBuf>,
    group: Option<String>,
    role: Option<&str>,
    dry_run: bool,
) -> Result<(), CliError> {
    let declaration = load_declaration(&schedules::find_root(root))?;
    let group = group.unwrap_or_else(|| declaration.project.name.clone());
    let changes = sync::sync(&declaration, &group, role, dry_run).await?;
    let verb = if dry_run { "would change" } else { "changed" };
    eprintln!("schedule group {group}: {verb} {changes}");
    Ok(())
}

fn render(root: Option<PathBuf>, check: bool, stdout: bool) -> Result<(), CliError> {
    let root = schedules::find_root(root);
    let declaration = load_declaration(&root)?;
    let template = infra::render(&declaration, schedules::DECLARATION);
    let path = root.join("infra/template.yaml");
    let shown = schedules::shown(&root, "infra/template.yaml");
    if stdout {
        print!("{template}");
    } else if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != template {
            return Err(CliError::Drift(format!(
                "{} differs from a fresh render of {}: run `overtime infra render` and commit the result",
                shown.display(),
                schedules::DECLARATION
            )));
        }
        eprintln!("{} is up to date", shown.display());
    } else {
        std::fs::write(&path, template)
            .map_err(|e| CliError::Io(format!("cannot write {}: {e}", shown.display())))?;
        eprintln!("wrote {}", shown.display());
    }
    Ok(())
}

async fn send(client: &aws_sdk_sqs::Client, queue: &str, json: &str) -> Result<(), CliError> {
    let spec: serde_json::Value =
        serde_json::from_str(json).map_err(|e| CliError::Json(e.to_string()))?;
    let job = spec["job"]
        .as_str()
        .ok_or_else(|| CliError::Json("missing string field \"job\"".into()))?;
    let payload = spec
        .get("payload")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let mut message = Message::from_json(job.to_owned(), &payload.to_string())?;
    if let Some(key) = spec["key"].as_str() {
        message = message.idempotency_key(key);
    }
    if let Some(group) = spec["group"].as_str() {
        message = message.group(group);
    }
    if let Some(secs) = spec["delay_seconds"].as_u64() {
        message = message.delay(Duration::from_secs(secs));
    }
    let url = dlq::queue_url(client, queue).await?;
    let sent = Queue::new(client.clone(), url).send(message).await?;
    println!(
        "sent {job}: message {} (job id {})",
        sent.message_id, sent.job_id
    );
    Ok(())
}
