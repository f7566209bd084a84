//! `overtime dev` as a real process: started on a free port, read through its output and its
//! dashboard JSON, killed with SIGKILL when a test wants it dead.

use crate::lambda::workspace_bin;
use crate::server::{free_port, wait_for_port};
use aws_sdk_sqs::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `overtime dev`.
pub struct Dev {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its port.
    pub port: u16,
    /// Its state folder.
    pub state: PathBuf,
    /// Where its stdout and stderr go.
    pub output: PathBuf,
    child: Option<Child>,
    args: Vec<String>,
}

impl Dev {
    /// `overtime dev --endpoint-only` with a fresh state folder.
    pub fn endpoint() -> Self {
        Self::start(&["--endpoint-only".to_string()], None, &fresh_state())
    }

    /// `overtime dev ARGS` in `root` (if any) with `state`; waits until it answers.
    pub fn start(args: &[String], root: Option<&Path>, state: &Path) -> Self {
        let port = free_port();
        let mut all = vec![
            "dev".to_string(),
            "--sqs-addr".into(),
            format!("127.0.0.1:{port}"),
            "--state".into(),
            state.display().to_string(),
        ];
        if let Some(root) = root {
            all.push("--root".into());
            all.push(root.display().to_string());
        }
        all.extend(args.iter().cloned());
        let output = state.with_extension("log");
        let mut dev = Dev {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            state: state.to_path_buf(),
            output,
            child: None,
            args: all,
        };
        dev.restart();
        dev
    }

    /// (Re)starts the process with the same arguments, port and state; waits until it listens.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.output)
            .expect("dev log");
        let child = Command::new(workspace_bin("overtime"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dev log"))
            .stderr(log)
            .spawn()
            .expect("start overtime dev");
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(120)),
            "overtime dev did not listen on {}: {}",
            self.port,
            self.log()
        );
    }

    /// SIGKILLs the process (no shutdown of any kind) and waits for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERMs the process (as Ctrl-C or a service manager stops it) and waits up to
    /// `limit` for it to exit; how long it took, or `None` if it was still running (then it
    /// is SIGKILLed).
    pub fn terminate(&mut self, limit: Duration) -> Option<Duration> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < limit {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// `overtime trigger NAME` against this server: fires a schedule now.
    pub fn trigger(&self, name: &str) -> std::process::Output {
        Command::new(workspace_bin("overtime"))
            .args([
                "trigger",
                name,
                "--sqs-addr",
                &format!("127.0.0.1:{}", self.port),
            ])
            .output()
            .expect("overtime trigger")
    }

    /// The processes it started (read from /proc), excluding ones already exited.
    pub fn children(&self) -> Vec<u32> {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            out.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        out.retain(|p| running(*p));
        out
    }

    /// Everything it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Waits until its output contains `needle`.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// An SQS client for its endpoint, making `attempts` attempts per call.
    pub async fn client(&self, attempts: u32) -> Client {
        crate::fakes::client_with_attempts(&self.endpoint, attempts)
    }

    /// An EventBridge client for its endpoint, one attempt per call.
    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region, retry};
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(crate::server::REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::for_tests())
            .retry_config(retry::RetryConfig::disabled())
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }

    /// The event bus `bus` on its endpoint, as a function sends on it.
    pub fn event_bus(&self, bus: &str) -> overtime::events::EventBus {
        overtime::events::EventBus::new(self.eventbridge(), bus)
    }

    /// The dashboard's JSON.
    pub async fn state_json(&self) -> serde_json::Value {
        reqwest_get_json(&format!("{}/_overtime/state", self.endpoint)).await
    }
}

/// Whether a process exists and has not exited (a zombie, exited but not yet reaped, has).
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SIGTERM first, so functions it started are stopped with it.
        self.terminate(Duration::from_secs(5));
    }
}

/// A fresh, not yet existing state folder under the temp directory.
pub fn fresh_state() -> PathBuf {
    std::env::temp_dir().join(format!("overtime-dev-state-{}", uuid::Uuid::new_v4()))
}

async fn reqwest_get_json(url: &str) -> serde_json::Value {
    reqwest::get(url)
        .await
        .expect("GET the dashboard JSON")
        .json()
        .await
        .expect("dashboard JSON")
}
