//! Bad requests get the errors SQS gives them, and the server keeps serving; boto3 unchanged.

use super::*;

async fn raw(
    dev: &Dev,
    target: Option<&str>,
    content_type: &str,
    body: String,
) -> (u16, serde_json::Value, Option<String>) {
    let mut req = reqwest::Client::new()
        .post(&dev.endpoint)
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = target {
        req = req.header("x-amz-target", t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let query = resp
        .headers()
        .get("x-amzn-query-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json = resp.json().await.unwrap_or_default();
    (status, json, query)
}

#[tokio::test]
async fn bad_requests_get_sqs_errors_and_the_server_keeps_serving() {
    let dev = Dev::endpoint();
    let client = dev.client(1).await;
    let url = create(&client, "bad", &[]).await;
    let json = "application/x-amz-json-1.0";
    let (status, body, _) = raw(
        &dev,
        Some("AmazonSQS.SendMessage"),
        json,
        "{not json".into(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#SerializationException"
    );
    let (status, body, _) = raw(&dev, Some("AmazonSQS.LaunchRockets"), json, "{}".into()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("LaunchRockets"))
    );
    let (status, body, _) = raw(
        &dev,
        None,
        "application/x-www-form-urlencoded",
        "Action=ListQueues".into(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("JSON 1.0")),
        "{body}"
    );
    let (status, _, query) = raw(
        &dev,
        Some("AmazonSQS.SendMessage"),
        json,
        serde_json::json!({"QueueUrl": url, "MessageBody": "x".repeat(7 * 1024 * 1024)})
            .to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(query.as_deref(), Some("InvalidParameterValue;Sender"));
    let (status, _, query) = raw(
        &dev,
        Some("AmazonSQS.SendMessageBatch"),
        json,
        serde_json::json!({"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "x".repeat(7 * 1024 * 1024)}
        ]})
        .to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        query.as_deref(),
        Some("AWS.SimpleQueueService.BatchRequestTooLong;Sender")
    );

    // Through the SDK, the typed errors.
    let err = client
        .send_message()
        .queue_url(format!("{}/000000000000/nope", dev.endpoint))
        .message_body("x")
        .send()
        .await
        .expect_err("no queue");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_queue_does_not_exist()),
        "{err:?}"
    );
    let err = client
        .send_message()
        .queue_url(format!("{}/123456789012/bad", dev.endpoint))
        .message_body("x")
        .send()
        .await
        .expect_err("other account");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_queue_does_not_exist())
    );
    let err = client
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(1_048_577))
        .send()
        .await
        .expect_err("too big");
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(err.message().is_some_and(|m| m.contains("1048576")));
    let err = client
        .send_message()
        .queue_url(&url)
        .message_body("bad \u{1} char")
        .send()
        .await
        .expect_err("bad chars");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_message_contents())
    );
    let err = client
        .delete_message()
        .queue_url(&url)
        .receipt_handle("garbage!")
        .send()
        .await
        .expect_err("bad handle");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_receipt_handle_is_invalid())
    );
    let mut batch = client.send_message_batch().queue_url(&url);
    for i in 0..11 {
        batch = batch.entries(
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body("x")
                .build()
                .expect("entry"),
        );
    }
    let err = batch.send().await.expect_err("11 entries");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_too_many_entries_in_batch_request())
    );
    let big = "y".repeat(600_000);
    let err = client
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body(&big)
                .build()
                .expect("entry"),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("b")
                .message_body(&big)
                .build()
                .expect("entry"),
        )
        .send()
        .await
        .expect_err("batch over 1 MiB");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_batch_request_too_long())
    );
    // A bad entry fails alone; the good one in the batch goes through.
    let out = client
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("good")
                .message_body("fine")
                .build()
                .expect("entry"),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("bad")
                .message_body("x")
                .delay_seconds(901)
                .build()
                .expect("entry"),
        )
        .send()
        .await
        .expect("batch");
    assert_eq!(out.successful().len(), 1);
    assert_eq!(out.failed().first().map(|f| f.id()), Some("bad"));
    assert_eq!(
        out.failed().first().map(|f| f.code()),
        Some("InvalidParameterValue")
    );
    let err = client
        .create_queue()
        .queue_name("bad")
        .attributes(QueueAttributeName::VisibilityTimeout, "99")
        .send()
        .await
        .expect_err("same name, other attributes");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_queue_name_exists())
    );
    let err = client
        .create_queue()
        .queue_name("vis")
        .attributes(QueueAttributeName::VisibilityTimeout, "43201")
        .send()
        .await
        .expect_err("out of range");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_attribute_value())
    );
    // After all that, the server still serves.
    let m = client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .expect("receive");
    assert_eq!(
        m.messages
            .unwrap_or_default()
            .first()
            .and_then(|m| m.body.clone())
            .as_deref(),
        Some("fine")
    );
}

#[test]
fn boto3_and_its_md5_checks_work_unchanged() {
    // boto3 (installed with moto) verifies MD5OfMessageBody and MD5OfMessageAttributes.
    let dev = Dev::endpoint();
    let script = r#"
import boto3, os, sys
sqs = boto3.client("sqs", endpoint_url=os.environ["EP"], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
url = sqs.create_queue(QueueName="py")["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes={
    "n": {"DataType": "Number", "StringValue": "42"},
    "s": {"DataType": "String", "StringValue": "ünïcode"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}})
r = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "one"}, {"Id": "2", "MessageBody": "two"}])
assert len(r["Successful"]) == 2, r
got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
assert sorted(m["Body"] for m in got) == ["héllo", "one", "two"], got
m = [m for m in got if m["Body"] == "héllo"][0]
assert m["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01\xff"
print("boto3 ok", len(got))
"#;
    let out = std::process::Command::new(venv_tool("python"))
        .args(["-c", script])
        .env("EP", &dev.endpoint)
        .output()
        .expect("run python");
    let text = output_text(&out);
    assert!(
        out.status.success() && text.contains("boto3 ok 3"),
        "{text}"
    );
}
