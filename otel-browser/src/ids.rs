//! Trace and span ids from the platform's cryptographic random source.
//!
//! `getrandom`, which on `wasm32` (with the `wasm_js` backend) is `crypto.getRandomValues`. An
//! all-zero id is invalid in W3C Trace Context ("trace-id", "parent-id"), so it is redrawn. The
//! trace id is random in all its bits, as W3C Trace Context Level 2 asks of a trace whose `random`
//! flag is set ("Randomness of trace-id").

use opentelemetry::trace::{SpanId, TraceId};

/// A new random trace id, never all zeros.
pub fn new_trace_id() -> TraceId {
    loop {
        let id = TraceId::from_bytes(random());
        if id != TraceId::INVALID {
            return id;
        }
    }
}

/// A new random span id, never all zeros.
pub fn new_span_id() -> SpanId {
    loop {
        let id = SpanId::from_bytes(random());
        if id != SpanId::INVALID {
            return id;
        }
    }
}

/// Random bytes from a pool that one `crypto.getRandomValues` call fills for many ids (`POOL`
/// bytes: some 170 root spans or 500 children), not a call across to JavaScript for each id
/// (BENCHMARKS.md, "Against OpenTelemetry JS"). Bytes are handed out once, in order.
fn random<const N: usize>() -> [u8; N] {
    #[cfg(test)]
    if let Some(bytes) = fake::next() {
        return bytes;
    }
    // A panic elsewhere must not stop the ids: the pool is valid after any step.
    let mut pool = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if pool.used + N > POOL_BYTES {
        // Without a random source there is no safe id to make; the platform always has one.
        // (Not `expect`: printing the error's `Debug` would ship string escaping and Unicode
        // tables.)
        if getrandom::fill(&mut pool.bytes).is_err() {
            panic!("crypto.getRandomValues is unavailable");
        }
        pool.used = 0;
    }
    // `try_into`, not `copy_from_slice`, whose length-mismatch panic formats integers.
    let used = pool.used;
    pool.used += N;
    (pool.bytes.get(used..used + N).unwrap_or_default())
        .try_into()
        .unwrap_or([0; N])
}

/// How many random bytes one `getRandomValues` call draws: 4 KiB, in the module's zeroed memory
/// (no byte of the page). 512 B took a call every 21 roots, 10 % of a span's warm cost; 4 KiB
/// made creating and ending 1,000 spans 0.8 → 0.6 ms warm (BENCHMARKS.md).
const POOL_BYTES: usize = 4096;

struct Pool {
    bytes: [u8; POOL_BYTES],
    /// How many of `bytes` were handed out (all of them at first: the first id fills the pool).
    used: usize,
}

static POOL: std::sync::Mutex<Pool> = std::sync::Mutex::new(Pool {
    bytes: [0; POOL_BYTES],
    used: POOL_BYTES,
});

/// The unit tests' ids: the values a test queued, on its own thread, each as the low bytes of the
/// next id drawn (trace or span); random ones once the queue is empty.
#[cfg(test)]
pub(crate) mod fake {
    use std::{cell::RefCell, collections::VecDeque};

    thread_local! {
        static QUEUED: RefCell<VecDeque<u128>> = const { RefCell::new(VecDeque::new()) };
    }

    /// The next ids drawn on this thread, in order.
    pub(crate) fn queue(ids: impl IntoIterator<Item = u128>) {
        QUEUED.with_borrow_mut(|queued| queued.extend(ids));
    }

    pub(super) fn next<const N: usize>() -> Option<[u8; N]> {
        let id = QUEUED.with_borrow_mut(VecDeque::pop_front)?;
        let bytes = id.to_be_bytes();
        bytes.get(16 - N..)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_trace_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&TraceId::INVALID));
        assert_ne!(new_span_id(), SpanId::INVALID);
    }

    #[test]
    fn an_all_zero_draw_is_drawn_again() {
        fake::queue([0, 7, 0, 9]);
        assert_eq!(new_trace_id(), TraceId::from(7));
        assert_eq!(new_span_id(), SpanId::from(9));
    }
}
