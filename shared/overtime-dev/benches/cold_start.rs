//! Spawn → first `GET /2018-06-01/runtime/invocation/next`: how long a Lambda binary takes from
//! `exec` to asking the runtime API for its first event, which is its share of a cold start.
//!
//! `cargo bench -p overtime-dev --bench cold_start -- NAME=BINARY NAME=BINARY …` starts each
//! binary `OVERTIME_BENCH_STARTS` times (default 25), the binaries taking turns so that the
//! machine's drift falls on all of them alike, and prints each one's median and its ratio to
//! the first binary's. Each start gets a runtime API of its own on a fresh loopback port and the
//! environment Lambda gives a function; the process is killed once it has asked.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// How long one start may take before the bench gives up on that binary.
const START_LIMIT: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let binaries: Vec<(String, PathBuf)> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .filter_map(|a| {
            let (name, path) = a.split_once('=')?;
            Some((name.to_owned(), PathBuf::from(path)))
        })
        .collect();
    if binaries.is_empty() {
        eprintln!("usage: cargo bench -p overtime-dev --bench cold_start -- NAME=BINARY …");
        return;
    }
    let starts: usize = std::env::var("OVERTIME_BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); binaries.len()];
    // One start each first, not counted: it brings the binaries into the page cache.
    for (_, path) in &binaries {
        let _ = first_next(path).await;
    }
    for _ in 0..starts {
        for (i, (name, path)) in binaries.iter().enumerate() {
            match first_next(path).await {
                Ok(t) => times[i].push(t),
                Err(e) => {
                    eprintln!("{name}: {e}");
                    return;
                }
            }
        }
    }
    let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
    println!("spawn -> first /next, median of {starts} starts each");
    for ((name, _), (m, t)) in binaries.iter().zip(medians.iter().zip(&times)) {
        let ratio = m.as_secs_f64() / medians[0].as_secs_f64();
        println!(
            "  {name:<24} {:>7.2} ms   (min {:.2}, max {:.2})   {ratio:.2}x {}",
            ms(*m),
            ms(t[0]),
            ms(t[t.len() - 1]),
            binaries[0].0
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sorts `times` and returns its median.
fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Starts `binary` against a runtime API of its own and times its first request.
async fn first_next(binary: &PathBuf) -> Result<Duration, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("addr: {e}"))?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Endpoints nothing is sent to: the bench ends at the first /next.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("QUEUE_URL", "http://127.0.0.1:9/000000000000/bench")
        .env(
            "OVERTIME_QUEUE_URL",
            "http://127.0.0.1:9/000000000000/bench",
        )
        .env("OVERTIME_RUN_STORE", "dynamodb:overtime-runs")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("start {}: {e}", binary.display()))?;
    let asked = async {
        let (mut stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed before a whole request".to_owned());
            }
            head.extend_from_slice(&buf[..n]);
        }
        let at = started.elapsed();
        if !head.starts_with(b"GET /2018-06-01/runtime/invocation/next") {
            return Err(format!(
                "the first request was not /next: {}",
                String::from_utf8_lossy(&head[..head.len().min(80)])
            ));
        }
        Ok(at)
    };
    let result = tokio::select! {
        r = asked => r,
        status = child.wait() => Err(format!("exited before asking: {status:?}")),
        () = tokio::time::sleep(START_LIMIT) => Err("no /next within 10 s".to_owned()),
    };
    let _ = child.kill().await;
    result
}
