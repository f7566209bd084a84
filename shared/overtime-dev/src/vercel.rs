//! Vercel routes: each cron route's binary runs as a vercel_runtime server on its own port,
//! and a cron fires as Vercel's does: `GET path` with `Authorization: Bearer $CRON_SECRET`.
//! A request that overruns the route's `maxDuration` is cut off and the server restarted, as
//! Vercel ends the function.

use crate::log::{Invocation, Log};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Child;
use tokio::sync::Mutex;

/// How long a route's server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A Vercel route served by one binary.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The binary.
    pub binary: PathBuf,
    /// `maxDuration` from vercel.json (Vercel's default: 300 s).
    pub max_duration: Duration,
    /// Environment (CRON_SECRET included).
    pub env: Vec<(String, String)>,
}

/// A running route server, restarted when it dies or overruns.
pub struct Route {
    spec: RouteSpec,
    name: String,
    server: Mutex<Option<(Child, u16)>>,
    log: Log,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        if let Some((child, _)) = self.server.get_mut() {
            crate::runtime::kill_tree(child);
        }
    }
}

impl Route {
    /// A route; its server starts on first use.
    pub fn new(name: String, spec: RouteSpec, log: Log) -> Arc<Self> {
        Arc::new(Route {
            spec,
            name,
            server: Mutex::new(None),
            log,
        })
    }

    async fn port(&self, server: &mut Option<(Child, u16)>) -> Result<u16, String> {
        if let Some((child, port)) = server.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            return Ok(*port);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("find a port: {e}"))?;
        let mut cmd = crate::runtime::child_command(&self.spec.binary);
        crate::runtime::lambda_environment(&mut cmd, &self.spec.binary);
        let mut child = cmd
            .envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("VERCEL_DEV_PORT", port.to_string())
            .env("VERCEL", "1")
            .env("VERCEL_ENV", "development")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.spec.binary.display()))?;
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(crate::runtime::forward(self.name.clone(), stream, None));
        }
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the server exited at start: {status}"));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "did not listen on port {port} within {} s",
                    START_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        *server = Some((child, port));
        Ok(port)
    }

    /// GETs `path` with the headers Vercel's cron sends; returns the status and body, or why
    /// there was none.
    pub async fn cron(
        &self,
        path: &str,
        secret: &str,
        trigger: &str,
    ) -> Result<(u16, String), String> {
        let began = Instant::now();
        let started = chrono::Utc::now();
        let result = self.get(path, secret).await;
        let (ok, outcome) = match &result {
            Ok((status, body)) => (
                (200..300).contains(status),
                format!(
                    "HTTP {status} {}",
                    body.chars().take(200).collect::<String>()
                ),
            ),
            Err(e) => (false, e.clone()),
        };
        self.log.record(Invocation {
            function: self.name.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            trigger: trigger.to_owned(),
            started,
            duration_ms: began.elapsed().as_millis() as u64,
            outcome,
            ok,
        });
        result
    }

    async fn get(&self, path: &str, secret: &str) -> Result<(u16, String), String> {
        let (port, pid) = {
            let mut server = self.server.lock().await;
            let port = self.port(&mut server).await?;
            (port, server.as_ref().and_then(|(c, _)| c.id()))
        };
        let request = async {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(conn);
            let req = hyper::Request::get(path)
                .header("host", format!("127.0.0.1:{port}"))
                .header("authorization", format!("Bearer {secret}"))
                .header("user-agent", "vercel-cron/1.0")
                .body(Empty::<Bytes>::new())
                .map_err(|e| format!("request: {e}"))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, String::from_utf8_lossy(&body).into_owned()))
        };
        match tokio::time::timeout(self.spec.max_duration, request).await {
            Ok(r) => r,
            Err(_) => {
                // Vercel ends a function at maxDuration (504 FUNCTION_INVOCATION_TIMEOUT).
                let mut server = self.server.lock().await;
                if server.as_ref().and_then(|(c, _)| c.id()) == pid
                    && let Some((mut child, _)) = server.take()
                {
                    crate::runtime::kill_tree(&mut child);
                    let _ = child.wait().await;
                }
                Err(format!(
                    "504 FUNCTION_INVOCATION_TIMEOUT after {} s; the server was restarted",
                    self.spec.max_duration.as_secs()
                ))
            }
        }
    }
}
