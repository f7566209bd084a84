//! Fake SQS servers over real HTTP, for the answers moto never gives: throttling, `OverLimit`,
//! partial batch failures. For unit-level checks of error handling only.

use crate::server::REGION;
use aws_sdk_sqs::Client;

/// An HTTP server on 127.0.0.1 that answers every request with one SQS JSON error, and
/// counts the requests it gets.
pub async fn failing_sqs(
    code: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                let _ = socket.read(&mut buf).await;
                let body = format!(
                    r#"{{"__type":"com.amazonaws.sqs#{code}","message":"test server says {code}"}}"#
                );
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-query-error: {code};Sender\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

/// An SQS client for `endpoint` that does not retry, so each call is one request.
pub fn client_for(endpoint: &str) -> Client {
    client_with_attempts(endpoint, 1)
}

/// A client for `endpoint` whose SDK retries make `attempts` attempts in all.
pub fn client_with_attempts(endpoint: &str, attempts: u32) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .retry_config(
            aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(attempts),
        )
        .build();
    Client::from_conf(config)
}

/// What a [`flaky_batch_sqs`] server saw: the ids of the entries of each `SendMessageBatch` call.
pub type SeenBatches = std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>;

/// An HTTP server that speaks just enough of SQS's `SendMessageBatch`: every entry succeeds,
/// except that an entry whose body contains `fail-once` fails with a transient `InternalError`
/// the first time it is seen. Records each call's entries (by `payload.id`).
pub async fn flaky_batch_sqs() -> (String, SeenBatches) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: SeenBatches = std::sync::Arc::default();
    let failed_once = std::sync::Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<String>::new(),
    ));
    let calls = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let calls = calls.clone();
            let failed_once = failed_once.clone();
            tokio::spawn(async move {
                loop {
                    // Read one request: headers, then content-length bytes of body.
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let header_end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..header_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < header_end + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let request: serde_json::Value =
                        serde_json::from_slice(&buf[header_end..header_end + length])
                            .unwrap_or_default();
                    let mut ids = Vec::new();
                    let mut successful = Vec::new();
                    let mut failed = Vec::new();
                    for e in request["Entries"].as_array().cloned().unwrap_or_default() {
                        let body = e["MessageBody"].as_str().unwrap_or_default();
                        let env: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                        let payload_id =
                            env["payload"]["id"].as_str().unwrap_or_default().to_owned();
                        ids.push(payload_id.clone());
                        let first_time = failed_once
                            .lock()
                            .map(|mut f| f.insert(payload_id.clone()))
                            .unwrap_or(false);
                        if body.contains("fail-once") && first_time {
                            failed.push(serde_json::json!({"Id": e["Id"], "Code": "InternalError", "Message": "try again", "SenderFault": false}));
                        } else {
                            successful.push(serde_json::json!({"Id": e["Id"], "MessageId": format!("m-{payload_id}"), "MD5OfMessageBody": "00000000000000000000000000000000"}));
                        }
                    }
                    if let Ok(mut c) = calls.lock() {
                        c.push(ids);
                    }
                    let body =
                        serde_json::json!({"Successful": successful, "Failed": failed}).to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), seen)
}
