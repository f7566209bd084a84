//! The `overtime` command against a real SQS-compatible server.

use overtime::Queue;
use overtime::worker::Stop;
use overtime_tests::jobs::{Ledger, Refuses, worker};
use overtime_tests::lambda::workspace_bin;
use overtime_tests::output_text as text;
use overtime_tests::{QueueSpec, Sqs, attr, sqs};
use std::process::Output;
use std::time::Duration;

fn overtime(sqs: &Sqs, args: &[&str]) -> Output {
    std::process::Command::new(workspace_bin("overtime"))
        .args(args)
        .envs(sqs.env())
        .output()
        .expect("run overtime")
}

#[tokio::test]
async fn send_puts_a_job_on_a_queue_by_url_or_name() {
    let sqs = sqs().await;
    let q = sqs.queue("cli-send", QueueSpec::default()).await;
    let job = r#"{"job":"record","payload":{"id":"from-cli"},"key":"cli-1"}"#;
    let out = overtime(&sqs, &["send", &q.url, job]);
    assert!(out.status.success(), "{}", text(&out));
    let name = q.url.rsplit('/').next().unwrap_or_default().to_owned();
    let out = overtime(
        &sqs,
        &[
            "send",
            &name,
            r#"{"job":"record","payload":{"id":"by-name"}}"#,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));

    let got = sqs.drain(&q.url, 2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|m| attr(m, "overtime.job").as_deref() == Some("record"))
    );
    assert!(
        got.iter()
            .any(|m| attr(m, "overtime.key").as_deref() == Some("cli-1"))
    );
    assert!(
        got.iter()
            .any(|m| m.body().unwrap_or_default().contains("\"by-name\""))
    );

    let bad = overtime(&sqs, &["send", &q.url, "{not json"]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("invalid job JSON"), "{}", text(&bad));
    let help = overtime(&sqs, &["dlq", "--help"]);
    assert!(help.status.success() && text(&help).contains("redrive"));
}

#[tokio::test]
async fn dlq_list_says_why_and_redrive_moves_back() {
    let sqs = sqs().await;
    let q = sqs.queue("cli-dlq", QueueSpec::with_dlq(5)).await;
    Queue::new(sqs.client.clone(), &q.url)
        .send(Refuses {
            id: "acct-42".into(),
        })
        .await
        .expect("sent");
    // Dead-letter it through the real worker.
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let w = worker(Ledger::default());
    let dlq = q.dlq.clone().expect("dlq");
    let stop = async {
        let start = std::time::Instant::now();
        while sqs.depth(&dlq).await.0 == 0 && start.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    w.poll(queue, Stop::when(stop)).await.expect("poller");

    let out = overtime(&sqs, &["dlq", "list", &q.url, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?} {}", text(&out));
    assert_eq!(lines[0]["kind"], "permanent");
    assert_eq!(lines[0]["job"], "refuses");
    assert!(
        lines[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("account acct-42 was deleted"))
    );
    // Listing leaves it there.
    assert_eq!(sqs.depth(&dlq).await.0 + sqs.depth(&dlq).await.1, 1);

    let out = overtime(&sqs, &["dlq", "redrive", &q.url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("redrove 1"), "{}", text(&out));
    let back = sqs.drain(&q.url, 1, Duration::from_secs(10)).await;
    assert_eq!(
        back.len(),
        1,
        "source {:?} dlq {:?}",
        sqs.depth(&q.url).await,
        sqs.depth(&dlq).await
    );
    assert_eq!(attr(&back[0], "overtime.job").as_deref(), Some("refuses"));
    assert_eq!(
        attr(&back[0], "overtime.dlq.kind"),
        None,
        "a fresh start, without the old reason"
    );
    assert_eq!(sqs.depth(&dlq).await, (0, 0, 0));
}
