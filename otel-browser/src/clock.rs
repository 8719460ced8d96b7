//! The high-resolution wall clock: `performance.timeOrigin + performance.now()`.
//!
//! `SystemTime::now()` panics on `wasm32-unknown-unknown`, and the API crate's own clock there is
//! `Date.now()`, whole milliseconds only: too coarse to order a click, a fetch and a server span.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The `performance` global, for the getter below.
    type Performance;
    /// `performance.timeOrigin`, through a getter import: a static (`thread_local_v2`) inlined its
    /// lazy cell's checks into every caller: 52 B gzipped more on the minimal page (BENCHMARKS.md,
    /// "Page size"). Read once, by [`origin_millis`].
    #[wasm_bindgen(static_method_of = Performance, js_class = "performance", getter = timeOrigin)]
    fn time_origin_millis() -> f64;
}

/// `performance.timeOrigin`, read from the browser once (it never changes): a span's start and
/// end then cost one call across to JavaScript each, `performance.now()`.
#[cfg(target_arch = "wasm32")]
fn origin_millis() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    // Its bits; 0 until read (no page's origin is the epoch).
    static ORIGIN: AtomicU64 = AtomicU64::new(0);
    match ORIGIN.load(Ordering::Relaxed) {
        0 => {
            let origin = Performance::time_origin_millis();
            ORIGIN.store(origin.to_bits(), Ordering::Relaxed);
            origin
        }
        bits => f64::from_bits(bits),
    }
}

/// `performance.now()`: the browser's function itself, bound once in the transport's snippet
/// (`js/transport.js`, `now`), which wasm calls with no JavaScript between: no `window` or
/// `performance` lookup on a span's start and end (and it works in workers too).
#[cfg(target_arch = "wasm32")]
pub(crate) fn performance_now() -> f64 {
    crate::transport::now()
}

/// Now, with sub-millisecond resolution in browsers that allow it.
#[cfg(target_arch = "wasm32")]
pub fn now() -> SystemTime {
    from_high_res(performance_now())
}

/// A `DOMHighResTimeStamp` of this page (milliseconds since `performance.timeOrigin`: a
/// performance entry's `startTime`, `fetchStart`, `loadEventEnd`, …) as wall time, the way [`now`]
/// makes `performance.now()` one (High Resolution Time, "Relative high resolution time").
#[cfg(target_arch = "wasm32")]
pub fn from_high_res(millis: f64) -> SystemTime {
    from_unix_millis(origin_millis() + millis)
}

/// `performance.timeOrigin`: when the page's navigation started (a page view's start).
#[cfg(target_arch = "wasm32")]
pub fn time_origin() -> SystemTime {
    from_unix_millis(origin_millis())
}

/// Now (native builds, for tests and tools; the crate's unit tests can set it, [`fake`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn now() -> SystemTime {
    #[cfg(test)]
    if let Some(now) = fake::NOW.get() {
        return now;
    }
    SystemTime::now()
}

/// The unit tests' clock: `now` is what a test set, on its own thread.
#[cfg(test)]
pub(crate) mod fake {
    use std::{cell::Cell, time::SystemTime};

    thread_local! {
        pub(super) static NOW: Cell<Option<SystemTime>> = const { Cell::new(None) };
    }

    /// From now on, on this thread, [`now`](super::now) is `at`.
    pub(crate) fn set(at: SystemTime) {
        NOW.set(Some(at));
    }
}

/// A JavaScript timestamp (fractional milliseconds since the epoch) as a `SystemTime`.
/// Negative and NaN become the epoch; the float-to-integer cast saturates, so this never panics
/// (`Duration::from_secs_f64` can, and brings float formatting for its message into the page).
pub fn from_unix_millis(millis: f64) -> SystemTime {
    // Microseconds: performance.now() is coarsened to 5–100 µs by browsers anyway.
    UNIX_EPOCH + Duration::from_micros((millis * 1000.0).round() as u64)
}

/// `time` in fractional milliseconds since the epoch.
pub fn unix_millis(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_milliseconds_keep_their_fraction() {
        let t = from_unix_millis(1_764_000_000_123.456);
        assert!((unix_millis(t) - 1_764_000_000_123.456).abs() < 0.001);
        assert_eq!(
            t.duration_since(UNIX_EPOCH)
                .expect("after epoch")
                .subsec_micros()
                % 1000,
            456
        );
    }
}
