//! A page in the developer's browser cannot reach `overtime dev`: requests naming another host
//! (DNS rebinding) are refused, and so are state changes from another origin; SDKs and the
//! dashboard's own page are not affected.

use super::*;

const SEND: &str = "AmazonSQS.SendMessage";

/// A POST of one SendMessage to `dev`'s endpoint with extra headers; the status and body.
async fn send_with(dev: &Dev, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(&dev.endpoint)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", SEND)
        .body(serde_json::json!({ "QueueUrl": url, "MessageBody": "from a page" }).to_string());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("request");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn pages_on_other_hosts_and_origins_are_refused_and_sdks_are_not() {
    let dev = Dev::endpoint();
    let client = dev.client(1).await;
    let url = create(&client, "guarded", &[]).await;
    let own_origin = dev.endpoint.clone();

    // DNS rebinding: the page's name resolves to 127.0.0.1, its requests still name it.
    for path in ["/", "/_overtime/state"] {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", dev.endpoint))
            .header("host", format!("rebound.example:{}", dev.port))
            .send()
            .await
            .expect("request");
        assert_eq!(
            resp.status().as_u16(),
            403,
            "GET {path} with a foreign Host"
        );
        let body = resp.text().await.unwrap_or_default();
        assert!(body.contains("Host"), "the refusal says why: {body}");
    }
    let (status, _) = send_with(&dev, &url, &[("host", "rebound.example")]).await;
    assert_eq!(status, 403, "a send with a foreign Host");

    // A cross-site form post or fetch: the browser says where it comes from.
    for headers in [
        &[("origin", "https://evil.example")][..],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
    ] {
        let (status, body) = send_with(&dev, &url, headers).await;
        assert_eq!(status, 403, "{headers:?}: {body}");
    }
    let trigger = reqwest::Client::new()
        .post(format!("{}/_overtime/trigger/anything", dev.endpoint))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(trigger.status().as_u16(), 403, "a cross-origin trigger");

    // None of the refused sends reached the queue.
    let depth = queue_attribute(
        &client,
        &url,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await;
    assert_eq!(
        depth.as_deref(),
        Some("0"),
        "a refused request changed state"
    );

    // The dashboard's own page, an SDK and plain HTTP from this machine all go through.
    let (status, body) = send_with(&dev, &url, &[("origin", own_origin.as_str())]).await;
    assert_eq!(status, 200, "same-origin send: {body}");
    client
        .send_message()
        .queue_url(&url)
        .message_body("from the sdk")
        .send()
        .await
        .expect("an SDK send");
    for host in [
        format!("localhost:{}", dev.port),
        format!("[::1]:{}", dev.port),
    ] {
        let resp = reqwest::Client::new()
            .get(format!("{}/_overtime/state", dev.endpoint))
            .header("host", host.as_str())
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 200, "Host {host}");
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "no CORS header lets another origin read the answer"
        );
    }
    let depth = queue_attribute(
        &client,
        &url,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await;
    assert_eq!(depth.as_deref(), Some("2"));
}
