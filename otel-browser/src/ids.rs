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

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0_u8; N];
    // Without a random source there is no safe id to make; the platform always has one. (Not
    // `expect`: printing the error's `Debug` would ship string escaping and Unicode tables.)
    if getrandom::fill(&mut bytes).is_err() {
        panic!("crypto.getRandomValues is unavailable");
    }
    bytes
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
}
