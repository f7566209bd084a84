//! `overtime schedules check | next | sync`, run as a real process; sync against moto's
//! EventBridge Scheduler, which accepts any expression: overtime validates before it calls.

use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
use overtime_tests::lambda::workspace_bin;
use overtime_tests::output_text as text;
use overtime_tests::server::repo_root;
use overtime_tests::sqs;
use overtime_tests::temp_project;
use std::path::Path;
use std::process::{Command, Output};

fn overtime(args: &[&str], env: &[(&str, String)]) -> Output {
    Command::new(workspace_bin("overtime"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run overtime")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn next_prints_fire_times_in_utc() {
    let out = overtime(
        &[
            "schedules",
            "next",
            "cron(0 18 ? * MON-FRI *)",
            "--from",
            "2026-11-27T19:00:00Z",
            "--count",
            "3",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout(&out),
        "2026-11-30T18:00:00Z\n2026-12-01T18:00:00Z\n2026-12-02T18:00:00Z\n"
    );
    // Five fields are Vercel's dialect; Vercel's Sunday is 0.
    let out = overtime(
        &[
            "schedules",
            "next",
            "0 5 * * 0",
            "--from",
            "2026-11-27T00:00:00Z",
            "--count",
            "2",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "2026-11-29T05:00:00Z\n2026-12-06T05:00:00Z\n");
    // 09:00 in New York across the start of DST (2026-03-08).
    let out = overtime(
        &[
            "schedules",
            "next",
            "cron(0 9 * * ? *)",
            "--tz",
            "America/New_York",
            "--from",
            "2026-03-07T00:00:00Z",
            "--count",
            "2",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "2026-03-07T14:00:00Z\n2026-03-08T13:00:00Z\n");
    let out = overtime(
        &[
            "schedules",
            "next",
            "rate(90 minutes)",
            "--from",
            "2026-11-27T00:00:00Z",
            "--count",
            "2",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "2026-11-27T01:30:00Z\n2026-11-27T03:00:00Z\n");
}

#[test]
fn next_refuses_an_invalid_expression_with_exit_2() {
    let out = overtime(&["schedules", "next", "cron(0 18 * * MON-FRI *)"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("EventBridge needs `?`"), "{err}");
    assert!(
        err.contains("  cron(0 18 * * MON-FRI *)\n            ^^^^^^^^^^^"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = overtime(
        &["schedules", "next", "0 5 * * MON", "--dialect", "vercel"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("names like `MON` are not accepted"),
        "{}",
        text(&out)
    );
    let out = overtime(
        &["schedules", "next", "0 5 * * *", "--tz", "Europe/Paris"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("always run in UTC"), "{}", text(&out));
}

#[test]
fn check_reports_each_problem_at_file_line_col() {
    let dir = temp_project("check");
    std::fs::write(
        dir.join("vercel.json"),
        "{\n  \"crons\": [\n    { \"path\": \"/api/cron/a\", \"schedule\": \"0 5 * * MON\" }\n  ]\n}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("infra/overtime.toml"),
        "[functions.f]\n\n[schedules.nightly]\nexpression = \"cron(0 3 * * * *)\"\nfunction = \"f\"\n\n[schedules.old]\nexpression = \"at(2020-01-01T00:00:00)\"\nfunction = \"f\"\n",
    )
    .expect("write");
    let out = overtime(
        &["schedules", "check", "--root", dir.to_str().unwrap_or(".")],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.replace(&format!("{}/", dir.display()), ""))
        .collect();
    assert_eq!(
        lines,
        [
            "vercel.json:3:51: error: names like `MON` are not accepted in the day-of-week field; use numbers 0-7",
            "infra/overtime.toml:4:24: error: EventBridge needs `?` in day-of-month or day-of-week: use `?` in day-of-week to run on the days of the month given, or in day-of-month to run on the weekdays given",
        ]
    );
    // Fixed, the same files pass, with warnings for what deploys but deserves a look.
    std::fs::write(
        dir.join("infra/overtime.toml"),
        "[functions.f]\n\n[schedules.old]\nexpression = \"at(2020-01-01T00:00:00)\"\nfunction = \"f\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("vercel.json"),
        r#"{"crons":[{"path":"/api/cron/a","schedule":"0 5 * * 1"}]}"#,
    )
    .expect("write");
    let out = overtime(
        &["schedules", "check", "--root", dir.to_str().unwrap_or(".")],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains("infra/overtime.toml:3:1: warning: schedule `old` never fires again"),
        "{report}"
    );
    assert!(
        report.contains("vercel.json:1:1: warning: no file api/cron/a.rs serves the cron path"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_passes_on_this_repository() {
    let out = overtime(
        &[
            "schedules",
            "check",
            "--root",
            repo_root().to_str().unwrap_or("."),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!stdout(&out).contains("error:"), "{}", text(&out));
}

struct Moto {
    env: Vec<(&'static str, String)>,
    client: aws_sdk_scheduler::Client,
}

async fn moto() -> Moto {
    let sqs = sqs().await;
    let env = sqs.env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&sqs.aws_endpoint)
        .credentials_provider(aws_sdk_scheduler::config::Credentials::for_tests())
        .load()
        .await;
    Moto {
        env,
        client: aws_sdk_scheduler::Client::new(&config),
    }
}

fn write_declaration(dir: &Path, project: &str, schedules: &str) {
    let text = format!(
        "[project]\nname = \"{project}\"\nschedules = \"sync\"\n\n[functions.sync]\n[functions.cleanup]\n[queues.jobs]\n\n{schedules}"
    );
    std::fs::write(dir.join("infra/overtime.toml"), text).expect("write declaration");
}

async fn names(client: &aws_sdk_scheduler::Client, group: &str) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_schedules()
        .group_name(group)
        .send()
        .await
        .expect("list schedules")
        .schedules()
        .iter()
        .filter_map(|s| s.name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn sync_reconciles_only_its_own_group() {
    let moto = moto().await;
    let project = format!("shop{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let dir = temp_project("sync");
    let root = dir.to_str().unwrap_or(".").to_owned();
    let sync = |extra: &[&str]| {
        let mut args = vec!["schedules", "sync", "--root", root.as_str()];
        args.extend_from_slice(extra);
        overtime(&args, &moto.env)
    };
    // A schedule overtime does not own, in the default group: never touched.
    moto.client
        .create_schedule()
        .name(format!("{project}-theirs"))
        .schedule_expression("rate(1 day)")
        .flexible_time_window(
            FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .expect("window"),
        )
        .target(
            Target::builder()
                .arn("arn:aws:lambda:us-east-1:123456789012:function:x")
                .role_arn("arn:aws:iam::123456789012:role/x")
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("their schedule");

    write_declaration(
        &dir,
        &project,
        "[schedules.hourly]\nexpression = \"cron(0 * * * ? *)\"\nfunction = \"sync\"\n\n\
         [schedules.nightly]\nexpression = \"cron(0 3 * * ? *)\"\ntimezone = \"Europe/Paris\"\nfunction = \"cleanup\"\npayload = { days = 30 }\n\n\
         [schedules.report]\nexpression = \"rate(1 day)\"\nqueue = \"jobs\"\njob = \"report\"\n",
    );

    // A dry run changes nothing.
    let out = sync(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("+ would create schedule group {project}")),
        "{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("+ would create hourly: cron(0 * * * ? *) (UTC)"),
        "{}",
        text(&out)
    );
    assert!(
        moto.client
            .get_schedule_group()
            .name(&project)
            .send()
            .await
            .is_err()
    );

    let out = sync(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("changed 4"), "{}", text(&out));
    assert_eq!(
        names(&moto.client, &project).await,
        ["hourly", "nightly", "report"]
    );
    let nightly = moto
        .client
        .get_schedule()
        .group_name(&project)
        .name("nightly")
        .send()
        .await
        .expect("nightly");
    assert_eq!(nightly.schedule_expression(), Some("cron(0 3 * * ? *)"));
    assert_eq!(nightly.schedule_expression_timezone(), Some("Europe/Paris"));
    let target = nightly.target().expect("target");
    assert_eq!(
        target.arn(),
        format!("arn:aws:lambda:us-east-1:123456789012:function:{project}-cleanup")
    );
    assert_eq!(
        target.role_arn(),
        format!("arn:aws:iam::123456789012:role/{project}-scheduler")
    );
    let input: serde_json::Value =
        serde_json::from_str(target.input().unwrap_or_default()).expect("input");
    assert_eq!(input["overtime"], "tick");
    assert_eq!(input["payload"]["days"], 30);
    let report = moto
        .client
        .get_schedule()
        .group_name(&project)
        .name("report")
        .send()
        .await
        .expect("report");
    let report_target = report.target().expect("target");
    assert_eq!(
        report_target.arn(),
        format!("arn:aws:sqs:us-east-1:123456789012:{project}-jobs")
    );
    assert!(
        report_target
            .input()
            .unwrap_or_default()
            .contains("\"job\":\"report\"")
    );

    // Idempotent: a second run changes nothing.
    let out = sync(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("changed 0"), "{}", text(&out));
    assert!(
        stdout(&out).contains("= hourly: unchanged"),
        "{}",
        text(&out)
    );

    // Change one, drop one, add one.
    write_declaration(
        &dir,
        &project,
        "[schedules.hourly]\nexpression = \"cron(30 * * * ? *)\"\nfunction = \"sync\"\n\n\
         [schedules.nightly]\nexpression = \"cron(0 3 * * ? *)\"\ntimezone = \"Europe/Paris\"\nfunction = \"cleanup\"\npayload = { days = 30 }\n\n\
         [schedules.weekly]\nexpression = \"cron(0 9 ? * MON *)\"\nfunction = \"sync\"\nenabled = false\n",
    );
    let out = sync(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let diff = stdout(&out);
    assert!(
        diff.contains("~ update hourly: expression: cron(0 * * * ? *) → cron(30 * * * ? *)"),
        "{diff}"
    );
    assert!(
        diff.contains("- delete report: no longer declared"),
        "{diff}"
    );
    assert!(diff.contains("+ create weekly"), "{diff}");
    assert!(diff.contains("= nightly: unchanged"), "{diff}");
    assert_eq!(
        names(&moto.client, &project).await,
        ["hourly", "nightly", "weekly"]
    );
    let weekly = moto
        .client
        .get_schedule()
        .group_name(&project)
        .name("weekly")
        .send()
        .await
        .expect("weekly");
    assert_eq!(weekly.state().map(|s| s.as_str()), Some("DISABLED"));
    // The schedule in the default group is still there.
    assert!(
        moto.client
            .get_schedule()
            .name(format!("{project}-theirs"))
            .send()
            .await
            .is_ok(),
        "sync touched a schedule outside its group"
    );

    // An invalid expression is refused before any call: moto would have taken it.
    write_declaration(
        &dir,
        &project,
        "[schedules.hourly]\nexpression = \"cron(0 * * * *)\"\nfunction = \"sync\"\n",
    );
    let out = sync(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("infra/overtime.toml:10:20: error: cron() takes 6 fields"),
        "{}",
        text(&out)
    );
    assert_eq!(
        names(&moto.client, &project).await,
        ["hourly", "nightly", "weekly"]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sync_refuses_schedules_the_template_deploys() {
    let moto = moto().await;
    let dir = temp_project("template-mode");
    std::fs::write(
        dir.join("infra/overtime.toml"),
        "[project]\nname = \"shop\"\n[functions.f]\n[schedules.s]\nexpression = \"rate(1 hour)\"\nfunction = \"f\"\n",
    )
    .expect("write");
    let out = overtime(
        &["schedules", "sync", "--root", dir.to_str().unwrap_or(".")],
        &moto.env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("schedules deploy with infra/template.yaml"),
        "{}",
        text(&out)
    );
    assert!(
        moto.client
            .get_schedule_group()
            .name("shop")
            .send()
            .await
            .is_err()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sync_refuses_a_group_it_does_not_own() {
    let moto = moto().await;
    let group = format!("theirs{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    moto.client
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .expect("their group");
    let dir = temp_project("foreign");
    write_declaration(
        &dir,
        "shop",
        "[schedules.hourly]\nexpression = \"rate(1 hour)\"\nfunction = \"sync\"\n",
    );
    let out = overtime(
        &[
            "schedules",
            "sync",
            "--group",
            &group,
            "--root",
            dir.to_str().unwrap_or("."),
        ],
        &moto.env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("is not managed by overtime"),
        "{}",
        text(&out)
    );
    assert!(names(&moto.client, &group).await.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
