//! The SQS-compatible server the tests talk to, and fresh queues on it.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The region and dummy credentials every test process uses.
pub const REGION: &str = "us-east-1";

/// A connection to the test server.
#[derive(Clone, Debug)]
pub struct Sqs {
    /// `http://127.0.0.1:PORT`. It serves DynamoDB and EventBridge too (moto's server and
    /// `overtime dev` alike), so the run store and events are tested against both.
    pub endpoint: String,
    /// A client pointed at it.
    pub client: Client,
    /// The endpoint for the other AWS services the tests use (Scheduler): moto's.
    pub aws_endpoint: String,
}

static MOTO: OnceLock<String> = OnceLock::new();

/// moto's server for every AWS service: `OVERTIME_TEST_AWS_ENDPOINT`, or one started for
/// this test binary on a free loopback port (and stopped when the binary exits).
pub fn moto_endpoint() -> String {
    MOTO.get_or_init(|| {
        std::env::var("OVERTIME_TEST_AWS_ENDPOINT").unwrap_or_else(|_| start_moto())
    })
    .clone()
}

/// The SQS server under test: `OVERTIME_TEST_SQS_ENDPOINT` (moto's, or `overtime dev`'s: the
/// same suite runs against both), else moto's.
pub async fn sqs() -> Sqs {
    let endpoint = std::env::var("OVERTIME_TEST_SQS_ENDPOINT").unwrap_or_else(|_| moto_endpoint());
    connect(endpoint).await
}

async fn connect(endpoint: String) -> Sqs {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    Sqs {
        endpoint,
        client: Client::new(&config),
        aws_endpoint: moto_endpoint(),
    }
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A tool from the project's virtualenv (`.venv/bin`, made by `scripts/test`), else from PATH.
pub fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("OVERTIME_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let path = venv.join("bin").join(name);
    if path.exists() {
        path
    } else {
        PathBuf::from(name)
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn start_moto() -> String {
    let port = free_port();
    // moto's server with DynamoDB's conditional writes made atomic, as they are on AWS.
    let python = venv_tool("python3");
    let moto = repo_root().join("scripts/moto-server");
    // A watchdog shell stops moto when this test binary exits, however it exits.
    let script = format!(
        "{python} {moto} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill $m",
        python = python.display(),
        moto = moto.display(),
        pid = std::process::id()
    );
    // The watchdog outlives this function on purpose; it exits with the test binary.
    let watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("start moto_server (run scripts/test, or pip install 'moto[server]')");
    std::mem::forget(watchdog);
    assert!(
        wait_for_port(port, Duration::from_secs(60)),
        "moto_server did not start on port {port}"
    );
    format!("http://127.0.0.1:{port}")
}

/// Options for a test queue.
#[derive(Debug, Clone, Default)]
pub struct QueueSpec {
    /// Visibility timeout in seconds (default 30).
    pub visibility: Option<u32>,
    /// With a dead-letter queue and this `maxReceiveCount`.
    pub max_receive: Option<u32>,
    /// FIFO.
    pub fifo: bool,
}

impl QueueSpec {
    /// A standard queue with a dead-letter queue after `max_receive` receives.
    pub fn with_dlq(max_receive: u32) -> Self {
        Self {
            max_receive: Some(max_receive),
            ..Self::default()
        }
    }
}

/// A fresh queue (and its dead-letter queue, if asked for).
#[derive(Debug, Clone)]
pub struct TestQueue {
    /// The queue URL.
    pub url: String,
    /// The queue ARN.
    pub arn: String,
    /// The dead-letter queue URL.
    pub dlq: Option<String>,
}

impl Sqs {
    /// Creates a uniquely named queue.
    pub async fn queue(&self, prefix: &str, spec: QueueSpec) -> TestQueue {
        let unique = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let suffix = if spec.fifo { ".fifo" } else { "" };
        let mut attrs: HashMap<QueueAttributeName, String> = HashMap::new();
        if spec.fifo {
            attrs.insert(QueueAttributeName::FifoQueue, "true".into());
        }
        let dlq = match spec.max_receive {
            Some(max) => {
                let dlq = self
                    .create(&format!("{unique}-dlq{suffix}"), attrs.clone())
                    .await;
                let dlq_arn = self.arn(&dlq).await;
                attrs.insert(
                    QueueAttributeName::RedrivePolicy,
                    serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max})
                        .to_string(),
                );
                Some(dlq)
            }
            None => None,
        };
        attrs.insert(
            QueueAttributeName::VisibilityTimeout,
            spec.visibility.unwrap_or(30).to_string(),
        );
        let url = self.create(&format!("{unique}{suffix}"), attrs).await;
        let arn = self.arn(&url).await;
        TestQueue { url, arn, dlq }
    }

    async fn create(&self, name: &str, attrs: HashMap<QueueAttributeName, String>) -> String {
        self.client
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attrs))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("a queue URL")
    }

    /// The queue's ARN.
    pub async fn arn(&self, url: &str) -> String {
        self.client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("QueueArn")
    }

    /// Receives once (up to 10 messages), with receive counts, group ids and attributes.
    pub async fn receive(&self, url: &str, wait_secs: i32) -> Vec<aws_sdk_sqs::types::Message> {
        self.client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default()
    }

    /// Receives (without deleting) until `n` messages are in hand; panics after 20 s.
    pub async fn receive_n(&self, url: &str, n: usize) -> Vec<aws_sdk_sqs::types::Message> {
        let start = Instant::now();
        let mut got = Vec::new();
        while got.len() < n && start.elapsed() < Duration::from_secs(20) {
            got.extend(self.receive(url, 1).await);
        }
        assert_eq!(got.len(), n, "received {} of {n} messages", got.len());
        got
    }

    /// Receives and deletes until `want` messages were seen or `timeout` passes.
    pub async fn drain(
        &self,
        url: &str,
        want: usize,
        timeout: Duration,
    ) -> Vec<aws_sdk_sqs::types::Message> {
        let start = Instant::now();
        let mut seen = Vec::new();
        while seen.len() < want && start.elapsed() < timeout {
            let batch = self.receive(url, 1).await;
            for m in &batch {
                if let Some(handle) = m.receipt_handle() {
                    self.client
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("DeleteMessage");
                }
            }
            seen.extend(batch);
        }
        seen
    }

    /// Visible plus in-flight plus delayed messages, as the queue reports them.
    pub async fn depth(&self, url: &str) -> (u64, u64, u64) {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .unwrap_or_default();
        let get = |n: QueueAttributeName| attrs.get(&n).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        )
    }

    /// A fresh run-store table on this server's DynamoDB (moto's or `overtime dev`'s: the
    /// table behind `dynamodb:TABLE` for the functions it runs).
    pub async fn run_table(&self) -> overtime::store::DynamoStore {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
            .load()
            .await;
        let table = format!("runs-{}", uuid::Uuid::new_v4().simple());
        let store =
            overtime::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
        store.create_table().await.expect("create table");
        store
    }

    /// An EventBridge client for this server.
    pub async fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_eventbridge::config::Credentials::for_tests())
            .load()
            .await;
        aws_sdk_eventbridge::Client::new(&config)
    }

    /// A fresh bus on this server with one rule sending overtime's events named `name` to a
    /// fresh queue of the same server, as EventBridge's shape (no input transformer); the
    /// bus's name and the queue's URL.
    pub async fn bus_to_queue(&self, name: &str) -> (String, String) {
        let client = self.eventbridge().await;
        let bus = format!("bus-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        client
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("CreateEventBus");
        let queue = self.queue("events", QueueSpec::default()).await;
        let pattern = serde_json::json!({"source": ["overtime"], "detail-type": [name]});
        client
            .put_rule()
            .name("listener")
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("PutRule");
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("queue")
            .arn(&queue.arn)
            .build()
            .expect("target");
        client
            .put_targets()
            .rule("listener")
            .event_bus_name(&bus)
            .targets(target)
            .send()
            .await
            .expect("PutTargets");
        (bus, queue.url)
    }

    /// Environment for a child process to reach this server with the standard AWS config.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SQS", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL", self.aws_endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

/// A string message attribute of a received message.
pub fn attr(m: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .map(str::to_owned)
}

/// The received message's `ApproximateReceiveCount`.
pub fn receive_count(m: &aws_sdk_sqs::types::Message) -> u32 {
    m.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
