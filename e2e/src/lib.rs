//! The end-to-end harness: the whole stack on this machine, driven by a real browser.
//!
//! - [`stack`]: starts the pieces, each on its own free ports, as compose runs them ([`distribution`]
//!   runs the two Go programs on their config files): [`jaeger`]
//!   (Jaeger v2 built from its Go module, on `jaeger/config.yaml`, Badger in a temporary
//!   directory), [`otelcol`] (the collector built from `otel-collector/builder-config.yaml`, on
//!   `otel-collector/config.yaml`), [`prometheus`] (built from its Go module, on
//!   `prometheus/prometheus.yml`: the store of the span metrics Jaeger's Monitor tab reads), the
//!   checkout server (the real binary, with a temporary
//!   database), and the page: the trunk release build behind the page's own nginx ([`edge`]), or
//!   served as `trunk serve` does ([`page`]). Or, with `E2E_PAGE_URL` and `E2E_JAEGER_URL`, a
//!   running compose stack. Either way the spans are read back from Jaeger's query API.
//! - [`browser`]: headless Chromium through chromedriver (fantoccini), with the session closed even
//!   when a test fails; `find` and `act` helpers that wait for conditions, never sleep.
//! - [`trace`], [`process`], [`wait_for`]: from the `test-support` crate, shared with the server's
//!   own tests.

// An application (or its tests' support), not a library for others: an item is documented where
// the doc says more than its name. The library crates (otel-browser, otlp-wire, trace-context,
// checkout-api) keep the workspace's `missing_docs`.
#![allow(missing_docs)]

pub mod browser;
pub mod distribution;
pub mod edge;
pub mod fault;
pub mod hosts;
pub mod jaeger;
pub mod otelcol;
pub mod page;
pub mod prometheus;
pub mod stack;

pub use test_support::{process, trace, wait_for};

/// The workspace's root, where `dist/`, `web/` and `test-artifacts/` are.
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}
