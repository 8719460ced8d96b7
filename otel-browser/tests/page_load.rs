//! The page-load trace in headless Chromium (`wasm-bindgen-test`), as it arrives, OTLP-encoded, at
//! the real local receiver, each test's under a service of its own: one `documentLoad` root over
//! `documentFetch`, the `resourceFetch` spans and the wasm phases, each inside the root and in time
//! order. The test runner's page loads
//! its module with wasm-bindgen's own loader (no `wasm.compiled` mark): one
//! `wasm.compile_instantiate` span; the loader's split is checked with marks set by the test.
#![cfg(target_arch = "wasm32")]

use std::time::UNIX_EPOCH;

use common::Service;
use otel_browser::{BrowserTelemetry, clock, page_load::PageLoad};
use test_support::trace::{self, Span};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen]
extern "C" {
    /// `performance.mark(name).startTime`, as the loader marks.
    #[wasm_bindgen(js_namespace = performance, js_name = mark)]
    fn performance_mark(name: &str) -> JsValue;
    #[wasm_bindgen(js_namespace = performance, js_name = clearMarks)]
    fn clear_marks(name: &str);
}

/// The loader's marks, removed: each test starts from the test runner's page as it loaded.
fn clear_loader_marks() {
    clear_marks("wasm.compile");
    clear_marks("wasm.compiled");
}

fn mark(name: &str) -> f64 {
    js_sys::Reflect::get(&performance_mark(name), &"startTime".into())
        .expect("startTime")
        .as_f64()
        .expect("a number")
}

/// The exported page-load trace of `service`, once its root has arrived.
async fn trace_of(telemetry: &BrowserTelemetry, service: &Service) -> Trace {
    common::wait_for(
        &format!("documentLoad exported by {}", service.name()),
        || async {
            let spans = service.flushed(telemetry).await;
            spans
                .iter()
                .any(|s| s.name == "documentLoad")
                .then_some(Trace(spans))
        },
    )
    .await
}

struct Trace(Vec<Span>);

impl Trace {
    fn named(&self, name: &str) -> Vec<&Span> {
        self.0.iter().filter(|s| s.name == name).collect()
    }

    fn one(&self, name: &str) -> &Span {
        trace::one(&self.0, name)
    }

    fn root(&self) -> &Span {
        self.one("documentLoad")
    }

    /// Every span but the root is its child, and lies inside it.
    fn assert_children_inside_the_root(&self) {
        let root = self.root();
        assert!(root.parent_id.is_empty(), "documentLoad is a root");
        for span in self.0.iter().filter(|s| s.name != "documentLoad") {
            assert_eq!(span.trace_id, root.trace_id, "{}", span.name);
            assert_eq!(span.parent_id, root.span_id, "{}", span.name);
            assert!(span.start_ns >= root.start_ns, "{}", span.name);
            assert!(span.end_ns <= root.end_ns, "{}", span.name);
            assert!(span.start_ns <= span.end_ns, "{}", span.name);
        }
    }

    /// `names` exist once each and follow one another: each starts and ends no earlier than the
    /// one before.
    fn assert_in_time_order(&self, names: &[&str]) {
        let spans: Vec<&Span> = names.iter().map(|name| self.one(name)).collect();
        for pair in spans.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            assert!(
                before.start_ns <= after.start_ns && before.end_ns <= after.end_ns,
                "{} before {}",
                before.name,
                after.name
            );
        }
    }
}

/// A performance-timeline time as the exported spans carry it.
fn unix_nanos(high_res: f64) -> u64 {
    let since_epoch = clock::from_high_res(high_res).duration_since(UNIX_EPOCH);
    u64::try_from(since_epoch.expect("after the epoch").as_nanos()).expect("fits")
}

/// The page-load trace of a `PageLoad` installed and rendered at once by the service `name`,
/// without loader marks.
async fn page_load_trace(name: &str) -> Trace {
    clear_loader_marks();
    let service = Service::new(name);
    let telemetry = service.install();
    PageLoad::install(&telemetry.tracer("page_load")).rendered();
    let trace = trace_of(&telemetry, &service).await;
    clear_loader_marks();
    trace
}

fn location_href() -> String {
    let location = js_sys::Reflect::get(&js_sys::global(), &"location".into()).expect("location");
    (js_sys::Reflect::get(&location, &"href".into()).expect("href"))
        .as_string()
        .expect("a string")
}

#[wasm_bindgen_test]
async fn the_document_its_fetch_and_its_resources_are_one_trace_under_document_load() {
    let trace = page_load_trace("page_load.document").await;

    trace.assert_children_inside_the_root();
    let root = trace.root();
    assert_eq!(
        root.wire.attributes.string("url.full"),
        Some(&*location_href())
    );
    assert_eq!(
        root.wire
            .attributes
            .string("browser.navigation_timing.type"),
        Some("navigate")
    );
    let events: Vec<&str> = root.wire.events.iter().map(|e| e.name.as_str()).collect();
    for name in [
        "fetchStart",
        "domInteractive",
        "domComplete",
        "loadEventEnd",
    ] {
        assert!(events.contains(&name), "{name} in {events:?}");
    }
    assert!(
        (root.wire.events.windows(2)).all(|w| w[0].time_ns <= w[1].time_ns),
        "the navigation's marks in time order"
    );

    let document = trace.one("documentFetch");
    assert_eq!(
        document.wire.attributes.string("url.full"),
        Some(&*location_href())
    );
    assert!(
        (document.wire.attributes)
            .int("browser.resource_timing.decoded_body_size")
            .is_some()
    );
    assert!(
        document.wire.events.is_empty(),
        "no network events on the fetch spans"
    );

    let resources = trace.named("resourceFetch");
    let module = (resources.iter())
        .find(|s| s.attr("url.full").ends_with(".wasm"))
        .expect("the test's own module is a resource");
    assert!(
        (module.wire.attributes)
            .string("browser.resource_timing.initiator_type")
            .is_some()
    );
    assert_eq!(
        trace.one("wasm.download").attr("url.full"),
        module.attr("url.full")
    );
}

#[wasm_bindgen_test]
async fn without_the_loaders_marks_compile_and_instantiate_are_one_span_in_order() {
    let trace = page_load_trace("page_load.default_loader").await;

    trace.assert_children_inside_the_root();
    trace.assert_in_time_order(&[
        "wasm.download",
        "wasm.compile_instantiate",
        "app.first_render",
    ]);
    assert!(trace.named("wasm.compile").is_empty());
    assert!(trace.named("wasm.instantiate").is_empty());
    let download = &trace.one("wasm.download").wire.attributes;
    for size in ["transfer_size", "encoded_body_size", "decoded_body_size"] {
        let key = format!("browser.resource_timing.{size}");
        assert!(download.int(&key).is_some(), "{key}");
    }
    let decoded =
        (download.int("browser.resource_timing.decoded_body_size")).expect("decoded size");
    assert!(decoded > 1000, "the module's bytes: {decoded}");
    assert_eq!(
        trace.one("wasm.compile_instantiate").end_ns,
        trace.one("app.first_render").start_ns,
        "both at install"
    );
}

#[wasm_bindgen_test]
async fn the_loaders_marks_split_compile_from_instantiate() {
    clear_loader_marks();
    let service = Service::new("page_load.split");
    let telemetry = service.install();
    // As `loader.js` marks: the response handed to `compileStreaming`, then compiled.
    let compile = mark("wasm.compile");
    let compiled = mark("wasm.compiled");
    PageLoad::install(&telemetry.tracer("page_load")).rendered();
    let trace = trace_of(&telemetry, &service).await;
    clear_loader_marks();

    trace.assert_children_inside_the_root();
    trace.assert_in_time_order(&[
        "wasm.download",
        "wasm.compile",
        "wasm.instantiate",
        "app.first_render",
    ]);
    assert!(trace.named("wasm.compile_instantiate").is_empty());
    let (compile_span, instantiate) = (trace.one("wasm.compile"), trace.one("wasm.instantiate"));
    assert_eq!(compile_span.start_ns, unix_nanos(compile));
    assert_eq!(compile_span.end_ns, unix_nanos(compiled));
    assert_eq!(instantiate.start_ns, unix_nanos(compiled));
    assert_eq!(instantiate.end_ns, trace.one("app.first_render").start_ns);
}

#[wasm_bindgen_test]
async fn dropped_before_rendering_the_trace_has_no_first_render() {
    clear_loader_marks();
    let service = Service::new("page_load.unrendered");
    let telemetry = service.install();
    drop(PageLoad::install(&telemetry.tracer("page_load")));
    let trace = trace_of(&telemetry, &service).await;
    clear_loader_marks();

    trace.assert_children_inside_the_root();
    assert!(trace.named("app.first_render").is_empty());
    let root = trace.root();
    let load_event_end = root.event("loadEventEnd").expect("loadEventEnd").time_ns;
    let installed = trace.one("wasm.compile_instantiate").end_ns;
    assert_eq!(
        root.end_ns,
        installed.max(load_event_end),
        "without a render the root ends at load or at install, whichever came later"
    );
}
