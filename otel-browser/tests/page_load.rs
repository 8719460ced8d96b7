//! The page-load trace in headless Chromium (`wasm-bindgen-test`), as it arrives, OTLP-encoded, at
//! the real local receiver: one `documentLoad` root over `documentFetch`, the `resourceFetch`
//! spans and the wasm phases, each inside the root and in time order. The test runner's page loads
//! its module with wasm-bindgen's own loader (no `wasm.compiled` mark): one
//! `wasm.compile_instantiate` span; the loader's split is checked with marks set by the test.
#![cfg(target_arch = "wasm32")]

use std::time::{Duration, UNIX_EPOCH};

use common::{RECEIVER, exported_in_scope};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_proto::tonic::{common::v1::any_value, trace::v1::Span as ExportedSpan};
use otel_browser::{BrowserTelemetry, Config, clock, page_load::PageLoad};
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

/// Telemetry exporting to the receiver; spans are sent when [`trace_of`] flushes.
fn install() -> BrowserTelemetry {
    BrowserTelemetry::install(Config {
        endpoint: format!("{RECEIVER}/v1/traces").into(),
        schedule_delay: Duration::from_secs(3600),
        ..Default::default()
    })
}

/// A tracer scope of this run only: the receiver keeps what earlier runs sent, from pages at
/// other ports.
fn scope(name: &str) -> String {
    format!("{name} {}", location_href())
}

/// The exported page-load trace of the tracer named `scope`, once its root has arrived.
async fn trace_of(telemetry: &BrowserTelemetry, scope: &str) -> Trace {
    common::wait_for(&format!("documentLoad exported for {scope}"), || async {
        telemetry.flush().await;
        let spans = exported_in_scope(scope).await;
        spans
            .iter()
            .any(|s| s.name == "documentLoad")
            .then_some(Trace(spans))
    })
    .await
}

struct Trace(Vec<ExportedSpan>);

impl Trace {
    fn named(&self, name: &str) -> Vec<&ExportedSpan> {
        self.0.iter().filter(|s| s.name == name).collect()
    }

    fn one(&self, name: &str) -> &ExportedSpan {
        let spans = self.named(name);
        assert_eq!(spans.len(), 1, "one {name}");
        spans[0]
    }

    fn root(&self) -> &ExportedSpan {
        self.one("documentLoad")
    }

    /// Every span but the root is its child, and lies inside it.
    fn assert_children_inside_the_root(&self) {
        let root = self.root();
        assert!(root.parent_span_id.is_empty(), "documentLoad is a root");
        for span in self.0.iter().filter(|s| s.name != "documentLoad") {
            assert_eq!(span.trace_id, root.trace_id, "{}", span.name);
            assert_eq!(span.parent_span_id, root.span_id, "{}", span.name);
            assert!(
                span.start_time_unix_nano >= root.start_time_unix_nano,
                "{}",
                span.name
            );
            assert!(
                span.end_time_unix_nano <= root.end_time_unix_nano,
                "{}",
                span.name
            );
            assert!(
                span.start_time_unix_nano <= span.end_time_unix_nano,
                "{}",
                span.name
            );
        }
    }

    /// `names` exist once each and follow one another: each starts and ends no earlier than the
    /// one before.
    fn assert_in_time_order(&self, names: &[&str]) {
        let spans: Vec<&ExportedSpan> = names.iter().map(|name| self.one(name)).collect();
        for pair in spans.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            assert!(
                before.start_time_unix_nano <= after.start_time_unix_nano
                    && before.end_time_unix_nano <= after.end_time_unix_nano,
                "{} before {}",
                before.name,
                after.name
            );
        }
    }
}

/// The string or integer value of attribute `key`, as text.
fn attr(span: &ExportedSpan, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A performance-timeline time as the exported spans carry it.
fn unix_nanos(high_res: f64) -> u64 {
    let since_epoch = clock::from_high_res(high_res).duration_since(UNIX_EPOCH);
    u64::try_from(since_epoch.expect("after the epoch").as_nanos()).expect("fits")
}

/// The page-load trace of a `PageLoad` installed and rendered at once, its tracer's scope named
/// `name` (and this page's URL: the receiver keeps earlier runs' spans), without loader marks.
async fn page_load_trace(name: &str) -> Trace {
    clear_loader_marks();
    let telemetry = install();
    let scope = scope(name);
    let tracer = telemetry.provider().tracer(scope.clone());
    PageLoad::install(&tracer).rendered();
    let trace = trace_of(&telemetry, &scope).await;
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
    assert_eq!(attr(root, "url.full"), Some(location_href()));
    assert_eq!(
        attr(root, "browser.navigation_timing.type").as_deref(),
        Some("navigate")
    );
    let events: Vec<&str> = root.events.iter().map(|e| e.name.as_str()).collect();
    for name in [
        "fetchStart",
        "domInteractive",
        "domComplete",
        "loadEventEnd",
    ] {
        assert!(events.contains(&name), "{name} in {events:?}");
    }
    assert!(
        (root.events.windows(2)).all(|w| w[0].time_unix_nano <= w[1].time_unix_nano),
        "the navigation's marks in time order"
    );

    let document = trace.one("documentFetch");
    assert_eq!(attr(document, "url.full"), Some(location_href()));
    assert!(attr(document, "browser.resource_timing.decoded_body_size").is_some());
    assert!(
        document.events.is_empty(),
        "no network events on the fetch spans"
    );

    let resources = trace.named("resourceFetch");
    let module = (resources.iter())
        .find(|s| attr(s, "url.full").is_some_and(|url| url.ends_with(".wasm")))
        .expect("the test's own module is a resource");
    assert!(attr(module, "browser.resource_timing.initiator_type").is_some());
    assert_eq!(
        attr(trace.one("wasm.download"), "url.full"),
        attr(module, "url.full")
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
    let download = trace.one("wasm.download");
    for size in ["transfer_size", "encoded_body_size", "decoded_body_size"] {
        let key = format!("browser.resource_timing.{size}");
        assert!(attr(download, &key).is_some(), "{key}");
    }
    let decoded: u64 = attr(download, "browser.resource_timing.decoded_body_size")
        .expect("decoded size")
        .parse()
        .expect("a number");
    assert!(decoded > 1000, "the module's bytes: {decoded}");
    assert_eq!(
        trace.one("wasm.compile_instantiate").end_time_unix_nano,
        trace.one("app.first_render").start_time_unix_nano,
        "both at install"
    );
}

#[wasm_bindgen_test]
async fn the_loaders_marks_split_compile_from_instantiate() {
    clear_loader_marks();
    let telemetry = install();
    let scope = scope("page_load.split");
    let tracer = telemetry.provider().tracer(scope.clone());
    // As `loader.js` marks: the response handed to `compileStreaming`, then compiled.
    let compile = mark("wasm.compile");
    let compiled = mark("wasm.compiled");
    PageLoad::install(&tracer).rendered();
    let trace = trace_of(&telemetry, &scope).await;
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
    assert_eq!(compile_span.start_time_unix_nano, unix_nanos(compile));
    assert_eq!(compile_span.end_time_unix_nano, unix_nanos(compiled));
    assert_eq!(instantiate.start_time_unix_nano, unix_nanos(compiled));
    assert_eq!(
        instantiate.end_time_unix_nano,
        trace.one("app.first_render").start_time_unix_nano
    );
}

#[wasm_bindgen_test]
async fn dropped_before_rendering_the_trace_has_no_first_render() {
    clear_loader_marks();
    let telemetry = install();
    let scope = scope("page_load.unrendered");
    let tracer = telemetry.provider().tracer(scope.clone());
    drop(PageLoad::install(&tracer));
    let trace = trace_of(&telemetry, &scope).await;
    clear_loader_marks();

    trace.assert_children_inside_the_root();
    assert!(trace.named("app.first_render").is_empty());
    let root = trace.root();
    let load_event_end = (root.events.iter())
        .find(|e| e.name == "loadEventEnd")
        .expect("loadEventEnd")
        .time_unix_nano;
    let installed = trace.one("wasm.compile_instantiate").end_time_unix_nano;
    assert_eq!(
        root.end_time_unix_nano,
        installed.max(load_event_end),
        "without a render the root ends at load or at install, whichever came later"
    );
}
