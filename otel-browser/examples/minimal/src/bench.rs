//! The side-by-side benchmark's hooks (`scripts/js-peer-bench.sh`), the same as the
//! OpenTelemetry JS pages' (`otel-browser/examples/minimal/js-peer/hooks.js`), shared by the
//! minimal and the full page (each includes this file, with its own `with_telemetry`, under its
//! `bench` feature; never in the pages whose sizes are checked).

use js_sys::{Object, Promise, Reflect};
use opentelemetry::{Context, KeyValue, trace::Span as _, trace::Tracer as _};
use wasm_bindgen::prelude::*;

use crate::page::with_telemetry;

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// `window.__tracerReady`: when, since navigation start, the first span could start; and
/// `window.__bench`, the hooks `{ spans(n), flush() }`, as `hooks.js` sets them on the JS pages
/// (on `window`, not as the module's exports: the loader imports only `initSync` from the glue,
/// so that the bundle leaves out the rest).
pub(crate) fn ready() {
    let global = js_sys::global();
    // First, as hooks.js stamps it: building the hooks is not the tracer's work.
    let _ = Reflect::set(&global, &"__tracerReady".into(), &now().into());
    let hooks = Object::new();
    // Owned by JavaScript from here (`into_js_value`): the hooks live as long as the page holds
    // them.
    let spans = Closure::<dyn Fn(u32) -> f64>::new(bench_spans).into_js_value();
    let flush = Closure::<dyn Fn() -> Promise>::new(bench_flush).into_js_value();
    let _ = Reflect::set(&hooks, &"spans".into(), &spans);
    let _ = Reflect::set(&hooks, &"flush".into(), &flush);
    let _ = Reflect::set(&global, &"__bench".into(), &hooks);
}

/// Creates and ends `n` root spans of 5 attributes each; the milliseconds it took.
fn bench_spans(n: u32) -> f64 {
    let Some(tracer) = with_telemetry(|t| t.tracer("bench")) else {
        return f64::NAN;
    };
    let started = now();
    for i in 0..n {
        let mut span = tracer
            .span_builder("bench")
            .with_attributes([
                KeyValue::new("bench.index", i64::from(i)),
                KeyValue::new("bench.label", "value"),
                KeyValue::new("bench.flag", true),
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", "https://example.com/api/products"),
            ])
            .start_with_context(&tracer, &Context::new());
        span.end();
    }
    now() - started
}

/// Sends what waits; the promise resolves when the requests have ended.
fn bench_flush() -> Promise {
    let flush = with_telemetry(|t| t.flush());
    wasm_bindgen_futures::future_to_promise(async move {
        if let Some(flush) = flush {
            flush.await;
        }
        Ok(JsValue::UNDEFINED)
    })
}
