//! Tests of the runtime: functions written in Python against the runtime API, and the API's
//! routes called directly.

use super::api::{Api, router};
use super::*;
use std::collections::HashMap;
use std::time::Instant;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{Notify, oneshot};

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
            !matches!(k.as_str(), "TZ" | "LANG" | "PWD" | "SHLVL" | "_") && !k.starts_with("LC_")
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
