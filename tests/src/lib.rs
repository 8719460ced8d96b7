//! The end-to-end harness: the whole stack on this machine, driven by a real browser.
//!
//! - [`stack`]: starts the pieces, each on its own free port: the checkout server (the real binary,
//!   with a temporary database), a real OTLP collector (rotel, from PyPI), a [`capture`] endpoint
//!   that the collector forwards to, and a [`page`] host serving the trunk release build behind the
//!   same proxies as `Trunk.toml`. Or, with `E2E_PAGE_URL` and `E2E_JAEGER_URL`, a running compose
//!   stack, whose traces are read back from Jaeger.
//! - [`browser`]: headless Chromium through chromedriver (fantoccini), with the session closed even
//!   when a test fails; `find` and `act` helpers that wait for conditions, never sleep.
//! - [`trace`]: the spans of a trace, flattened, with the `check` helpers the tests assert with.

pub mod browser;
pub mod capture;
pub mod page;
pub mod process;
pub mod stack;
pub mod trace;

use std::{future::Future, time::Duration};

/// Polls `condition` until it yields a value, every 50 ms for at most `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
