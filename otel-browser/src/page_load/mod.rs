//! The page-load trace, with the Rust/WASM phases no other tool shows.
//!
//! [`PageLoad::install`], first thing in the app's `#[wasm_bindgen(start)]`, and
//! [`PageLoad::rendered`] after the first render:
//!
//! ```no_run
//! # use wasm_bindgen::prelude::wasm_bindgen;
//! # fn render_the_app() {}
//! # fn main() {}
//! #[wasm_bindgen(start)]
//! fn start() {
//!     let telemetry = otel_browser::BrowserTelemetry::install(Default::default());
//!     let page_load = otel_browser::page_load::PageLoad::install(&telemetry.tracer("my-app"));
//!     render_the_app();
//!     page_load.rendered();
//!     // Keep `telemetry` for the page's life (a real page stores it with its app).
//!     std::mem::forget(telemetry);
//! }
//! ```
//!
//! With trunk, the loader goes in `index.html` (`<script data-trunk type="module"
//! src="…/otel-browser/loader.js">`), `Trunk.toml` hands it the module's URL (`pattern_script`)
//! and bundles the glue into it (the post_build hook `otel-browser/bundle.py`), as
//! `examples/minimal/Trunk.toml` does.
//!
//! Once the document's `load` event has completed and the page has rendered (or the `PageLoad`
//! was dropped without rendering), it builds one trace from the browser's performance timeline,
//! as OpenTelemetry JS's
//! `@opentelemetry/instrumentation-document-load` does (0.59: `_collectPerformance`):
//!
//! ```text
//! documentLoad        navigation fetchStart → loadEventEnd (or the first render, if later)
//! ├ documentFetch     the document's fetchStart → responseEnd
//! ├ resourceFetch     one per PerformanceResourceTiming that ended by loadEventEnd, and the module
//! ├ wasm.download     the module's fetchStart → responseEnd
//! ├ wasm.compile      responseStart (or the loader's `wasm.compile` mark) → `wasm.compiled` mark
//! ├ wasm.instantiate  `wasm.compiled` → install
//! └ app.first_render  install → rendered
//! ```
//!
//! Span and event names are OpenTelemetry JS's: `documentLoad` carries the navigation's marks
//! (`fetchStart`, `unloadEventStart` … `loadEventEnd`) as events; marks that are 0 (did not
//! happen: no unload) are left out. For the page's bytes, and unlike OpenTelemetry JS, there
//! are no more events: the fetch spans carry no network events (`domainLookupStart` …: about
//! 90 B gzip) and `documentLoad` no paint events (`firstPaint`, `firstContentfulPaint`: about
//! 90 B; [`crate::web_vitals`] reports FCP). Attributes follow the browser SIG's model (opentelemetry-browser,
//! `instrumentation/src/{navigation,resource}-timing/semconv.ts`; semantic-conventions has no
//! browser timing model yet): `url.full`, `browser.navigation_timing.type`,
//! `browser.resource_timing.{initiator_type,transfer_size,encoded_body_size,decoded_body_size}`.
//! (`user_agent.original`, which OpenTelemetry JS also puts on `documentLoad`, is on the
//! resource already.) Times are `performance.timeOrigin` + the entry's time
//! ([`clock::from_high_res`](crate::clock::from_high_res)).
//!
//! Compile and instantiate are one step in wasm-bindgen's loader (`instantiateStreaming`), and
//! the browser shows no boundary between them. `otel-browser/loader.js`, the page's loader (trunk's
//! `pattern_script`), compiles first with `compileStreaming` and marks the moment
//! (`wasm.compiled`); on a page without it, one `wasm.compile_instantiate` span stands for both,
//! from the module's first bytes to install.

// Natively only the tests are built, and they leave the browser half's names unused.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

/// The loader's mark just before it hands the module's response to `compileStreaming`.
const COMPILE_MARK: &str = "wasm.compile";
/// The loader's mark when `compileStreaming` has resolved.
const COMPILED_MARK: &str = "wasm.compiled";

const DOCUMENT_LOAD: &str = "documentLoad";
const DOCUMENT_FETCH: &str = "documentFetch";
const RESOURCE_FETCH: &str = "resourceFetch";
const WASM_DOWNLOAD: &str = "wasm.download";
const WASM_COMPILE: &str = "wasm.compile";
const WASM_INSTANTIATE: &str = "wasm.instantiate";
const WASM_COMPILE_INSTANTIATE: &str = "wasm.compile_instantiate";
const FIRST_RENDER: &str = "app.first_render";

mod timing;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
#[cfg_attr(docsrs, doc(cfg(target_arch = "wasm32")))]
pub use browser::PageLoad;
