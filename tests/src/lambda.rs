//! Lambda events built from the fixtures that ship with `aws_lambda_events`, filled with
//! real messages, and the `cargo lambda` runtime API emulator as a process.

use crate::server::{free_port, venv_tool, wait_for_port};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The `src/fixtures` folder of the `aws_lambda_events` crate this workspace builds with.
pub fn fixtures_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["metadata", "--format-version", "1"])
            .current_dir(crate::repo_root())
            .output()
            .expect("cargo metadata");
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
        let manifest = meta["packages"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "aws_lambda_events"))
            .and_then(|p| p["manifest_path"].as_str())
            .expect("aws_lambda_events in the dependency graph");
        PathBuf::from(manifest)
            .parent()
            .map(|d| d.join("src/fixtures"))
            .expect("fixtures folder")
    })
    .clone()
}

/// A fixture, parsed.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = fixtures_dir().join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture JSON")
}

/// `example-sqs-event.json` with its record replaced by these real messages from `arn`.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], arn: &str) -> serde_json::Value {
    let mut event = fixture("example-sqs-event.json");
    let template = event["Records"][0].clone();
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let mut r = template.clone();
            r["messageId"] = m.message_id().unwrap_or_default().into();
            r["receiptHandle"] = m.receipt_handle().unwrap_or_default().into();
            r["body"] = m.body().unwrap_or_default().into();
            r["eventSourceARN"] = arn.into();
            r["attributes"]["ApproximateReceiveCount"] = crate::receive_count(m).to_string().into();
            let attrs: serde_json::Map<String, serde_json::Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .filter_map(|(k, v)| {
                            let s = v.string_value()?;
                            Some((k.clone(), serde_json::json!({"stringValue": s, "stringListValues": [], "binaryListValues": [], "dataType": "String"})))
                        })
                        .collect()
                })
                .unwrap_or_default();
            r["messageAttributes"] = attrs.into();
            r
        })
        .collect();
    event["Records"] = records.into();
    event
}

/// `cargo lambda watch --only-lambda-apis` on a free loopback port; killed on drop.
pub struct RuntimeApi {
    /// The invoke port.
    pub port: u16,
    child: Child,
}

impl RuntimeApi {
    /// Starts the emulator.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new(venv_tool("cargo-lambda"))
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(crate::repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch (scripts/test installs cargo-lambda)");
        assert!(
            wait_for_port(port, Duration::from_secs(60)),
            "cargo lambda watch did not start"
        );
        Self { port, child }
    }

    /// The value for a function's `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        format!("http://127.0.0.1:{}/.rt", self.port)
    }

    /// The function name the emulator serves with `--only-lambda-apis`: one function, `_`.
    pub const FUNCTION_NAME: &'static str = "_";

    /// Invokes the function with `event` through `cargo lambda invoke`; returns its JSON answer
    /// or the error text.
    pub fn invoke(&self, event: &serde_json::Value) -> Result<serde_json::Value, String> {
        let dir =
            std::env::temp_dir().join(format!("overtime-event-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&dir, event.to_string()).map_err(|e| e.to_string())?;
        let out = Command::new(venv_tool("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "--output-format",
                "json",
                "--data-file",
            ])
            .arg(&dir)
            .arg(Self::FUNCTION_NAME)
            .current_dir(crate::repo_root())
            .output()
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&dir);
        if !out.status.success() {
            return Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace binary as a child process; killed on drop.
pub struct Function {
    /// The process.
    pub child: Child,
}

impl Function {
    /// Starts `bin` (from this workspace's target folder) with `env`.
    pub fn start(bin: &str, env: &[(&str, String)]) -> Self {
        let path = workspace_bin(bin);
        let child = Command::new(&path)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
        Self { child }
    }

    /// Whether the process is still running (false once it exited or was killed).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A binary of this workspace, built by `cargo build --workspace --bins` (scripts/test does).
pub fn workspace_bin(name: &str) -> PathBuf {
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace's binaries first (`cargo build --workspace --bins`, as scripts/test does)",
        path.display()
    );
    path
}
