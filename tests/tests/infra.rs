//! `overtime infra render`: the checked-in template equals a fresh render, and it passes
//! cfn-lint (pinned to 1.53.3, which still runs the SAM translator), which catches broken ones.

use overtime_tests::lambda::workspace_bin;
use overtime_tests::output_text as text;
use overtime_tests::server::{repo_root, venv_tool};
use overtime_tests::temp_project;
use std::path::Path;
use std::process::{Command, Output};

fn overtime(args: &[&str]) -> Output {
    Command::new(workspace_bin("overtime"))
        .args(args)
        .output()
        .expect("run overtime")
}

fn cfn_lint(template: &Path) -> Output {
    Command::new(venv_tool("cfn-lint"))
        .arg(template)
        .output()
        .expect("run cfn-lint (scripts/test installs it into .venv)")
}

#[test]
fn the_checked_in_template_is_a_fresh_render() {
    let root = repo_root();
    let out = overtime(&[
        "infra",
        "render",
        "--check",
        "--root",
        root.to_str().unwrap_or("."),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let rendered = overtime(&[
        "infra",
        "render",
        "--stdout",
        "--root",
        root.to_str().unwrap_or("."),
    ]);
    let checked_in = std::fs::read_to_string(root.join("infra/template.yaml")).expect("template");
    assert_eq!(String::from_utf8_lossy(&rendered.stdout), checked_in);
}

#[test]
fn a_changed_declaration_is_drift() {
    let root = repo_root();
    let dir = temp_project("drift");
    let declaration =
        std::fs::read_to_string(root.join("infra/overtime.toml")).expect("declaration");
    std::fs::write(
        dir.join("infra/overtime.toml"),
        declaration.replace("timeout = 60", "timeout = 90"),
    )
    .expect("write");
    std::fs::copy(
        root.join("infra/template.yaml"),
        dir.join("infra/template.yaml"),
    )
    .expect("copy");
    let root_arg = dir.to_str().unwrap_or(".");

    let out = overtime(&["infra", "render", "--check", "--root", root_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("differs from a fresh render"),
        "{}",
        text(&out)
    );

    let out = overtime(&["infra", "render", "--root", root_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let fresh = std::fs::read_to_string(dir.join("infra/template.yaml")).expect("template");
    // The worker's timeout and the queue's visibility timeout (6 × 90) follow the declaration.
    assert!(fresh.contains("Timeout: 90"), "{fresh}");
    assert!(fresh.contains("VisibilityTimeout: 540"), "{fresh}");
    let out = overtime(&["infra", "render", "--check", "--root", root_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_declaration_renders_nothing() {
    let dir = temp_project("bad-declaration");
    std::fs::write(
        dir.join("infra/overtime.toml"),
        "[functions.worker]\ntimeout = 1000\n",
    )
    .expect("write");
    let out = overtime(&["infra", "render", "--root", dir.to_str().unwrap_or(".")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("infra/overtime.toml:2:11: error: timeout must be 1-900 seconds"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("infra/template.yaml").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_template_passes_cfn_lint() {
    let out = cfn_lint(&repo_root().join("infra/template.yaml"));
    assert!(out.status.success(), "cfn-lint: {}", text(&out));
}

#[test]
fn cfn_lint_catches_errors_inside_sam_events() {
    let template =
        std::fs::read_to_string(repo_root().join("infra/template.yaml")).expect("template");
    let dir = temp_project("broken-template");
    let cases = [
        // A typo in the SQS event's FunctionResponseTypes: without it, failures retry whole batches.
        (
            "\"ReportBatchItemFailures\"",
            "\"ReportBatchItemFailure\"",
            "E3030",
        ),
        // A batch size Lambda refuses, inside the SAM event.
        ("BatchSize: 10", "BatchSize: 0", "E3034"),
        // A schedule with a flexible time window mode that does not exist.
        ("Mode: \"OFF\"", "Mode: \"NEVER\"", "E3030"),
    ];
    for (good, bad, rule) in cases {
        assert!(
            template.contains(good),
            "the template has no `{good}` to break"
        );
        let path = dir.join("infra/template.yaml");
        std::fs::write(&path, template.replace(good, bad)).expect("write");
        let out = cfn_lint(&path);
        assert!(!out.status.success(), "cfn-lint accepted `{bad}`");
        assert!(
            text(&out).contains(rule),
            "`{bad}`: expected {rule} in {}",
            text(&out)
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Every kind of thing the declaration can say, rendered and linted: a FIFO queue consumed by a
/// function that sends nowhere, a schedule that targets a queue, a disabled one, a function URL,
/// a function that sends events, listeners with and without filters, one on the FIFO queue.
const RICH: &str = r#"
[project]
name = "shop"

[functions.api]
url = true
events = true
queues = { ORDERS_URL = "orders", JOBS_URL = "jobs" }
environment = { MODE = "live", ON = "yes" }

[functions.orders]
timeout = 120
architecture = "x86_64"

[functions.worker]
runs = true

[queues.orders]
fifo = true

[queues.jobs]
delay = 30

[[mappings]]
queue = "orders"
function = "orders"
batch_size = 5

[[mappings]]
queue = "jobs"
function = "worker"
batch_size = 100
batching_window = 10
max_concurrency = 5

[schedules.nightly-report]
expression = "cron(0 3 ? * MON-FRI *)"
timezone = "Europe/Paris"
queue = "orders"
job = "report"
payload = { kind = "daily" }

[schedules.warm]
expression = "rate(5 minutes)"
function = "api"
enabled = false

[events."order.placed"]
fields = ["total", "coupon", "address.country"]

[[listeners]]
event = "order.placed"
job = "fulfil"
queue = "orders"

[[listeners]]
name = "big-order-alert"
event = "order.placed"
job = "alert"
queue = "jobs"
filter = '{"total": [{"numeric": [">=", 1000.5]}], "coupon": [null], "address": {"country": [{"anything-but": ["FR", "DE"]}]}}'

[[listeners]]
event = "user.signed_up"
job = "welcome.email"
name = "welcome"
queue = "jobs"
filter = { plan = [{ prefix = "pro" }] }
"#;

#[test]
fn a_rich_declaration_renders_a_template_cfn_lint_accepts() {
    for mode in ["template", "sync"] {
        let dir = temp_project(&format!("rich-{mode}"));
        let declaration = RICH.replace(
            "name = \"shop\"",
            &format!("name = \"shop\"\nschedules = \"{mode}\""),
        );
        std::fs::write(dir.join("infra/overtime.toml"), declaration).expect("write");
        let out = overtime(&["infra", "render", "--root", dir.to_str().unwrap_or(".")]);
        assert!(out.status.success(), "{}", text(&out));
        let path = dir.join("infra/template.yaml");
        let template = std::fs::read_to_string(&path).expect("template");
        let lint = cfn_lint(&path);
        assert!(
            lint.status.success(),
            "{mode}: cfn-lint: {}\n{template}",
            text(&lint)
        );
        assert!(
            template.contains("ContentBasedDeduplication: true"),
            "{template}"
        );
        assert!(
            template.contains("\"ON\": \"yes\""),
            "a YAML 1.1 boolean key stays a string: {template}"
        );
        assert!(template.contains("MaximumBatchingWindowInSeconds: 10"));
        assert!(template.contains("\"sqs:ChangeMessageVisibility\""));
        assert!(
            template.contains("AWS::DynamoDB::Table"),
            "the run store for `runs = true`"
        );
        assert!(template.contains("Fn::Sub: \"dynamodb:${RunsTable}\""));
        // With `schedules = "sync"`, the template keeps the role and the dead-letter queue for
        // `overtime schedules sync`, but declares no schedule itself.
        assert_eq!(
            template.contains("AWS::Scheduler::Schedule\""),
            mode == "template",
            "{mode}"
        );
        assert!(template.contains("RoleName: \"shop-scheduler\""));
        assert!(template.contains("QueueName: \"shop-schedules-dlq\""));
        // Events: the bus, three rules, their dead-letter queue, a policy per target queue.
        assert!(template.contains("Name: \"shop-events\""), "{template}");
        assert_eq!(template.matches("Type: \"AWS::Events::Rule\"").count(), 3);
        assert_eq!(
            template.matches("Type: \"AWS::SQS::QueuePolicy\"").count(),
            3
        );
        assert!(template.contains("Name: \"shop-big-order-alert\""));
        assert!(template.contains(r#"{"detail":{"data":{"address":{"country":[{"anything-but":["FR","DE"]}]},"coupon":[null],"total":[{"numeric":[">=",1000.5]}]}},"detail-type":["order.placed"],"source":["overtime"]}"#), "{template}");
        assert!(
            template.contains(r#"MessageGroupId: "fulfil""#),
            "a FIFO target needs a group: {template}"
        );
        assert!(template.contains(r#""events:PutEvents""#));
        assert!(template.contains("OVERTIME_EVENT_BUS:"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
