//! One instance of a function: its process, started with a runtime API of its own, and
//! killed with everything it started when the instance goes.

use super::api::{Api, Pending, router};
use super::environment::instance_environment;
use super::{Function, child_command, forward, kill_tree, lambda_environment};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::process::Child;
use tokio::sync::mpsc;

/// A running instance: its process, the way to hand it invocations, the last lines of its
/// stderr, and its runtime API.
pub(super) struct Instance {
    pub(super) child: Child,
    pub(super) tx: mpsc::Sender<Pending>,
    stderr: Arc<Mutex<std::collections::VecDeque<String>>>,
    server: tokio::task::JoinHandle<()>,
    pub(super) api: Arc<Api>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
        kill_tree(&mut self.child);
    }
}

impl Function {
    /// Starts a fresh instance.
    pub(super) async fn spawn(&self) -> Result<Instance, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind its runtime API: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("runtime API address: {e}"))?;
        let (tx, rx) = mpsc::channel(1);
        let api = Arc::new(Api {
            next: tokio::sync::Mutex::new(Some(rx)),
            ..Api::default()
        });
        let server = tokio::spawn({
            let app = router(api.clone());
            async move {
                let _ = axum::serve(listener, app).await;
            }
        });
        let mut cmd = child_command(&self.spec.binary);
        lambda_environment(&mut cmd, &self.spec.binary);
        instance_environment(&mut cmd, &self.spec, addr);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            server.abort();
            format!("start {}: {e}", self.spec.binary.display())
        })?;
        let stderr = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(self.spec.name.clone(), out, None));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(self.spec.name.clone(), err, Some(stderr.clone())));
        }
        Ok(Instance {
            child,
            tx,
            stderr,
            server,
            api,
        })
    }
}

/// How a process ended, with the last lines of its stderr.
pub(super) fn exit_report(
    status: std::io::Result<std::process::ExitStatus>,
    instance: &Instance,
) -> String {
    let tail: Vec<String> = instance
        .stderr
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .rev()
        .take(3)
        .rev()
        .cloned()
        .collect();
    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
    if tail.is_empty() {
        format!("process {status}")
    } else {
        format!("process {status}; stderr: {}", tail.join(" | "))
    }
}
