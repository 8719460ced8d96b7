//! The checkout page: Rust/WASM, traced from the click on "Checkout" through every fetch.
//!
//! - [`app`]: wiring: state, rendering, event handlers, the checkout flow and its root span.
//! - [`api`]: the server calls, each in a CLIENT span whose context goes out as `traceparent`.
//! - [`dom`]: small typed helpers over `web_sys`, and listeners that remove themselves when dropped.
//! - [`cart`]: the cart's pure logic, tested natively.
//!
//! The telemetry itself (batching OTLP exporter, clock, ids) is the `otel-browser` crate, which
//! knows nothing of this page.

pub mod cart;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod dom;

/// The page's entry point, called once the module is loaded.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() -> Result<(), wasm_bindgen::JsValue> {
    console_error_panic_hook::set_once();
    app::run()
}
