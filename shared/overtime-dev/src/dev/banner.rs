//! What `overtime dev` prints once it runs: where it listens, and what it runs.

use super::{DevOptions, Topology};

/// Prints the endpoint, the state, the queues, functions, mappings and schedules, and what
/// could not start.
pub(super) async fn print_banner(opts: &DevOptions, base: &str, t: &Topology) {
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
