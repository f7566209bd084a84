//! Admission against a real (in-memory) run store: each control's decision, the marks a
//! message carries between hops, the skips recorded, and the store calls a start costs.

use super::SingletonMode;
use super::cache::States;
use super::gate::{Admission, Ask, Permit, admit};
use super::plan::{ConcurrencyPlan, DebouncePlan, Marks, Plan};
use super::throttle::Rate;
use super::window::Window;
use crate::store::{Entry, MemoryStore, RunRecord, RunStore, StoreError};
use futures_util::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn plan() -> Plan {
    Plan {
        singleton: None,
        debounce: None,
        rate_limit: None,
        throttle: None,
        concurrency: None,
        lease_ms: 30_000,
    }
}

fn ask<'a>(id: &'a str, marks: Marks) -> Ask<'a> {
    Ask {
        job: "j",
        holder: id,
        job_id: id,
        attempt: 1,
        marks,
        payload: r#"{"n":1}"#,
        sent_ms: None,
    }
}

async fn run(store: &dyn RunStore, states: &States, plan: &Plan, a: &Ask<'_>) -> Permit {
    match admit(store, states, plan, a).await {
        Ok(Admission::Run(p)) => p,
        other => panic!("{} should run, got {other:?}", a.job_id),
    }
}

#[tokio::test]
async fn concurrency_per_key_queues_in_order_and_frees_on_release() {
    let (store, states) = (MemoryStore::new(), States::default());
    let plan = Plan {
        concurrency: Some(ConcurrencyPlan {
            total: Some(3),
            per_key: Some((1, "acct".into())),
        }),
        ..plan()
    };
    let first = run(&store, &states, &plan, &ask("a", Marks::default())).await;
    for id in ["b", "c"] {
        match admit(&store, &states, &plan, &ask(id, Marks::default())).await {
            Ok(Admission::Defer { delay, marks, why }) => {
                assert!(delay >= Duration::from_secs(1), "{delay:?}");
                assert!(
                    marks.entry && why.contains("1 running for key \"acct\""),
                    "{why}"
                );
            }
            other => panic!("{id} should wait, got {other:?}"),
        }
    }
    first.release(&store, &states).await;
    // c asks first, but b came first: b's turn.
    assert!(matches!(
        admit(&store, &states, &plan, &ask("c", Marks::default())).await,
        Ok(Admission::Defer { .. })
    ));
    let b = run(&store, &states, &plan, &ask("b", Marks::default())).await;
    assert!(b.holds_slots());
    assert!(b.renew(&store, &states).await);
}

#[tokio::test]
async fn a_rate_limit_skips_beyond_its_limit_and_counts_each_skip() {
    let (store, states) = (MemoryStore::new(), States::default());
    let plan = Plan {
        rate_limit: Some((Window::new(2, Duration::from_secs(60)), "k".into())),
        ..plan()
    };
    for id in ["a", "b"] {
        run(&store, &states, &plan, &ask(id, Marks::default())).await;
    }
    for id in ["c", "d", "e"] {
        assert!(matches!(
            admit(&store, &states, &plan, &ask(id, Marks::default())).await,
            Ok(Admission::Skip)
        ));
    }
    // A retry (attempt 2) or a hop past the entry gates is not a new start.
    let retry = Ask {
        attempt: 2,
        ..ask("a", Marks::default())
    };
    run(&store, &states, &plan, &retry).await;
    let hop = Marks {
        entry: true,
        ..Marks::default()
    };
    run(&store, &states, &plan, &ask("b", hop)).await;
    let skips = super::skipped(&store, "j").await.unwrap_or_default();
    let k = &skips["k"];
    assert_eq!((k.count, k.control.as_str()), (3, "rate limit"));
    assert_eq!(k.last_payload, r#"{"n":1}"#);
    assert!(
        k.reason.contains("2 starts in the last 60 s"),
        "{}",
        k.reason
    );
}

#[tokio::test]
async fn a_throttle_books_later_starts_and_a_booked_start_runs_when_due() {
    let (store, states) = (MemoryStore::new(), States::default());
    let plan = Plan {
        throttle: Some((Rate::new(1, Duration::from_secs(2), 0), String::new())),
        ..plan()
    };
    run(&store, &states, &plan, &ask("a", Marks::default())).await;
    let Ok(Admission::Defer { delay, marks, .. }) =
        admit(&store, &states, &plan, &ask("b", Marks::default())).await
    else {
        panic!("b should wait for its booked start");
    };
    assert!(delay > Duration::from_millis(1_900) && delay <= Duration::from_millis(2_025));
    let (attempt, at) = marks.throttle.unwrap_or_default();
    assert_eq!(attempt, 1);
    // Coming back early, it waits for the same booking (none other is made).
    let Ok(Admission::Defer { marks: again, .. }) =
        admit(&store, &states, &plan, &ask("b", marks.clone())).await
    else {
        panic!("b came back early");
    };
    assert_eq!(again.throttle, Some((1, at)));
    // A booking for another attempt (this is a retry) does not count: it books anew.
    let retry = Ask {
        attempt: 2,
        ..ask("b", marks)
    };
    let Ok(Admission::Defer { marks: third, .. }) = admit(&store, &states, &plan, &retry).await
    else {
        panic!("the retry should book its own start");
    };
    assert!(
        third
            .throttle
            .is_some_and(|(a, t)| a == 2 && t >= at + 2_000)
    );
}

#[tokio::test]
async fn a_debounced_key_runs_its_latest_job_once_quiet() {
    let (store, states) = (MemoryStore::new(), States::default());
    let plan = Plan {
        debounce: Some(DebouncePlan {
            period_ms: 150,
            max_wait_ms: None,
            key: "k".into(),
        }),
        ..plan()
    };
    let mut returns = Vec::new();
    for id in ["a", "b", "c"] {
        let Ok(Admission::Defer { marks, .. }) =
            admit(&store, &states, &plan, &ask(id, Marks::default())).await
        else {
            panic!("{id} should wait for the key to go quiet");
        };
        assert!(marks.debounce);
        returns.push((id, marks));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (id, marks) in &returns[..2] {
        assert!(matches!(
            admit(&store, &states, &plan, &ask(id, marks.clone())).await,
            Ok(Admission::Superseded { .. })
        ));
    }
    let (id, marks) = &returns[2];
    run(&store, &states, &plan, &ask(id, marks.clone())).await;
    // Its retry (same message, attempt 2) still runs: it fired.
    let retry = Ask {
        attempt: 2,
        ..ask(id, marks.clone())
    };
    run(&store, &states, &plan, &retry).await;
}

#[tokio::test]
async fn a_burst_longer_than_the_maximum_wait_runs_at_the_maximum_wait() {
    let (store, states) = (MemoryStore::new(), States::default());
    let plan = Plan {
        debounce: Some(DebouncePlan {
            period_ms: 10_000,
            max_wait_ms: Some(300),
            key: String::new(),
        }),
        ..plan()
    };
    let started = std::time::Instant::now();
    let Ok(Admission::Defer { delay, .. }) =
        admit(&store, &states, &plan, &ask("a", Marks::default())).await
    else {
        panic!("a should wait");
    };
    assert!(delay <= Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(350)).await;
    // The burst goes on past the maximum wait: this newest job runs at once.
    run(&store, &states, &plan, &ask("b", Marks::default())).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_singleton_skips_or_replaces_the_active_run() {
    let (store, states) = (MemoryStore::new(), States::default());
    let skip = Plan {
        singleton: Some((SingletonMode::Skip, "k".into())),
        ..plan()
    };
    let active = run(&store, &states, &skip, &ask("a", Marks::default())).await;
    assert!(matches!(
        admit(&store, &states, &skip, &ask("b", Marks::default())).await,
        Ok(Admission::Skip)
    ));
    active.release(&store, &states).await;
    run(&store, &states, &skip, &ask("c", Marks::default())).await;

    let cancel = Plan {
        singleton: Some((SingletonMode::Cancel, "k2".into())),
        ..plan()
    };
    run(&store, &states, &cancel, &ask("old", Marks::default())).await;
    let newer = run(&store, &states, &cancel, &ask("new", Marks::default())).await;
    assert_eq!(newer.replaced, ["old"]);
    let note = store
        .step("old", crate::durable::wait::CANCEL_STEP)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(note.contains("replaced by run new"), "{note}");
    assert_eq!(
        super::skipped(&store, "j").await.map(|s| s["k"].count).ok(),
        Some(1)
    );
}

/// A store that counts the calls made to it.
struct Counting {
    inner: MemoryStore,
    calls: AtomicUsize,
}

impl Counting {
    fn hit(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl RunStore for Counting {
    fn create<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.hit();
        self.inner.create(run)
    }
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RunRecord>, StoreError>> {
        self.hit();
        self.inner.get(id)
    }
    fn replace<'a>(&'a self, next: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.hit();
        self.inner.replace(next)
    }
    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<RunRecord>, StoreError>> {
        self.hit();
        self.inner.list(limit)
    }
    fn step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        self.hit();
        self.inner.step(run, name)
    }
    fn put_step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        self.hit();
        self.inner.put_step(run, name, value)
    }
    fn entry<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        self.hit();
        self.inner.entry(key, now_ms)
    }
    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        entry: &'a Entry,
        expected: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.hit();
        self.inner.put_entry(key, entry, expected, now_ms)
    }
}

#[tokio::test]
async fn an_uncontended_slot_costs_one_write_to_take_and_one_to_give_back() {
    let store = Counting {
        inner: MemoryStore::new(),
        calls: AtomicUsize::new(0),
    };
    let states = States::default();
    let plan = Plan {
        concurrency: Some(ConcurrencyPlan {
            total: None,
            per_key: Some((100, "k".into())),
        }),
        ..plan()
    };
    let jobs = 50;
    for i in 0..jobs {
        let id = format!("job-{i}");
        let permit = run(&store, &states, &plan, &ask(&id, Marks::default())).await;
        permit.release(&store, &states).await;
    }
    // One read for the first (what is there?), then one conditional write per start and one
    // per finish.
    assert_eq!(store.calls.load(Ordering::Relaxed), 2 * jobs + 1);
}
