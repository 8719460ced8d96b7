//! The checkout page: Rust/WASM, traced from the click on "Checkout" through every fetch.
//!
//! - [`app`]: the controller: what each message does, the checkout flow, and every
//!   `otel-browser` instrumentation installed.
//! - [`state`]: the page's state and the messages that change it (pure logic, tested natively).
//! - [`view`]: draws the state and turns clicks into typed messages for the controller.
//! - [`api`]: the server calls, each in a CLIENT span whose context goes out as `traceparent`,
//!   with the typed bodies of the shared `checkout-api` crate.
//! - [`json`]: those bodies to and from the browser's JSON values, by hand (no serde in the page).
//! - [`dom`]: small typed helpers over `web_sys`, and listeners that remove themselves when dropped.
//! - [`cart`]: the cart's pure logic, tested natively.
//! - [`waterfall`]: the checkout's trace as bars on one time axis, from the spans' times and the
//!   server's `Server-Timing` (pure logic, tested natively).
//!
//! The telemetry itself (the SDK behind the `opentelemetry` API, its batching OTLP exporter,
//! clock and ids) is the `otel-browser` crate, which knows nothing of this page.

// An application (or its tests' support), not a library for others: an item is documented where
// the doc says more than its name. The library crates (otel-browser, otlp-wire, trace-context,
// checkout-api) keep the workspace's `missing_docs`.
#![allow(missing_docs)]

pub mod cart;
pub mod state;
pub mod waterfall;

/// The page's allocator: talc, not Rust's default dlmalloc: 1.7–1.9 KB less gzipped, no slower
/// (BENCHMARKS.md, "Page size"). It needs single-threaded wasm, which a page without threads is.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod dom;
#[cfg(target_arch = "wasm32")]
pub mod json;
#[cfg(target_arch = "wasm32")]
pub mod view;

/// The page's entry point, called once the module is loaded.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    app::run();
}
