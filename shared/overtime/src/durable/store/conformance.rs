//! What every run store must do (`testing::check_store`; overtime's own stores are
//! checked with it, SQLite in unit tests and DynamoDB against moto's server).

use super::{Entry, RunRecord, RunStatus, RunStore};

/// Exercises `store` through the whole [`RunStore`] contract (create once, compare-and-swap,
/// exactly one winner among concurrent writers, newest-first listing, first-write-wins steps,
/// entries written only over what the writer read, expired entries counting as absent),
/// panicking at the first broken promise. Uses fresh random ids, so a shared store is fine.
pub(crate) async fn check(store: &dyn RunStore) {
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let id = |n: u32| format!("{prefix}-{n}");

    // Create once.
    let run = RunRecord::new(&id(1), "backfill", "{\"next\":0}".into(), Some(10), 1_000);
    assert!(store.create(&run).await.expect("create"));
    assert!(!store.create(&run).await.expect("create again"));
    assert_eq!(store.get(&id(1)).await.expect("get"), Some(run.clone()));
    assert_eq!(store.get(&id(99)).await.expect("get missing"), None);

    // Compare-and-swap on the version.
    let mut next = run.clone();
    next.version = 1;
    next.slice = 1;
    next.cursor = "{\"next\":5}".into();
    assert!(store.replace(&next).await.expect("replace"));
    let mut stale = run.clone();
    stale.version = 1;
    stale.status = RunStatus::Failed;
    assert!(
        !store.replace(&stale).await.expect("stale replace"),
        "a stale version must lose"
    );
    assert_eq!(store.get(&id(1)).await.expect("get"), Some(next.clone()));
    let mut missing = RunRecord::new(&id(98), "x", "0".into(), None, 0);
    missing.version = 1;
    assert!(!store.replace(&missing).await.expect("replace missing"));

    // Of many writers from one version, exactly one wins.
    let writers = (0..8).map(|i| {
        let mut w = next.clone();
        w.version = 2;
        w.items_done = i;
        async move { store.replace(&w).await.expect("concurrent replace") }
    });
    let wins = futures_util::future::join_all(writers)
        .await
        .into_iter()
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1, "exactly one concurrent writer wins");

    // Listed newest first.
    let later = RunRecord::new(&id(2), "backfill", "0".into(), None, 2_000);
    assert!(store.create(&later).await.expect("create later"));
    let listed: Vec<String> = store
        .list(1000)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .filter(|i| i.starts_with(&prefix))
        .collect();
    assert_eq!(listed, [id(2), id(1)]);

    // Step results: the first write wins and is what later readers get.
    assert_eq!(store.step(&id(1), "charge").await.expect("step"), None);
    assert_eq!(
        store
            .put_step(&id(1), "charge", "\"ch_1\"")
            .await
            .expect("put"),
        "\"ch_1\""
    );
    assert_eq!(
        store
            .put_step(&id(1), "charge", "\"ch_2\"")
            .await
            .expect("put again"),
        "\"ch_1\""
    );
    assert_eq!(
        store.step(&id(1), "charge").await.expect("step"),
        Some("\"ch_1\"".to_owned())
    );
    assert_eq!(store.step(&id(2), "charge").await.expect("other run"), None);

    check_entries(store, &prefix).await;
}

async fn check_entries(store: &dyn RunStore, prefix: &str) {
    let key = format!("{prefix}/once/sync-account/acct-1");
    let now = 1_000_000;
    assert_eq!(store.entry(&key, now).await.expect("entry"), None);

    // Written where none was read; a second such write loses.
    let first = Entry::new("running", now + 60_000);
    assert!(
        store
            .put_entry(&key, &first, None, now)
            .await
            .expect("create")
    );
    let again = Entry::new("running", now + 60_000);
    assert!(
        !store
            .put_entry(&key, &again, None, now)
            .await
            .expect("create again"),
        "a live entry is not overwritten blind"
    );
    assert_eq!(
        store.entry(&key, now).await.expect("entry"),
        Some(first.clone())
    );

    // Replaced only by whoever holds its token.
    let done = Entry::new("done", now + 86_400_000);
    assert!(
        !store
            .put_entry(&key, &done, Some(&again.token), now)
            .await
            .expect("wrong token"),
        "a write naming another token loses"
    );
    assert!(
        store
            .put_entry(&key, &done, Some(&first.token), now)
            .await
            .expect("replace")
    );
    assert_eq!(
        store.entry(&key, now).await.expect("entry"),
        Some(done.clone())
    );

    // Of many writers holding one token, exactly one wins.
    let writers = (0..8).map(|i| {
        let next = Entry::new(format!("writer-{i}"), now + 60_000);
        let (key, token) = (key.clone(), done.token.clone());
        async move { store.put_entry(&key, &next, Some(&token), now).await }
    });
    let wins = futures_util::future::join_all(writers)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    assert_eq!(wins, 1, "exactly one of the writers holding one token wins");

    // Expired: absent to readers, writable blind, and no longer replaceable by its token.
    let key = format!("{prefix}/once/short");
    let short = Entry::new("running", now + 10);
    assert!(
        store
            .put_entry(&key, &short, None, now)
            .await
            .expect("create")
    );
    assert_eq!(store.entry(&key, now + 10).await.expect("expired"), None);
    let late = Entry::new("done", now + 1_000);
    assert!(
        !store
            .put_entry(&key, &late, Some(&short.token), now + 10)
            .await
            .expect("expired token"),
        "an expired entry's token no longer replaces it"
    );
    let fresh = Entry::new("running", now + 1_000);
    assert!(
        store
            .put_entry(&key, &fresh, None, now + 10)
            .await
            .expect("over the expired one")
    );
    assert_eq!(
        store.entry(&key, now + 10).await.expect("entry"),
        Some(fresh)
    );
}
