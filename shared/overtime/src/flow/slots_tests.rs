use super::slots::{Slots, Take};

const LEASE: i64 = 30_000;
const TTL: i64 = 10_000;

#[test]
fn slots_go_to_waiters_in_arrival_order() {
    let mut s = Slots::default();
    assert_eq!(s.take("a", 2, 0, LEASE, TTL), Take::Granted);
    assert_eq!(s.take("b", 2, 1, LEASE, TTL), Take::Granted);
    assert_eq!(s.take("c", 2, 2, LEASE, TTL), Take::Queued { ahead: 1 });
    assert_eq!(s.take("d", 2, 3, LEASE, TTL), Take::Queued { ahead: 2 });
    // Asking again is idempotent: the holder keeps its slot, a waiter its place.
    assert_eq!(s.take("a", 2, 4, LEASE, TTL), Take::Granted);
    assert_eq!(s.take("d", 2, 5, LEASE, TTL), Take::Queued { ahead: 2 });
    assert!(s.release("a"));
    // One slot free: d asks first, but c arrived first and is the one that gets it.
    assert_eq!(s.take("d", 2, 6, LEASE, TTL), Take::Queued { ahead: 1 });
    assert_eq!(s.take("c", 2, 7, LEASE, TTL), Take::Granted);
    assert!(s.release("b"));
    assert_eq!(s.take("d", 2, 8, LEASE, TTL), Take::Granted);
    assert!(!s.release("zz"));
}

#[test]
fn a_crashed_holder_frees_its_slot_after_the_lease_and_a_gone_waiter_leaves_the_queue() {
    let mut s = Slots::default();
    assert_eq!(s.take("crashed", 1, 0, LEASE, TTL), Take::Granted);
    assert_eq!(s.take("gone", 1, 1, LEASE, TTL), Take::Queued { ahead: 1 });
    assert_eq!(s.take("next", 1, 2, LEASE, TTL), Take::Queued { ahead: 2 });
    // Before the lease ends the slot stays taken; `gone` never asks again.
    assert_eq!(
        s.take("next", 1, LEASE - 1, LEASE, TTL),
        Take::Queued { ahead: 1 }
    );
    assert_eq!(s.take("next", 1, LEASE, LEASE, TTL), Take::Granted);
    // The crashed holder's renewal fails: its slot went to another.
    assert!(!s.renew("crashed", LEASE + 1, LEASE));
    assert!(s.renew("next", LEASE + 1, LEASE));
    assert_eq!(s.expires_ms(LEASE + 1), 2 * LEASE + 1);
    s.release("next");
    assert_eq!(s.expires_ms(99), 99);
}

#[cfg(feature = "test-util")]
mod store {
    use super::super::slots::{Slots, Take, update};
    use crate::store::{MemoryStore, RunStore};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// 40 jobs on 4 tasks' worth of contention each try the one key with a limit of 2: never
    /// more than 2 run at once, and every job runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_workers_cannot_both_take_the_last_slot() {
        let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (store, running, most) = (store.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let id = format!("job-{i}");
                loop {
                    let take = update(&*store, "flow/t/k", |s: &mut Slots, now| {
                        let t = s.take(&id, 2, now, 30_000, 10_000);
                        (t, s.expires_ms(now))
                    })
                    .await
                    .expect("the store answers");
                    if take == Take::Granted {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(3)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                update(&*store, "flow/t/k", |s: &mut Slots, now| {
                    let released = s.release(&id);
                    (released, s.expires_ms(now))
                })
                .await
                .expect("the store answers")
            }));
        }
        for t in tasks {
            assert!(t.await.expect("no task panics"), "each job held a slot");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        let left = update(&*store, "flow/t/k", |s: &mut Slots, now| {
            (s.clone(), s.expires_ms(now))
        })
        .await
        .expect("the store answers");
        assert_eq!(left, Slots::default());
    }
}
