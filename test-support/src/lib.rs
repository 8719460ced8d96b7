//! What the server's tests, its benches and the end-to-end tests share, so each exists once:
//!
//! - [`collector`]: a fake OTLP/HTTP collector that is healthy (and decodes what it gets), down,
//!   hanging or failing.
//! - [`fixtures`]: what tests pay with: the test cards, a CVC, an email, a checkout body.
//! - [`trace`]: spans flattened from OTLP (or from Jaeger's API), and the tree lookups the
//!   assertions use.
//! - [`ledger`]: the orders and stock of a database (SQLite or PostgreSQL) and their invariant.
//! - [`postgres`]: a real PostgreSQL (`TEST_POSTGRES_URL`, or started from the installed
//!   binaries) and a fresh database in it per test.
//! - [`process`]: child processes killed on drop, with their output kept; free ports; waits.
//! - [`rotel`]: a real OTLP collector (rotel) forwarding to an address of the test's.
//! - [`schema`]: the trace's schema (`semconv/`, OpenTelemetry's names), checked against spans.
//! - [`secrets`]: the card data a run sent, and the scan that finds it in a text.
//! - [`tls`]: a CA generated for the test, the certificates it issues, a TLS listener.
//! - [`server`]: the checkout server's binary started on a free port, its address read from its
//!   "listening" line.
//! - [`wait_for`]: polling a condition with a deadline, never a bare sleep.

// An application (or its tests' support), not a library for others: an item is documented where
// the doc says more than its name. The library crates (otel-browser, otlp-wire, trace-context,
// checkout-api) keep the workspace's `missing_docs`.
#![allow(missing_docs)]

pub mod collector;
pub mod fixtures;
pub mod ledger;
pub mod postgres;
pub mod process;
pub mod rotel;
pub mod schema;
pub mod secrets;
pub mod server;
pub mod tls;
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
