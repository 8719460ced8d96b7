//! What the server's tests, its benches, the end-to-end tests and the browser tests share, so each
//! exists once.
//!
//! Without default features, only what builds for wasm32 (the browser tests' part: no tokio, sqlx,
//! axum or rustls):
//!
//! - [`trace`]: spans flattened from OTLP (or from Jaeger's API), typed attribute lookups, and the
//!   tree lookups the assertions use.
//! - [`received`]: what the browser tests' receiver (`src/bin/test-receiver.rs`) answers to
//!   `GET /received`, one type for both sides.
//!
//! With the default feature `harness`, the rest:
//!
//! - [`collector`]: a fake OTLP/HTTP collector that is healthy (and decodes what it gets), down,
//!   hanging or failing; its route and what it received ([`collector::Recorder`]) also for a
//!   server of another's, as the browser tests' receiver serves them.
//! - [`fixtures`]: what tests pay with: the test cards, a CVC, an email, a checkout body.
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

pub mod received;
pub mod trace;

#[cfg(feature = "harness")]
pub mod collector;
#[cfg(feature = "harness")]
pub mod fixtures;
#[cfg(feature = "harness")]
pub mod ledger;
#[cfg(feature = "harness")]
pub mod postgres;
#[cfg(feature = "harness")]
pub mod process;
#[cfg(feature = "harness")]
pub mod rotel;
#[cfg(feature = "harness")]
pub mod schema;
#[cfg(feature = "harness")]
pub mod secrets;
#[cfg(feature = "harness")]
pub mod server;
#[cfg(feature = "harness")]
pub mod tls;

#[cfg(feature = "harness")]
use std::{future::Future, time::Duration};

/// Polls `condition` until it yields a value, every 50 ms for at most `timeout`.
#[cfg(feature = "harness")]
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
