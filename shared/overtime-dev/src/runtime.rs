//! The Lambda runtime API, as a function binary sees it on AWS: each instance is a process
//! with its own `AWS_LAMBDA_RUNTIME_API`, asks `/invocation/next` for work, gets the real
//! deadline in `Lambda-Runtime-Deadline-Ms`, and is killed when it overruns it.

use crate::log::{Invocation, Log};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tracing::Instrument as _;

/// How long a new instance may take to ask for its first invocation (Lambda's init phase
/// limit: 10 s).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Lines of a process's stderr kept for a crash report.
const STDERR_TAIL: usize = 20;

/// A function as declared: its binary, timeout, memory, environment and concurrency.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The declared name.
    pub name: String,
    /// The built binary.
    pub binary: PathBuf,
    /// The declared timeout.
    pub timeout: Duration,
    /// The declared memory, in MB (reported to the function; not enforced).
    pub memory: u32,
    /// Environment for every instance.
    pub env: Vec<(String, String)>,
    /// Most instances at once.
    pub concurrency: usize,
}

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function answered.
    Ok(Bytes),
    /// The function reported an error (`/invocation/{id}/error`).
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// It overran its timeout and was killed.
    Timeout(Duration),
    /// The process exited during the invocation.
    Crashed(String),
    /// No instance could be started (missing binary, init error, init timeout).
    StartFailed(String),
}

impl Outcome {
    /// A one-line summary.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Ok(_) => "ok".into(),
            Outcome::Error {
                error_type,
                message,
            } => format!("error {error_type}: {message}"),
            Outcome::Timeout(t) => format!("timed out after {:.0} s; killed", t.as_secs_f64()),
            Outcome::Crashed(why) => format!("crashed: {why}"),
            Outcome::StartFailed(why) => format!("did not start: {why}"),
        }
    }

    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

struct Pending {
    id: String,
    payload: Bytes,
    timeout: Duration,
    arn: String,
    started: oneshot::Sender<()>,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Api {
    next: tokio::sync::Mutex<Option<mpsc::Receiver<Pending>>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
    init_failed: Notify,
}

struct Instance {
    child: Child,
    tx: mpsc::Sender<Pending>,
    stderr: Arc<Mutex<std::collections::VecDeque<String>>>,
    server: tokio::task::JoinHandle<()>,
    api: Arc<Api>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
        let _ = self.child.start_kill();
    }
}

/// A function's instances, started on demand up to its concurrency and reused while warm.
pub struct Function {
    spec: FunctionSpec,
    permits: Semaphore,
    idle: Mutex<Vec<Instance>>,
    log: Log,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Function {
    /// A function that starts instances of `spec.binary` when invoked.
    pub fn new(spec: FunctionSpec, log: Log) -> Arc<Self> {
        Arc::new(Function {
            permits: Semaphore::new(spec.concurrency.max(1)),
            spec,
            idle: Mutex::new(Vec::new()),
            log,
        })
    }

    /// The declaration.
    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    /// The function's ARN, as the runtime API reports it.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            crate::sqs::rules::REGION,
            crate::sqs::rules::ACCOUNT,
            self.spec.name
        )
    }

    /// Invokes the function with `payload` and waits for the outcome; `trigger` says what
    /// invoked it (for the log).
    pub async fn invoke(&self, payload: Bytes, trigger: &str) -> Outcome {
        let Ok(_permit) = self.permits.acquire().await else {
            return Outcome::StartFailed("the function is shutting down".into());
        };
        let id = uuid::Uuid::new_v4().to_string();
        let began = Instant::now();
        let started_at = chrono::Utc::now();
        let span = tracing::info_span!("invoke", function = %self.spec.name, request_id = %id);
        let outcome = self.invoke_once(&id, payload).instrument(span).await;
        self.log.record(Invocation {
            function: self.spec.name.clone(),
            request_id: id,
            trigger: trigger.to_owned(),
            started: started_at,
            duration_ms: began.elapsed().as_millis() as u64,
            outcome: outcome.summary(),
            ok: outcome.is_ok(),
        });
        outcome
    }

    async fn invoke_once(&self, id: &str, payload: Bytes) -> Outcome {
        if let Some(instance) = self.warm() {
            let outcome = self.invoke_on(instance, id, payload.clone()).await;
            // A warm instance that could not take the invocation (it exited or hung after its
            // last answer) is replaced, as Lambda replaces a broken environment: the
            // invocation goes to a fresh one rather than failing for it.
            if !matches!(outcome, Outcome::StartFailed(_)) {
                return outcome;
            }
            tracing::warn!(function = %self.spec.name, "a warm instance could not start the invocation; starting a fresh one");
        }
        match self.spawn().await {
            Ok(instance) => self.invoke_on(instance, id, payload).await,
            Err(why) => Outcome::StartFailed(why),
        }
    }

    /// An idle instance whose process still runs (dead ones are dropped).
    fn warm(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut instance) = idle.pop() {
            if matches!(instance.child.try_wait(), Ok(None)) {
                return Some(instance);
            }
        }
        None
    }

    async fn invoke_on(&self, mut instance: Instance, id: &str, payload: Bytes) -> Outcome {
        let (started_tx, started_rx) = oneshot::channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        let pending = Pending {
            id: id.to_owned(),
            payload,
            timeout: self.spec.timeout,
            arn: self.arn(),
            started: started_tx,
            reply: reply_tx,
        };
        if instance.tx.send(pending).await.is_err() {
            return Outcome::StartFailed("the instance's runtime API stopped".into());
        }
        // The init phase: until the process asks for the invocation.
        tokio::select! {
            r = started_rx => if r.is_err() {
                return Outcome::StartFailed("the instance's runtime API stopped".into());
            },
            () = instance.api.init_failed.notified() => {
                let why = instance.api.init_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Outcome::StartFailed(format!("init error: {}", why.unwrap_or_default()));
            }
            status = instance.child.wait() => {
                return Outcome::StartFailed(exit_report(status, &instance));
            }
            () = tokio::time::sleep(INIT_TIMEOUT) => {
                return Outcome::StartFailed(format!(
                    "did not ask for an invocation within {} s (Lambda's init limit)",
                    INIT_TIMEOUT.as_secs()
                ));
            }
        }
        // The invoke phase: until it answers, exits, or overruns its deadline.
        // Biased: an answer posted just before the process exits is the outcome, not a crash.
        let outcome = tokio::select! {
            biased;
            r = reply_rx => r.unwrap_or_else(|_| Outcome::Crashed("the runtime API stopped".into())),
            status = instance.child.wait() => Outcome::Crashed(exit_report(status, &instance)),
            () = tokio::time::sleep(self.spec.timeout) => {
                // As Lambda does: the whole sandbox goes; the next invocation starts cold.
                let _ = instance.child.start_kill();
                let _ = instance.child.wait().await;
                return Outcome::Timeout(self.spec.timeout);
            }
        };
        if !matches!(outcome, Outcome::Crashed(_)) {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(instance);
        }
        outcome
    }

    async fn spawn(&self) -> Result<Instance, String> {
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
        cmd.envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.spec.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.spec.memory.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.spec.name),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                uuid::Uuid::new_v4().to_string(),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("_HANDLER", "bootstrap")
            .stdin(Stdio::null())
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

/// A command for a function binary that dies with `overtime dev`, even by SIGKILL.
///
/// On Linux it goes through util-linux's `setpriv --pdeathsig KILL`: the parent-death signal
/// needs a `prctl` between fork and exec, which this crate's safe code cannot make, and
/// setpriv makes it and then execs the binary, so the process is the binary itself. The signal
/// follows the thread that started the process; `overtime dev` runs on one thread. Without
/// setpriv (or on other systems) the binary is started directly, and is stopped on a clean
/// shutdown only.
pub(crate) fn child_command(binary: &std::path::Path) -> Command {
    static SETPRIV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let setpriv = SETPRIV.get_or_init(|| {
        cfg!(target_os = "linux")
            .then(|| {
                ["/usr/bin/setpriv", "/bin/setpriv"]
                    .into_iter()
                    .map(PathBuf::from)
                    .find(|p| p.is_file())
            })
            .flatten()
    });
    match setpriv {
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL", "--"]).arg(binary);
            cmd
        }
        None => Command::new(binary),
    }
}

fn exit_report(status: std::io::Result<std::process::ExitStatus>, instance: &Instance) -> String {
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

/// Prints a function's output line by line, prefixed with its name, until the stream ends;
/// keeps the last lines in `tail`. Any bytes go: a line that is not UTF-8 is printed with
/// replacement characters rather than ending the forwarding (which would break the
/// function's next write).
pub(crate) async fn forward(
    name: String,
    stream: impl tokio::io::AsyncRead + Unpin,
    tail: Option<Arc<Mutex<std::collections::VecDeque<String>>>>,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let line = String::from_utf8_lossy(text).into_owned();
        println!("  {name} | {line}");
        if let Some(tail) = &tail {
            let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
            if t.len() == STDERR_TAIL {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}

fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api)
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    let mut guard = api.next.lock().await;
    let Some(rx) = guard.as_mut() else {
        return StatusCode::GONE.into_response();
    };
    let Some(p) = rx.recv().await else {
        return StatusCode::GONE.into_response();
    };
    drop(guard);
    let deadline = chrono::Utc::now().timestamp_millis() + p.timeout.as_millis() as i64;
    api.in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(p.id.clone(), p.reply);
    let _ = p.started.send(());
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", p.id.clone());
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put("lambda-runtime-invoked-function-arn", p.arn);
    put(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{};Parent={:016x};Sampled=0",
            chrono::Utc::now().timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..24],
            fastrand::u64(..)
        ),
    );
    put("content-type", "application/json".into());
    (headers, p.payload).into_response()
}

fn settle(api: &Api, id: &str, outcome: Outcome) -> Response {
    let reply = api
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match reply {
        Some(r) => {
            let _ = r.send(outcome);
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({"status": "OK"})),
            )
                .into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "errorType": "InvalidRequestID",
                "errorMessage": format!("no invocation {id} is in progress"),
            })),
        )
            .into_response(),
    }
}

/// The largest response a function may return: Lambda's limit for a synchronous invocation.
const MAX_RESPONSE_BYTES: usize = 6_291_556;

async fn response(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Body,
) -> Response {
    match axum::body::to_bytes(body, MAX_RESPONSE_BYTES).await {
        Ok(body) => settle(&api, &id, Outcome::Ok(body)),
        Err(e) => {
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let (error_type, message) = if too_large {
                (
                    "Function.ResponseSizeTooLarge",
                    format!(
                        "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                    ),
                )
            } else {
                (
                    "Runtime.ResponseNotRead",
                    "the response body could not be read".to_owned(),
                )
            };
            // The invocation fails at once, as on Lambda, rather than at its timeout.
            settle(
                &api,
                &id,
                Outcome::Error {
                    error_type: error_type.into(),
                    message: message.clone(),
                },
            );
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(serde_json::json!({
                    "errorType": "RequestEntityTooLarge",
                    "errorMessage": message,
                })),
            )
                .into_response()
        }
    }
}

async fn error(State(api): State<Arc<Api>>, UrlPath(id): UrlPath<String>, body: Bytes) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let outcome = Outcome::Error {
        error_type: v["errorType"].as_str().unwrap_or("Unhandled").to_owned(),
        message: v["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
    };
    settle(&api, &id, outcome)
}

async fn init_error(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let why = format!(
        "{}: {}",
        v["errorType"].as_str().unwrap_or("Runtime.Unknown"),
        v["errorMessage"].as_str().unwrap_or_default()
    );
    *api.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    api.init_failed.notify_one();
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// POSTs `body` to `path` on `addr`; the response's status line and body.
    async fn post_raw(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("head");
        // The server may answer (and close) before reading it all.
        let _ = s.write_all(body).await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A function that answers one invocation and exits, written in Python against the
    /// runtime API (as any runtime may be).
    const ONE_SHOT: &str = r#"#!/usr/bin/env python3
import os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
with urllib.request.urlopen(api + "next") as r:
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    event = r.read()
urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=event, method="POST")).read()
"#;

    #[tokio::test]
    async fn an_instance_that_exited_after_answering_is_replaced_not_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("overtime-rt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let binary = dir.join("one-shot");
        std::fs::write(&binary, ONE_SHOT).expect("write");
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let f = Function::new(
            FunctionSpec {
                name: "one-shot".into(),
                binary,
                timeout: Duration::from_secs(10),
                memory: 128,
                env: vec![],
                concurrency: 1,
            },
            Log::new(true),
        );
        for i in 0..3 {
            let payload = Bytes::from(format!("{{\"n\":{i}}}"));
            let outcome = f.invoke(payload.clone(), "test").await;
            assert_eq!(outcome, Outcome::Ok(payload), "invocation {i}");
            // Let the process exit after its answer, so the next invocation meets it dead.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_response_over_6_mb_fails_the_invocation_at_once() {
        let api = Arc::new(Api {
            next: tokio::sync::Mutex::new(None),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            init_failed: Notify::new(),
        });
        let (big_tx, big_rx) = oneshot::channel();
        let (ok_tx, ok_rx) = oneshot::channel();
        {
            let mut in_flight = api.in_flight.lock().expect("lock");
            in_flight.insert("big".to_owned(), big_tx);
            in_flight.insert("ok".to_owned(), ok_tx);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(axum::serve(listener, router(api)).into_future());

        // 3 MB: over axum's default limit, within Lambda's.
        let three_mb = vec![b'x'; 3 << 20];
        let answer = post_raw(
            addr,
            "/2018-06-01/runtime/invocation/ok/response",
            &three_mb,
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 202"),
            "{}",
            &answer[..answer.len().min(200)]
        );
        assert!(matches!(ok_rx.await, Ok(Outcome::Ok(b)) if b.len() == 3 << 20));

        let seven_mb = vec![b'x'; 7 << 20];
        let answer = post_raw(
            addr,
            "/2018-06-01/runtime/invocation/big/response",
            &seven_mb,
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{}",
            &answer[..answer.len().min(200)]
        );
        assert!(answer.contains("RequestEntityTooLarge"), "{answer}");
        let outcome = tokio::time::timeout(Duration::from_secs(5), big_rx)
            .await
            .expect("settled at once")
            .expect("outcome");
        assert!(
            matches!(&outcome, Outcome::Error { error_type, .. } if error_type == "Function.ResponseSizeTooLarge"),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn output_that_is_not_utf8_is_forwarded_and_the_lines_after_it_too() {
        let tail = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let output: &[u8] = b"ok\n\xff\xfebad\r\nafter\nlast without newline";
        forward("f".into(), output, Some(tail.clone())).await;
        let lines: Vec<String> = tail.lock().expect("tail").iter().cloned().collect();
        assert_eq!(
            lines,
            ["ok", "\u{fffd}\u{fffd}bad", "after", "last without newline"]
        );
    }
}
