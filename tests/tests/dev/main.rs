//! `overtime dev` as a real process: its SQS endpoint at volume and across kill -9, its
//! errors, and the whole topology end to end through real function processes.

mod dashboard;
mod errors;
mod events;
mod guard;
mod semantics;
mod startup;
mod topology;
mod volume;

use aws_sdk_sqs::error::ProvideErrorMetadata as _;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use overtime::Queue;
use overtime_tests::dev::{Dev, fresh_state};
use overtime_tests::jobs::Record;
use overtime_tests::{output_text, temp_project, venv_tool};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> String {
    client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .expect("GetQueueUrl")
        .queue_url
        .expect("a queue URL")
}

/// One attribute of a queue.
async fn queue_attribute(
    client: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
) -> Option<String> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&name).cloned())
}

async fn create(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attrs: &[(QueueAttributeName, String)],
) -> String {
    let mut req = client.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), v.clone());
    }
    req.send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("URL")
}

fn bin_dir() -> std::path::PathBuf {
    overtime_tests::lambda::workspace_bin("overtime")
        .parent()
        .map(std::path::PathBuf::from)
        .unwrap_or_default()
}

/// The top of a Python function that speaks the runtime API.
const PY_API: &str = "import json, os, time, urllib.request\napi = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime'\ndef post(url, body):\n    urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(body).encode(), method='POST'))\n";

fn script(path: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    // The system Python: a function gets Lambda's environment, not the shell's, so a version
    // manager's shim on PATH (which needs the shell's variables) would not start.
    let python = ["/usr/bin/python3", "/bin/python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or("/usr/bin/env python3");
    std::fs::write(path, format!("#!{python}\n{body}")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
