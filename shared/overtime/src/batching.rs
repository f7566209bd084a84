//! What the batch senders share (SQS's `SendMessageBatch`, EventBridge's `PutEvents`): packing
//! items into calls by count and bytes, and the pause before retrying failed entries.

use std::time::Duration;

/// Attempts per entry, the first included, before a transient failure is returned.
pub(crate) const ENTRY_ATTEMPTS: u32 = 4;

/// First pause before retrying failed entries; doubles each time, with jitter.
const ENTRY_BACKOFF: Duration = Duration::from_millis(50);

/// Packs `items`, in order, into calls of at most `max_entries` entries whose `size`s sum to at
/// most `max_bytes` (an item over `max_bytes` alone gets a call of its own; callers refuse
/// those before packing).
pub(crate) fn pack<T>(
    items: Vec<(usize, T)>,
    max_entries: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Vec<(usize, T)>> {
    let mut chunks: Vec<Vec<(usize, T)>> = Vec::new();
    let mut bytes = 0;
    for item in items {
        let item_size = size(&item.1);
        let fits = chunks
            .last()
            .is_some_and(|c| c.len() < max_entries && bytes + item_size <= max_bytes);
        if !fits {
            chunks.push(Vec::with_capacity(max_entries));
            bytes = 0;
        }
        bytes += item_size;
        if let Some(c) = chunks.last_mut() {
            c.push(item);
        }
    }
    chunks
}

/// The pause after failed attempt `attempt` (1-based) before the next.
pub(crate) fn retry_pause(attempt: u32) -> Duration {
    jittered(ENTRY_BACKOFF * 2u32.pow(attempt.saturating_sub(1)))
}

/// `base` scaled by a random factor in [0.5, 1.5).
pub(crate) fn jittered(base: Duration) -> Duration {
    base.mul_f64(0.5 + fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_by_count_and_bytes_in_order() {
        let small: Vec<_> = (0..25).map(|i| (i, 10)).collect();
        let chunks = pack(small, 10, 1_000, |s| *s);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        assert_eq!(chunks[2][0].0, 20);

        let big: Vec<_> = (0..5).map(|i| (i, 400)).collect();
        let chunks = pack(big, 10, 1_000, |s| *s);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        for c in &chunks {
            assert!(c.iter().map(|(_, s)| s).sum::<usize>() <= 1_000);
        }
    }

    #[test]
    fn retry_pauses_double_around_the_backoff() {
        for attempt in 1..=3 {
            let base = ENTRY_BACKOFF * 2u32.pow(attempt - 1);
            let pause = retry_pause(attempt);
            assert!(
                pause >= base / 2 && pause < base * 3 / 2,
                "{attempt}: {pause:?}"
            );
        }
    }
}
