//! The dashboard in a real browser.

use super::*;

/// Debian's Chromium (installed by `.ci/run`), headless, with the flags this machine needs.
fn chromium_dom(url: &str) -> String {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", fresh_state().display()))
        .arg(url)
        .output()
        .expect("run chromium (apt-get install chromium; .ci/run does)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_topology_in_a_browser() {
    let project = temp_project("dev-dash");
    std::fs::write(
        project.join("infra/overtime.toml"),
        "[project]\nname = \"dash\"\n\n[functions.w]\nbinary = \"test-worker\"\ntimeout = 5\nqueues = { OVERTIME_QUEUE_URL = \"jobs\" }\n\n\
         [queues.jobs]\n\n[[mappings]]\nqueue = \"jobs\"\nfunction = \"w\"\n\n\
         [schedules.nightly]\nexpression = \"cron(0 3 * * ? *)\"\ntimezone = \"Europe/Paris\"\nqueue = \"jobs\"\njob = \"record\"\npayload = { id = \"n\", sleep_ms = 0 }\n",
    )
    .expect("write");
    let dev = Dev::start(
        &["--binaries".into(), bin_dir().display().to_string()],
        Some(&project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    // One invocation to show: the schedule fired by hand, its job consumed by `w`.
    let out = dev.trigger("nightly");
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        dev.wait_for_output("w <- queue dash-jobs", Duration::from_secs(20)),
        "{}",
        dev.log()
    );
    let dom = chromium_dom(&dev.endpoint);
    for text in [
        "<td>dash-jobs</td>",
        "<td>dash-jobs-dlq</td>",
        "<td>w</td><td>5 s</td>",
        "<td>nightly</td><td>infra/overtime.toml</td><td><code>cron(0 3 * * ? *)</code></td><td>queue dash-jobs</td>",
        "<td>queue dash-jobs</td>",
        "class=\"ok\">ok</td>",
    ] {
        assert!(
            dom.contains(text),
            "{text} not in the rendered page:\n{dom}"
        );
    }
}
