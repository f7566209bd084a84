//! An acknowledged PutEvents survives kill -9: every matching queue has every event after a
//! restart, none twice.

use super::*;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn a_thousand_acknowledged_events_reach_all_three_queues_after_kill_9() {
    let mut dev = Dev::endpoint();
    let client = dev.eventbridge();
    let mut urls = Vec::new();
    for name in ["a", "b", "c"] {
        let (url, arn) = queue(&dev, name).await;
        rule_to(
            &client,
            "default",
            name,
            &json!({"source": ["overtime"]}),
            target("t", &arn).build().expect("t"),
        )
        .await;
        urls.push(url);
    }
    let mut ids = HashSet::new();
    for batch in 0..100 {
        let entries: Vec<_> = (0..10)
            .map(|i| entry("default", "tick", &json!({"n": batch * 10 + i})))
            .collect();
        let out = client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .expect("PutEvents");
        assert_eq!(out.failed_entry_count(), 0);
        ids.extend(
            out.entries()
                .iter()
                .filter_map(|e| e.event_id().map(str::to_owned)),
        );
    }
    assert_eq!(ids.len(), 1000);
    // Right after the last answer: nothing was given time to be written later.
    dev.kill9();
    dev.restart();
    for url in &urls {
        let got = drain(&dev, url, 1000).await;
        let seen: HashSet<String> = got
            .iter()
            .filter_map(|m| {
                serde_json::from_str::<serde_json::Value>(m.body().unwrap_or_default()).ok()
            })
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(got.len(), 1000, "{url}: every event once");
        assert_eq!(seen, ids, "{url}");
    }
}
