//! What of the SDK's span rules needs a browser, in headless Chromium (`wasm-bindgen-test`):
//! the clock (`performance.timeOrigin + performance.now()`, sub-millisecond) and the ids
//! (`crypto.getRandomValues`). Every other rule (limits, last value, end once, status, parents,
//! sampling) is a native unit test, with a fake clock and ids: `src/trace/tests.rs`.
#![cfg(target_arch = "wasm32")]

use common::Service;
use opentelemetry::{
    Context,
    trace::{Span as _, TraceContextExt as _, TraceId, Tracer as _},
};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_dropped_span_ends_at_the_precise_clock() {
    let service = Service::new("sdk.drop");
    let telemetry = service.install();
    let before = otel_browser::clock::now();
    telemetry.tracer("drop").in_span("drop.span", |_cx| {});
    let span = service.the_span(&telemetry, "drop.span").await;
    let before = before
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_nanos() as u64;
    assert!(span.start_ns >= before);
    assert!(span.end_ns >= span.start_ns);
    assert!(
        span.start_ns % 1_000_000 != 0 || span.end_ns % 1_000_000 != 0,
        "sub-millisecond times, not Date.now()"
    );
}

#[wasm_bindgen_test]
fn crypto_ids_are_never_all_zero_and_spans_get_their_own() {
    let telemetry = Service::new("sdk.ids").install();
    let tracer = telemetry.tracer("ids");
    let root = tracer.start("ids.root");
    let root_context = root.span_context().clone();
    let cx = Context::new().with_span(root);
    let child = tracer.start_with_context("ids.child", &cx);
    assert!(root_context.is_valid() && child.span_context().is_valid());
    assert_ne!(root_context.span_id(), child.span_context().span_id());
    assert_ne!(root_context.trace_id(), TraceId::INVALID);
    let other = tracer.start("ids.other-root");
    assert_ne!(other.span_context().trace_id(), root_context.trace_id());
}
