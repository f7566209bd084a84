//! Start-up and stop: a bad declaration, a function that fails to build or start, a stop
//! that does not wait for long polls.

use super::*;

#[test]
fn a_bad_declaration_stops_start_up_with_file_line_col() {
    let project = temp_project("dev-bad");
    std::fs::write(
        project.join("infra/overtime.toml"),
        "[project]\nname = \"p\"\n\n[functions.w]\ntimeout = 901\n\n[schedules.s]\nexpression = \"cron(0 0 * * * *)\"\nfunction = \"w\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(overtime_tests::lambda::workspace_bin("overtime"))
        .args(["dev", "--sqs-addr", "127.0.0.1:0", "--state"])
        .arg(fresh_state())
        .arg("--root")
        .arg(&project)
        .output()
        .expect("run overtime dev");
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("infra/overtime.toml:5:11: error"), "{text}");
    assert!(text.contains("infra/overtime.toml:8:"), "{text}");
    assert!(text.contains("did not start"), "{text}");
    assert!(!text.contains("ready"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_that_fails_to_build_or_start_is_reported_and_the_others_run() {
    // A tiny workspace: `good` builds, `broken` does not compile.
    let project = temp_project("dev-broken");
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[[bin]]\nname = \"good\"\npath = \"good.rs\"\n\n[[bin]]\nname = \"broken\"\npath = \"broken.rs\"\n\n[workspace]\n",
    )
    .expect("write");
    std::fs::write(project.join("good.rs"), "fn main() {}\n").expect("write");
    std::fs::write(
        project.join("broken.rs"),
        "fn main() { let x: u32 = \"no\"; }\n",
    )
    .expect("write");
    std::fs::write(
        project.join("infra/overtime.toml"),
        "[project]\nname = \"tiny\"\n\n[functions.good]\ntimeout = 5\n\n[functions.broken]\ntimeout = 5\n",
    )
    .expect("write");
    let state = fresh_state();
    let dev = Dev::start(&[], Some(&project), &state);
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(180)),
        "{}",
        dev.log()
    );
    let log = dev.log();
    assert!(
        log.contains("NOT RUNNING    broken: cargo build --bin broken failed: error[E0308]"),
        "{log}"
    );
    assert!(
        log.contains("    good "),
        "good is listed as running: {log}"
    );
    drop(dev);

    // Prebuilt: one binary missing, one that exits at start, one real worker.
    let bins = temp_project("dev-bins");
    std::os::unix::fs::symlink(bin_dir().join("test-worker"), bins.join("test-worker"))
        .expect("link");
    std::os::unix::fs::symlink("/bin/false", bins.join("crashes")).expect("link");
    let ledger = bins.join("ledger");
    let deadlines = bins.join("deadlines");
    // Two functions written against the runtime API by hand: one reports an init error, one
    // notes the deadline it is given and answers.
    script(
        &bins.join("init-fails"),
        &format!(
            "{PY_API}post(api + '/init/error', {{'errorType': 'Config', 'errorMessage': 'DATABASE_URL is not set'}})\ntime.sleep(30)\n"
        ),
    );
    script(
        &bins.join("deadline"),
        &format!(
            "{PY_API}while True:\n    r = urllib.request.urlopen(api + '/invocation/next')\n    rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n    dl = int(r.headers['Lambda-Runtime-Deadline-Ms'])\n    open('{}', 'a').write(f'{{dl - int(time.time() * 1000)}}\\n')\n    post(api + f'/invocation/{{rid}}/response', {{}})\n",
            deadlines.display()
        ),
    );
    // And one that fails every invocation, noting when it ran.
    let flaky = bins.join("flaky-runs");
    script(
        &bins.join("flaky"),
        &format!(
            "{PY_API}while True:\n    r = urllib.request.urlopen(api + '/invocation/next')\n    rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n    open('{}', 'a').write(f'{{time.time()}} {{r.read().decode()}}\\n')\n    post(api + f'/invocation/{{rid}}/error', {{'errorType': 'Boom', 'errorMessage': 'always'}})\n",
            flaky.display()
        ),
    );
    std::fs::write(
        project.join("infra/overtime.toml"),
        format!(
            "[schedules.flaky-tick]\nexpression = \"rate(1 day)\"\nfunction = \"flaky\"\nenabled = false\n\n[functions.flaky]\ntimeout = 5\n\n\
             [project]\nname = \"tiny\"\n\n[functions.good]\nbinary = \"test-worker\"\ntimeout = 5\nqueues = {{ OVERTIME_QUEUE_URL = \"ok\" }}\nenvironment = {{ LEDGER_PATH = \"{}\" }}\n\n\
             [functions.crashes]\ntimeout = 5\nqueues = {{ OVERTIME_QUEUE_URL = \"doomed\" }}\n\n[functions.missing]\ntimeout = 5\n\n\
             [functions.init-fails]\ntimeout = 5\n\n[functions.deadline]\ntimeout = 7\n\n\
             [queues.ok]\n[queues.doomed]\nvisibility_timeout = 5\nmax_receives = 2\n[queues.init]\nvisibility_timeout = 5\n[queues.timed]\nvisibility_timeout = 7\n\n\
             [[mappings]]\nqueue = \"ok\"\nfunction = \"good\"\n\n[[mappings]]\nqueue = \"doomed\"\nfunction = \"crashes\"\n\n\
             [[mappings]]\nqueue = \"init\"\nfunction = \"init-fails\"\n\n[[mappings]]\nqueue = \"timed\"\nfunction = \"deadline\"\n",
            ledger.display()
        ),
    )
    .expect("write");
    let mut dev = Dev::start(
        &[
            "--binaries".into(),
            bins.display().to_string(),
            "--lambda-retry-delay".into(),
            "1".into(),
        ],
        Some(&project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    assert!(
        dev.log().contains("NOT RUNNING    missing: no binary"),
        "{}",
        dev.log()
    );
    let client = dev.client(3).await;
    let ok_url = queue_url(&client, "tiny-ok").await;
    let doomed = queue_url(&client, "tiny-doomed").await;
    Queue::new(client.clone(), &doomed)
        .send(Record {
            id: "d".into(),
            sleep_ms: 0,
        })
        .await
        .expect("send");
    Queue::new(client.clone(), &ok_url)
        .send(Record {
            id: "fine".into(),
            sleep_ms: 0,
        })
        .await
        .expect("send");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30)
        && !std::fs::read_to_string(&ledger)
            .unwrap_or_default()
            .contains("fine")
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        std::fs::read_to_string(&ledger)
            .unwrap_or_default()
            .contains("fine"),
        "the good function ran: {}",
        dev.log()
    );
    // The crashing one's message is retried, then redriven to its dead-letter queue.
    let dlq = queue_url(&client, "tiny-doomed-dlq").await;
    let mut dead = Vec::new();
    let start = Instant::now();
    while dead.is_empty() && start.elapsed() < Duration::from_secs(40) {
        dead = client
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
    }
    assert_eq!(dead.len(), 1, "{}", dev.log());
    let state = dev.state_json().await;
    let fails = state["invocations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| {
                    i["function"] == "crashes"
                        && i["outcome"]
                            .as_str()
                            .is_some_and(|o| o.contains("did not start"))
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(fails, 2, "two receives, two failed starts: {state}");

    // An init error is reported with its reason; the deadline is the declared timeout from now.
    for (queue, body) in [("tiny-init", "i"), ("tiny-timed", "t")] {
        let url = queue_url(&client, queue).await;
        client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    let start = Instant::now();
    let mut init_error = None;
    while start.elapsed() < Duration::from_secs(20) && (init_error.is_none() || !deadlines.exists())
    {
        let state = dev.state_json().await;
        init_error = state["invocations"].as_array().and_then(|a| {
            a.iter()
                .find(|i| i["function"] == "init-fails")
                .and_then(|i| i["outcome"].as_str().map(str::to_owned))
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        init_error.as_deref(),
        Some("did not start: init error: Config: DATABASE_URL is not set")
    );
    let left: i64 = std::fs::read_to_string(&deadlines)
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("the deadline function ran");
    assert!(
        (6_000..=7_000).contains(&left),
        "deadline {left} ms ahead; declared timeout 7 s"
    );

    // A scheduled function that fails is retried twice with the same event, as Lambda
    // retries an asynchronous invocation (here 1 s and then 2 s later), and then dropped.
    let out = dev.trigger("flaky-tick");
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out)
            .contains("error Boom: always; Lambda retries it in 1 s and 2 s after that"),
        "{}",
        output_text(&out)
    );
    assert!(
        dev.wait_for_output(
            "gave up trigger flaky-tick: failed 3 times",
            Duration::from_secs(20)
        ),
        "{}",
        dev.log()
    );
    let runs: Vec<(f64, String)> = std::fs::read_to_string(&flaky)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (t, event) = l.split_once(' ')?;
            Some((t.parse().ok()?, event.to_owned()))
        })
        .collect();
    assert_eq!(runs.len(), 3, "one invocation and two retries: {runs:?}");
    assert!(
        runs.iter().all(|(_, e)| *e == runs[0].1),
        "the same event each time: {runs:?}"
    );
    let gaps = (runs[1].0 - runs[0].0, runs[2].0 - runs[1].0);
    assert!(
        gaps.0 >= 0.9 && gaps.1 >= 1.9,
        "retried after 1 s, then 2 s: {gaps:?}"
    );
    let state = dev.state_json().await;
    let triggers: Vec<&str> = state["invocations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["function"] == "flaky")
                .filter_map(|i| i["trigger"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(triggers.len(), 3, "{state}");
    for t in [
        "trigger flaky-tick",
        "trigger flaky-tick (retry 1)",
        "trigger flaky-tick (retry 2)",
    ] {
        assert!(triggers.contains(&t), "{t}: {triggers:?}");
    }
    dev.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_does_not_wait_for_long_polls_and_takes_the_functions_with_it() {
    // A function whose instance stays warm, and which starts a process of its own.
    let bins = temp_project("dev-stop");
    let grandchild = bins.join("grandchild");
    script(
        &bins.join("spawner"),
        &format!(
            "{PY_API}import subprocess\nc = subprocess.Popen(['sleep', '300'])\nopen('{}', 'w').write(str(c.pid))\nwhile True:\n    r = urllib.request.urlopen(api + '/invocation/next')\n    rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n    post(api + f'/invocation/{{rid}}/response', {{}})\n",
            grandchild.display()
        ),
    );
    std::fs::write(
        bins.join("infra/overtime.toml"),
        "[project]\nname = \"stop\"\n\n[functions.spawner]\ntimeout = 5\n\n[schedules.tick]\nexpression = \"rate(1 day)\"\nfunction = \"spawner\"\nenabled = false\n\n[queues.idle]\n",
    )
    .expect("write");
    let mut dev = Dev::start(
        &["--binaries".into(), bins.display().to_string()],
        Some(&bins),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    let out = dev.trigger("tick");
    assert!(out.status.success(), "{}", output_text(&out));
    let pid: u32 = std::fs::read_to_string(&grandchild)
        .expect("the function started its process")
        .trim()
        .parse()
        .expect("pid");
    let children = dev.children();
    assert!(!children.is_empty(), "a warm instance: {}", dev.log());

    // A client long-polls an empty queue (20 s), as a worker does.
    let client = dev.client(1).await;
    let url = queue_url(&client, "stop-idle").await;
    let poll = tokio::spawn(async move {
        client
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(20)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "the long poll is open");

    // Stopped, it exits without waiting out the poll, and nothing it started is left.
    let took = dev.terminate(Duration::from_secs(15));
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(15)),
        "overtime dev waited for the long poll to stop: {took:?}"
    );
    assert!(
        dev.log().contains("overtime dev: stopping"),
        "{}",
        dev.log()
    );
    let gone = Instant::now();
    let alive = |p: &u32| overtime_tests::dev::running(*p);
    while (children.iter().any(alive) || alive(&pid)) && gone.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !children.iter().any(alive),
        "instances outlived the stop: {children:?}"
    );
    assert!(
        !alive(&pid),
        "the function's own process {pid} outlived the stop"
    );
    let _ = poll.await;
}
