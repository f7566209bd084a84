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
    /// How long a new instance may take to ask for its first invocation before its init is
    /// retried within the invocation's timeout ([`INIT_TIMEOUT`] on Lambda).
    pub init_timeout: Duration,
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
    /// A deadline fixed before the instance asked (a retried init counts against the
    /// invocation's timeout); otherwise the deadline is `timeout` from the moment it asks.
    deadline: Option<Instant>,
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
        kill_tree(&mut self.child);
    }
}

/// Kills a function's process and everything it started (its process group), as Lambda
/// discards the whole execution environment. The group is signalled only while the process is
/// not yet reaped: until then its id cannot name another process's group.
pub(crate) fn kill_tree(child: &mut Child) {
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.start_kill();
}

/// How an attempt to run an invocation on one instance ended.
enum Attempt {
    Done(Outcome),
    /// The instance did not ask for the invocation within the init limit (it was killed).
    InitTimedOut,
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
            // A warm instance that could not take the invocation (it exited or hung after its
            // last answer) is replaced, as Lambda replaces a broken environment: the
            // invocation goes to a fresh one rather than failing for it.
            match self.invoke_on(instance, id, payload.clone(), None).await {
                Attempt::Done(Outcome::StartFailed(_)) | Attempt::InitTimedOut => {
                    tracing::warn!(function = %self.spec.name, "a warm instance could not start the invocation; starting a fresh one");
                }
                Attempt::Done(outcome) => return outcome,
            }
        }
        // As Lambda does: an init over its limit is retried once, in a fresh environment,
        // within the invocation's own timeout.
        let mut deadline = None;
        loop {
            let instance = match self.spawn().await {
                Ok(instance) => instance,
                Err(why) => return Outcome::StartFailed(why),
            };
            match self
                .invoke_on(instance, id, payload.clone(), deadline)
                .await
            {
                Attempt::Done(outcome) => return outcome,
                Attempt::InitTimedOut if deadline.is_some() => {
                    return Outcome::Timeout(self.spec.timeout);
                }
                Attempt::InitTimedOut => {
                    tracing::warn!(
                        function = %self.spec.name,
                        "init took over {} s; retrying it within the {} s timeout, as Lambda does",
                        self.spec.init_timeout.as_secs_f64(),
                        self.spec.timeout.as_secs_f64()
                    );
                    deadline = Some(Instant::now() + self.spec.timeout);
                }
            }
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

    /// Runs the invocation on `instance`. Without a `deadline` the instance has the init
    /// limit to ask for it and then the function's timeout; with one, both phases end there.
    async fn invoke_on(
        &self,
        mut instance: Instance,
        id: &str,
        payload: Bytes,
        deadline: Option<Instant>,
    ) -> Attempt {
        let (started_tx, started_rx) = oneshot::channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        let pending = Pending {
            id: id.to_owned(),
            payload,
            timeout: self.spec.timeout,
            deadline,
            arn: self.arn(),
            started: started_tx,
            reply: reply_tx,
        };
        if instance.tx.send(pending).await.is_err() {
            return Attempt::Done(Outcome::StartFailed(
                "the instance's runtime API stopped".into(),
            ));
        }
        // The init phase: until the process asks for the invocation.
        let init_ends = deadline.unwrap_or_else(|| Instant::now() + self.spec.init_timeout);
        tokio::select! {
            r = started_rx => if r.is_err() {
                return Attempt::Done(Outcome::StartFailed("the instance's runtime API stopped".into()));
            },
            () = instance.api.init_failed.notified() => {
                let why = instance.api.init_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Attempt::Done(Outcome::StartFailed(format!("init error: {}", why.unwrap_or_default())));
            }
            status = instance.child.wait() => {
                return Attempt::Done(Outcome::StartFailed(exit_report(status, &instance)));
            }
            () = tokio::time::sleep_until(init_ends.into()) => {
                kill_tree(&mut instance.child);
                let _ = instance.child.wait().await;
                return Attempt::InitTimedOut;
            }
        }
        // The invoke phase: until it answers, exits, or overruns its deadline.
        // Biased: an answer posted just before the process exits is the outcome, not a crash.
        let ends = deadline.unwrap_or_else(|| Instant::now() + self.spec.timeout);
        let outcome = tokio::select! {
            biased;
            r = reply_rx => r.unwrap_or_else(|_| Outcome::Crashed("the runtime API stopped".into())),
            status = instance.child.wait() => Outcome::Crashed(exit_report(status, &instance)),
            () = tokio::time::sleep_until(ends.into()) => {
                // As Lambda does: the whole sandbox goes; the next invocation starts cold.
                kill_tree(&mut instance.child);
                let _ = instance.child.wait().await;
                return Attempt::Done(Outcome::Timeout(self.spec.timeout));
            }
        };
        if !matches!(outcome, Outcome::Crashed(_)) {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(instance);
        }
        Attempt::Done(outcome)
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
        lambda_environment(&mut cmd, &self.spec.binary);
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

/// Variables from `overtime dev`'s own environment that a function also sees: logging and
/// backtraces, which change what it prints, not what it does.
pub const PASSED_THROUGH: &[&str] = &["RUST_LOG", "RUST_BACKTRACE", "RUST_LIB_BACKTRACE"];

/// Starts `cmd` from the environment Lambda gives a function rather than from the shell's:
/// nothing of `overtime dev`'s environment but `PATH` and [`PASSED_THROUGH`], plus Lambda's
/// reserved variables (`TZ=:UTC`, `LANG`, `LAMBDA_TASK_ROOT` as the binary's folder,
/// `LAMBDA_RUNTIME_DIR`). A variable a function needs is declared in `infra/overtime.toml`
/// (`environment`), as it must be to exist on Lambda.
pub(crate) fn lambda_environment(cmd: &mut Command, binary: &std::path::Path) {
    cmd.env_clear();
    for var in std::iter::once("PATH").chain(PASSED_THROUGH.iter().copied()) {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    let root = binary.parent().unwrap_or(std::path::Path::new("/"));
    cmd.env("TZ", ":UTC")
        .env("LANG", "en_US.UTF-8")
        .env("LAMBDA_TASK_ROOT", root)
        .env("LAMBDA_RUNTIME_DIR", root);
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
    let mut cmd = match setpriv {
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL", "--"]).arg(binary);
            cmd
        }
        None => Command::new(binary),
    };
    // Its own process group, so that a kill takes what it started too (see `kill_tree`), and
    // the terminal's Ctrl-C goes to `overtime dev`, which stops the functions itself.
    cmd.process_group(0);
    cmd
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
        .layer(axum::middleware::from_fn(crate::guard::loopback_only))
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
    let left = p
        .deadline
        .map_or(p.timeout, |d| d.saturating_duration_since(Instant::now()));
    let deadline = chrono::Utc::now().timestamp_millis() + left.as_millis() as i64;
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

async fn error(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    // The body's errorType, else the runtime's Lambda-Runtime-Function-Error-Type header.
    let header = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|h| h.to_str().ok());
    let outcome = Outcome::Error {
        error_type: v["errorType"]
            .as_str()
            .or(header)
            .unwrap_or("Unhandled")
            .to_owned(),
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
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
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
    /// runtime API (as any runtime may be); the scripts here get their `#!` line from
    /// `script_function`.
    const ONE_SHOT: &str = r#"import os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
with urllib.request.urlopen(api + "next") as r:
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    event = r.read()
urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=event, method="POST")).read()
"#;

    /// A function whose binary is `script`, in a folder of its own (removed on drop).
    struct ScriptFunction {
        dir: PathBuf,
        function: Arc<Function>,
    }

    impl Drop for ScriptFunction {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn script_function(
        script: &str,
        timeout: Duration,
        init_timeout: Duration,
        env: Vec<(String, String)>,
    ) -> ScriptFunction {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("overtime-rt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let binary = dir.join("bootstrap");
        // The system Python, not a version manager's shim (which needs variables of the
        // shell's that a function does not get).
        let python = ["/usr/bin/python3", "/bin/python3"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .unwrap_or("/usr/bin/env python3");
        std::fs::write(&binary, format!("#!{python}\n{script}")).expect("write");
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let function = Function::new(
            FunctionSpec {
                name: "script".into(),
                binary,
                timeout,
                memory: 128,
                env,
                concurrency: 1,
                init_timeout,
            },
            Log::new(true),
        );
        ScriptFunction { dir, function }
    }

    #[tokio::test]
    async fn an_instance_that_exited_after_answering_is_replaced_not_reused() {
        let f = script_function(ONE_SHOT, Duration::from_secs(10), INIT_TIMEOUT, vec![]);
        for i in 0..3 {
            let payload = Bytes::from(format!("{{\"n\":{i}}}"));
            let outcome = f.function.invoke(payload.clone(), "test").await;
            assert_eq!(outcome, Outcome::Ok(payload), "invocation {i}");
            // Let the process exit after its answer, so the next invocation meets it dead.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sleeps `INIT_SLEEP` seconds before its first `next`, then answers with the
    /// milliseconds its deadline leaves.
    const SLOW_INIT: &str = r#"import os, time, urllib.request
time.sleep(float(os.environ["INIT_SLEEP"]))
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        left = int(r.headers["Lambda-Runtime-Deadline-Ms"]) - int(time.time() * 1000)
        r.read()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=str(left).encode(), method="POST")).read()
"#;

    #[tokio::test]
    async fn an_init_over_its_limit_is_retried_within_the_invocations_timeout() {
        let env = vec![("INIT_SLEEP".to_owned(), "1.5".to_owned())];
        let f = script_function(
            SLOW_INIT,
            Duration::from_secs(6),
            Duration::from_secs(1),
            env,
        );
        let began = Instant::now();
        let outcome = f.function.invoke(Bytes::from_static(b"{}"), "test").await;
        let Outcome::Ok(left) = outcome else {
            panic!("the retried init should answer: {outcome:?}");
        };
        let left: i64 = String::from_utf8_lossy(&left).parse().expect("ms left");
        // The first init was cut at 1 s; the retry's 1.5 s of init came out of the 6 s timeout.
        assert!(
            began.elapsed() >= Duration::from_millis(2500),
            "{:?}",
            began.elapsed()
        );
        assert!(
            left <= 6000 - 1400,
            "the retried init was not counted: {left} ms left"
        );
        assert!(left > 0, "{left}");
        // Warm now: the next invocation has its whole timeout.
        let Outcome::Ok(left) = f.function.invoke(Bytes::from_static(b"{}"), "test").await else {
            panic!("warm invocation");
        };
        let left: i64 = String::from_utf8_lossy(&left).parse().expect("ms left");
        assert!(left > 6000 - 500, "{left}");

        // An init that overruns the timeout too is the invocation's timeout.
        let env = vec![("INIT_SLEEP".to_owned(), "30".to_owned())];
        let f = script_function(
            SLOW_INIT,
            Duration::from_secs(2),
            Duration::from_millis(500),
            env,
        );
        let began = Instant::now();
        let outcome = f.function.invoke(Bytes::from_static(b"{}"), "test").await;
        assert_eq!(outcome, Outcome::Timeout(Duration::from_secs(2)));
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{:?}",
            began.elapsed()
        );
    }

    /// Starts a grandchild (`sleep 300`), writes its pid to `$PID_FILE`, and never answers.
    const SPAWNS_AND_HANGS: &str = r#"import os, subprocess, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
with urllib.request.urlopen(api + "next") as r:
    r.read()
child = subprocess.Popen(["sleep", "300"])
with open(os.environ["PID_FILE"], "w") as f:
    f.write(str(child.pid))
time.sleep(300)
"#;

    #[tokio::test]
    async fn a_timeout_kills_what_the_function_started_too() {
        let pid_file =
            std::env::temp_dir().join(format!("overtime-grandchild-{}", uuid::Uuid::new_v4()));
        let env = vec![("PID_FILE".to_owned(), pid_file.display().to_string())];
        let f = script_function(SPAWNS_AND_HANGS, Duration::from_secs(2), INIT_TIMEOUT, env);
        let outcome = f.function.invoke(Bytes::from_static(b"{}"), "test").await;
        assert_eq!(outcome, Outcome::Timeout(Duration::from_secs(2)));
        let pid = std::fs::read_to_string(&pid_file).expect("the function started its child");
        let _ = std::fs::remove_file(&pid_file);
        // The grandchild is gone (reaped by init once killed; a zombie at most meanwhile).
        let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
        let mut gone = false;
        for _ in 0..50 {
            let state = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z ") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            gone,
            "the function's child {} outlived its timeout",
            pid.trim()
        );
    }

    /// Answers with its whole environment, as JSON.
    const PRINTS_ENV: &str = r#"import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
with urllib.request.urlopen(api + "next") as r:
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    r.read()
urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=json.dumps(dict(os.environ)).encode(), method="POST")).read()
"#;

    #[tokio::test]
    async fn a_function_sees_lambdas_environment_not_the_shells() {
        let env = vec![("DECLARED".to_owned(), "yes".to_owned())];
        let f = script_function(PRINTS_ENV, Duration::from_secs(10), INIT_TIMEOUT, env);
        let Outcome::Ok(body) = f.function.invoke(Bytes::from_static(b"{}"), "test").await else {
            panic!("invocation failed");
        };
        let seen: HashMap<String, String> = serde_json::from_slice(&body).expect("env JSON");
        assert_eq!(seen.get("DECLARED").map(String::as_str), Some("yes"));
        assert_eq!(seen.get("TZ").map(String::as_str), Some(":UTC"));
        assert_eq!(
            seen.get("LAMBDA_TASK_ROOT").map(PathBuf::from),
            Some(f.dir.clone())
        );
        assert_eq!(
            seen.get("AWS_LAMBDA_FUNCTION_NAME").map(String::as_str),
            Some("script")
        );
        // Any other variable of this process's environment stays out.
        let ours: Vec<String> = std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| k != "PATH" && !PASSED_THROUGH.contains(&k.as_str()))
            .filter(|k| {
                !matches!(k.as_str(), "TZ" | "LANG" | "PWD" | "SHLVL" | "_")
                    && !k.starts_with("LC_")
            })
            .collect();
        assert!(
            !ours.is_empty(),
            "the test needs a variable of its own to check"
        );
        for k in &ours {
            assert!(
                !seen.contains_key(k),
                "{k} leaked into the function's environment"
            );
        }
    }

    #[tokio::test]
    async fn an_error_type_may_come_in_the_runtimes_header() {
        let api = Arc::new(Api::default());
        let (tx, rx) = oneshot::channel();
        api.in_flight
            .lock()
            .expect("lock")
            .insert("r".to_owned(), tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(axum::serve(listener, router(api)).into_future());
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let body = b"not json";
        let head = format!(
            "POST /2018-06-01/runtime/invocation/r/error HTTP/1.1\r\nhost: 127.0.0.1\r\nlambda-runtime-function-error-type: Runtime.Custom\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("head");
        s.write_all(body).await.expect("body");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        assert!(
            out.starts_with(b"HTTP/1.1 202"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(
            rx.await.expect("settled"),
            Outcome::Error {
                error_type: "Runtime.Custom".into(),
                message: "not json".into()
            }
        );
    }

    #[tokio::test]
    async fn a_page_on_another_host_or_origin_cannot_answer_an_invocation() {
        let api = Arc::new(Api::default());
        let (tx, mut rx) = oneshot::channel();
        api.in_flight
            .lock()
            .expect("lock")
            .insert("r".to_owned(), tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(axum::serve(listener, router(api)).into_future());
        for headers in [
            "host: rebound.example\r\n",
            "host: 127.0.0.1\r\norigin: https://evil.example\r\n",
        ] {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let head = format!(
                "POST /2018-06-01/runtime/invocation/r/response HTTP/1.1\r\n{headers}content-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
            s.write_all(head.as_bytes()).await.expect("request");
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
            let out = String::from_utf8_lossy(&out);
            assert!(out.starts_with("HTTP/1.1 403"), "{headers}: {out}");
        }
        assert!(
            rx.try_recv().is_err(),
            "a refused request settled the invocation"
        );
        // The function itself, from this machine, still can.
        let answer = post_raw(addr, "/2018-06-01/runtime/invocation/r/response", b"{}").await;
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
        assert!(matches!(rx.await, Ok(Outcome::Ok(_))));
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
