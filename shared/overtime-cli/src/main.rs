//! `overtime`: the command line for overtime's queues.
//!
//! Talks to AWS or any SQS-compatible endpoint through the standard AWS configuration
//! (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL_SQS`).

mod dlq;

use clap::{Parser, Subcommand};
use overtime::{Message, Queue};
use std::process::ExitCode;
use std::time::Duration;

/// Background jobs for serverless Rust.
#[derive(Parser)]
#[command(name = "overtime", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let client = overtime::queue::sqs_client_from_env().await;
    let result = match cli.command {
        Command::Send { queue, json } => send(&client, &queue, &json).await,
        Command::Dlq { command } => match command {
            DlqCommand::List { queue, json, max } => dlq::list(&client, &queue, json, max).await,
            DlqCommand::Redrive { queue } => dlq::redrive(&client, &queue).await,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
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
    let sent = Queue::new(client.clone(), url)
        .send_message(message)
        .await?;
    println!(
        "sent {job}: message {} (job id {})",
        sent.message_id, sent.job_id
    );
    Ok(())
}
