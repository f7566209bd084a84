//! Every rule of the declaration and of `vercel.json`, located at file, line and column.

use super::*;

const GOOD: &str = r#"
[project]
name = "shop"

[functions.signup]
queues = { OVERTIME_QUEUE_URL = "jobs" }

[functions.worker]
timeout = 120
memory = 512
architecture = "x86_64"

[queues.jobs]

[queues.orders]
fifo = true
visibility_timeout = 900
max_receives = 8

[[mappings]]
queue = "jobs"
function = "worker"
batch_size = 100
batching_window = 5
max_concurrency = 4

[[mappings]]
queue = "orders"
function = "worker"

[schedules.hourly]
expression = "cron(0 * * * ? *)"
function = "signup"
payload = { region = "eu" }

[schedules.report]
expression = "cron(0 9 ? * MON *)"
timezone = "Europe/Paris"
queue = "jobs"
job = "weekly-report"
enabled = false
"#;

pub(super) fn errors(text: &str) -> Vec<String> {
    match Declaration::parse("overtime.toml", text) {
        Ok(_) => panic!("expected errors in:\n{text}"),
        Err(e) => e
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect(),
    }
}

pub(super) fn warnings(text: &str) -> Vec<String> {
    match Declaration::parse("overtime.toml", text) {
        Ok((_, w)) => w.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("unexpected errors: {e}"),
    }
}

#[test]
fn a_good_declaration_gets_aws_defaults() {
    let (d, warnings) = Declaration::parse("overtime.toml", GOOD).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(d.project.name, "shop");
    let signup = d.function("signup").expect("signup");
    assert_eq!(
        (signup.timeout, signup.memory, signup.architecture),
        (30, 256, Architecture::Arm64)
    );
    assert_eq!(signup.binary, "signup");
    assert_eq!(signup.queues["OVERTIME_QUEUE_URL"], "jobs");
    // 6 × the worker's 120 s timeout; max receives 5.
    let jobs = d.queue("jobs").expect("jobs");
    assert_eq!(
        (jobs.visibility_timeout, jobs.max_receives, jobs.fifo),
        (720, 5, false)
    );
    assert_eq!(d.queue("orders").map(|q| q.visibility_timeout), Some(900));
    assert_eq!(d.mappings[1].batch_size, 10);
    assert_eq!(d.mappings[0].max_concurrency, Some(4));
    let report = &d.schedules[1];
    assert_eq!(report.name, "report");
    assert!(!report.enabled);
    assert_eq!(report.timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(report.line, 36);
    let input: serde_json::Value = serde_json::from_str(&report.input()).expect("json");
    assert_eq!(input["job"], "weekly-report");
    assert_eq!(input["key"], "report@<aws.scheduler.scheduled-time>");
    let hourly: serde_json::Value = serde_json::from_str(&d.schedules[0].input()).expect("json");
    assert_eq!(hourly["overtime"], "tick");
    assert_eq!(hourly["payload"]["region"], "eu");
}

#[test]
fn expression_errors_point_into_the_expression() {
    let text =
        "[functions.f]\n[schedules.s]\nexpression = \"cron(0 0 * * ? 2200)\"\nfunction = \"f\"\n";
    assert_eq!(
        errors(text),
        ["overtime.toml:3:30: error: 2200 is out of range for the year field: use 1970-2199"]
    );
    let text = "[functions.f]\n[schedules.s]\nexpression = \"0 5 * * 1\"\nfunction = \"f\"\n";
    assert_eq!(
        errors(text),
        [
            "overtime.toml:3:14: error: schedules here deploy to EventBridge: write `cron(…)`, `rate(…)` or `at(…)`: the EventBridge form of `0 5 * * 1` is `cron(0 5 ? * 2 *)`"
        ]
    );
    let text = "[functions.f]\n[schedules.s]\nexpression = \"rate(1 days)\"\ntimezone = \"Europe/Pariss\"\nfunction = \"f\"\n";
    assert_eq!(
        errors(text),
        ["overtime.toml:3:22: error: a rate of 1 takes the singular unit: write `rate(1 day)`"]
    );
    let text = "[functions.f]\n[schedules.s]\nexpression = \"rate(1 day)\"\ntimezone = \"Europe/Pariss\"\nfunction = \"f\"\n";
    let e = errors(text);
    assert!(
        e[0].starts_with("overtime.toml:4:12: error: `Europe/Pariss` is not an IANA time zone"),
        "{e:?}"
    );
}

#[test]
fn every_rule_is_located() {
    let cases: &[(&str, &str)] = &[
        (
            "[functions.f]\ntimeout = 901\n",
            "overtime.toml:2:11: error: timeout must be 1-900 seconds",
        ),
        (
            "[functions.f]\nmemory = 64\n",
            "overtime.toml:2:10: error: memory must be 128-10240 MB",
        ),
        (
            "[functions.f]\narchitecture = \"arm\"\n",
            "overtime.toml:2:16: error: unknown variant `arm`, expected `arm64` or `x86_64`",
        ),
        (
            "[functions.f]\ntimout = 10\n",
            "overtime.toml:2:1: error: unknown field `timout`",
        ),
        (
            "[functions.f]\ntimeout = \"ten\"\n",
            "overtime.toml:2:11: error: invalid type: string \"ten\", expected u32",
        ),
        (
            "[functions.\"my fn\"]\n",
            "overtime.toml:1:12: error: function name `my fn` must be",
        ),
        (
            "[functions.f]\nqueues = { URL = \"nope\" }\n",
            "overtime.toml:2:18: error: no queue `nope` is declared",
        ),
        (
            "[queues.q]\nvisibility_timeout = 50000\n",
            "overtime.toml:2:22: error: visibility_timeout must be at most 43200",
        ),
        (
            "[queues.q]\nmax_receives = 0\n",
            "overtime.toml:2:16: error: max_receives must be 1-1000",
        ),
        (
            "[queues.q]\ndelay = 901\n",
            "overtime.toml:2:9: error: delay must be at most 900",
        ),
        (
            "[functions.f]\ntimeout = 60\n[queues.q]\nvisibility_timeout = 30\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\n",
            "overtime.toml:4:22: error: visibility_timeout 30 s is shorter than the consuming function's timeout 60 s",
        ),
        (
            "[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\n",
            "overtime.toml:2:9: error: no queue `q` is declared",
        ),
        (
            "[functions.f]\n[queues.q]\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\nbatch_size = 20\n",
            "overtime.toml:6:14: error: a batch_size above 10 needs batching_window",
        ),
        (
            "[functions.f]\n[queues.q]\nfifo = true\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\nbatch_size = 11\nbatching_window = 1\n",
            "overtime.toml:7:14: error: batch_size must be 1-10 for a FIFO queue",
        ),
        (
            "[functions.f]\n[queues.q]\nfifo = true\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\nbatching_window = 1\n",
            "overtime.toml:7:19: error: FIFO queues take no batching_window",
        ),
        (
            "[functions.f]\n[queues.q]\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\nmax_concurrency = 1\n",
            "overtime.toml:6:19: error: max_concurrency must be 2-1000",
        ),
        (
            "[schedules.s]\nexpression = \"rate(1 hour)\"\n",
            "overtime.toml:1:12: error: schedule `s` needs exactly one target",
        ),
        (
            "[functions.f]\n[schedules.s]\nexpression = \"rate(1 hour)\"\nfunction = \"g\"\n",
            "overtime.toml:4:12: error: no function `g` is declared",
        ),
        (
            "[queues.q]\n[schedules.s]\nexpression = \"rate(1 hour)\"\nqueue = \"q\"\n",
            "overtime.toml:4:9: error: a schedule that targets a queue needs `job",
        ),
        (
            "[functions.f]\n[schedules.s]\nexpression = \"rate(1 hour)\"\nfunction = \"f\"\njob = \"x\"\n",
            "overtime.toml:5:7: error: `job` names the job a queue target runs",
        ),
        ("[functions.f\n", "overtime.toml:1:13: error: "),
        (
            "[queues.jobs-dlq]\n",
            "overtime.toml:1:9: error: queue name `jobs-dlq` is reserved",
        ),
        (
            "[queues.schedules]\n",
            "overtime.toml:1:9: error: queue name `schedules` is reserved",
        ),
        (
            "[functions.a-b]\n[functions.a_b]\n",
            "overtime.toml:2:12: error: function `a_b` and `a-b` would share the CloudFormation id `AB`",
        ),
        (
            "[project]\nname = \"a-very-long-project-name-for-the-shop\"\n[functions.synchronise-all-the-accounts]\n",
            "overtime.toml:3:12: error: the function name `a-very-long-project-name-for-the-shop-synchronise-all-the-accounts` is 66 characters, over AWS's 64",
        ),
        (
            "[functions.f]\nenvironment = { AWS_REGION = \"x\" }\n",
            "overtime.toml:1:12: error: environment variable `AWS_REGION` is reserved by Lambda",
        ),
        (
            "[queues.q]\n[functions.f]\nqueues = { \"1URL\" = \"q\" }\n",
            "overtime.toml:3:21: error: environment variable `1URL` must start with a letter",
        ),
        (
            "[functions.f]\n[queues.q]\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\n",
            "overtime.toml:7:9: error: queue `q` is already mapped to function `f`",
        ),
        (
            "[functions.f]\ntimeout = 4000000000\n[queues.q]\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\n",
            "overtime.toml:2:11: error: timeout must be 1-900",
        ),
    ];
    for (text, expected) in cases {
        let found = errors(text);
        assert!(
            found.iter().any(|e| e.starts_with(expected)),
            "expected `{expected}…` in {found:?} for:\n{text}"
        );
    }
}

#[test]
fn guidance_is_a_warning() {
    let w = warnings(
        "[functions.f]\ntimeout = 60\n[queues.q]\nvisibility_timeout = 120\nmax_receives = 2\n[[mappings]]\nqueue = \"q\"\nfunction = \"f\"\n",
    );
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("overtime.toml:4:22: warning: visibility_timeout 120 s is under 6 ×"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("overtime.toml:5:16: warning: max_receives 2 is under 5"),
        "{w:?}"
    );
}

#[test]
fn vercel_json_schedules_are_located() {
    let text = r#"{
  "crons": [
    { "path": "/api/cron/a", "schedule": "0 5 * * *" },
    { "path": "/api/cron/b", "schedule": "0 5 * * MON" },
    { "path": "api/cron/c",
      "schedule":   "0 * * * *" }
  ]
}"#;
    let err = VercelConfig::parse("vercel.json", text).expect_err("invalid");
    let lines: Vec<String> = err.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "vercel.json:4:51: error: names like `MON` are not accepted in the day-of-week field; use numbers 0-7",
            "vercel.json:6:21: error: cron path `api/cron/c` must start with `/` (it is a route of this deployment)",
            "vercel.json:6:21: warning: `0 * * * *` runs more than once a day: Vercel's Hobby plan allows one run a day per cron job (the deploy fails there); Pro and Enterprise allow one a minute",
        ]
    );
    let (ok, warnings) = VercelConfig::parse(
        "vercel.json",
        r#"{"crons":[{"path":"/a","schedule":"0 5 * * *"}]}"#,
    )
    .expect("valid");
    assert!(warnings.is_empty());
    assert_eq!(ok.crons[0].path, "/a");
    let broken = VercelConfig::parse(
        "vercel.json",
        "{\n  \"crons\": [\n    {\"path\": \"/a\",}\n  ]\n}",
    )
    .expect_err("bad json");
    assert!(
        broken.diagnostics[0]
            .to_string()
            .starts_with("vercel.json:3:19: error: vercel.json is not valid"),
        "{}",
        broken.diagnostics[0]
    );
    let unknown = VercelConfig::parse(
        "vercel.json",
        r#"{"crons":[{"path":"/a","schedul":"0 5 * * *"}]}"#,
    )
    .expect_err("unknown field");
    assert!(
        unknown.diagnostics[0]
            .message
            .contains("unknown field `schedul`"),
        "{}",
        unknown.diagnostics[0]
    );
}

#[test]
fn the_repository_declarations_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (d, warnings) =
        Declaration::load(root.join("infra/overtime.toml")).expect("infra/overtime.toml is valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(d.function("worker").is_some());
    VercelConfig::load(root.join("vercel.json")).expect("vercel.json is valid");
}
