//! The browser's side of the page-load trace: the performance timeline read, the `load` event
//! and the first render waited for, and the spans started at the entries' times.

use std::{cell::Cell, rc::Rc};

use js_sys::{Array, Reflect};
use opentelemetry::{
    Context, KeyValue,
    trace::{Span as _, TraceContextExt as _, Tracer as _},
};
use wasm_bindgen::{JsValue, closure::Closure};
use web_sys::Event;

use super::{timing::*, *};
use crate::{Span, Tracer, clock};

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `performance.getEntriesByType(type)`.
    #[wasm_bindgen(js_namespace = performance, js_name = getEntriesByType)]
    fn entries_by_type(entry_type: &str) -> Array;
    /// `performance.getEntriesByName(name, type)`.
    #[wasm_bindgen(js_namespace = performance, js_name = getEntriesByName)]
    fn entries_by_name(name: &str, entry_type: &str) -> Array;
    /// The global `addEventListener(type, listener)`: the window's, without a `window`.
    #[wasm_bindgen(js_name = addEventListener)]
    fn add_event_listener(event_type: &str, listener: &JsValue);
}

const NAME: &str = "name";
const FETCH_START: &str = "fetchStart";
const RESPONSE_START: &str = "responseStart";
const RESPONSE_END: &str = "responseEnd";
const LOAD_EVENT_END: &str = "loadEventEnd";
const URL_FULL: &str = "url.full";

/// The navigation's marks that OpenTelemetry JS adds to `documentLoad` as events, named as
/// the `PerformanceNavigationTiming` fields they are read from.
const DOCUMENT_EVENTS: [&str; 9] = [
    FETCH_START,
    "unloadEventStart",
    "unloadEventEnd",
    "domInteractive",
    "domContentLoadedEventStart",
    "domContentLoadedEventEnd",
    "domComplete",
    "loadEventStart",
    LOAD_EVENT_END,
];
/// The sizes of a fetch: (attribute, `PerformanceResourceTiming` field).
const SIZES: [(&str, &str); 3] = [
    ("browser.resource_timing.transfer_size", "transferSize"),
    (
        "browser.resource_timing.encoded_body_size",
        "encodedBodySize",
    ),
    (
        "browser.resource_timing.decoded_body_size",
        "decodedBodySize",
    ),
];

/// The page load being traced. Keep it until the first render, then call
/// [`rendered`](Self::rendered); dropped without that, the trace has no first-render span.
#[must_use = "call `rendered()` after the first render"]
pub struct PageLoad {
    pending: Rc<Pending>,
}

struct Pending {
    tracer: Tracer,
    installed: f64,
    stage: Cell<Stage>,
}

impl PageLoad {
    /// Starts tracing the page load: call it first thing in `#[wasm_bindgen(start)]`, which
    /// wasm-bindgen calls right after instantiating the module, so that now is the moment
    /// instantiation ended (taken as [`clock::now`] is, in the performance timeline's
    /// milliseconds).
    ///
    /// The `load` event has completed at once when the navigation's `loadEventEnd` is set
    /// already; else at the window's first `pageshow`, which the browser fires right after
    /// setting `loadEventEnd` (HTML, "The end": load event start time, `load`, load event end
    /// time, then `pageshow`, in one task). OpenTelemetry JS waits a `setTimeout(0)` after
    /// `load` for the same mark; `pageshow` needs no timer.
    pub fn install(tracer: &Tracer) -> PageLoad {
        let pending = Rc::new(Pending {
            tracer: tracer.clone(),
            installed: clock::performance_now(),
            stage: Cell::new(Stage::Loading),
        });
        if number(&entries_by_type("navigation").get(0), LOAD_EVENT_END) > 0.0 {
            pending.step(Step::Loaded);
        } else {
            let task = Rc::clone(&pending);
            // Kept for the page's life: a later `pageshow` (back/forward cache) finds the
            // trace built and does nothing.
            let listener =
                Closure::<dyn FnMut(Event)>::new(move |_: Event| task.step(Step::Loaded));
            add_event_listener("pageshow", &listener.into_js_value());
        }
        PageLoad { pending }
    }

    /// The first render is done: the trace is built now, or when `load` has completed.
    pub fn rendered(self) {
        let render = FirstRender::At(clock::performance_now());
        self.pending.step(Step::Rendered(render));
        // Then `drop`'s `Skipped` comes second and changes nothing.
    }
}

impl Drop for PageLoad {
    fn drop(&mut self) {
        self.pending.step(Step::Rendered(FirstRender::Skipped));
    }
}

impl Pending {
    fn step(&self, step: Step) {
        let (stage, build) = self.stage.get().after(step);
        self.stage.set(stage);
        if let Some(render) = build {
            let rendered = match render {
                FirstRender::At(t) => Some(t),
                FirstRender::Skipped => None,
            };
            trace(&self.tracer, self.installed, rendered);
        }
    }
}

/// Builds and ends the whole trace.
#[inline(never)]
fn trace(tracer: &Tracer, installed: f64, first_render: Option<f64>) {
    let navigation = entries_by_type("navigation").get(0);
    let load_event_end = number(&navigation, LOAD_EVENT_END);
    let resources = entries_by_type("resource");
    let root = document_load(
        number(&navigation, FETCH_START),
        load_event_end,
        installed,
        first_render,
    );

    let mut span = start(tracer, &Context::new(), DOCUMENT_LOAD, root.start);
    text_attribute(&mut span, URL_FULL, &navigation, NAME);
    text_attribute(
        &mut span,
        "browser.navigation_timing.type",
        &navigation,
        "type",
    );
    add_events(&mut span, &navigation, &DOCUMENT_EVENTS);
    let cx = Context::new().with_span(span);

    fetch_span(tracer, &cx, DOCUMENT_FETCH, &navigation, root, false);
    // The resources that ended by `loadEventEnd`, and every module that may be the running
    // one (the last of them is), however late it ended.
    let mut module = None;
    for entry in resources.iter() {
        let url = text(&entry, NAME);
        let may_run = may_run(&url, number(&entry, FETCH_START), installed);
        if may_run || number(&entry, RESPONSE_END) <= load_event_end {
            fetch_span(tracer, &cx, RESOURCE_FETCH, &entry, root, true);
        }
        if may_run {
            module = Some(entry);
        }
    }
    let marks = LoaderMarks {
        compile: latest(COMPILE_MARK, "mark"),
        compiled: latest(COMPILED_MARK, "mark"),
    };
    let timing = module.as_ref().map(|m| FetchTiming {
        fetch_start: number(m, FETCH_START),
        response_start: number(m, RESPONSE_START),
        response_end: number(m, RESPONSE_END),
    });
    let phases = wasm_phases(timing, marks, installed, first_render);
    for (index, (name, interval)) in phases.into_iter().enumerate() {
        let Some(interval) = interval else { continue };
        let interval = interval.within(root);
        let mut span = start(tracer, &cx, name, interval.start);
        // The first phase, `wasm.download`, is the module's fetch.
        if let (0, Some(module)) = (index, &module) {
            fetch_attributes(&mut span, module);
        }
        span.end_with_timestamp(clock::from_high_res(interval.end));
    }
    cx.span().end_with_timestamp(clock::from_high_res(root.end));
}

/// A fetch's span (`documentFetch`, `resourceFetch`): `fetchStart` → `responseEnd` inside
/// `root`, with its URL, sizes and initiator (a resource's).
fn fetch_span(
    tracer: &Tracer,
    cx: &Context,
    name: &'static str,
    entry: &JsValue,
    root: Interval,
    resource: bool,
) {
    let timing = Interval::new(number(entry, FETCH_START), number(entry, RESPONSE_END));
    let timing = timing.within(root);
    let mut span = start(tracer, cx, name, timing.start);
    fetch_attributes(&mut span, entry);
    if resource {
        text_attribute(
            &mut span,
            "browser.resource_timing.initiator_type",
            entry,
            "initiatorType",
        );
    }
    span.end_with_timestamp(clock::from_high_res(timing.end));
}

fn start(tracer: &Tracer, cx: &Context, name: &'static str, at: f64) -> Span {
    (tracer.span_builder(name))
        .with_start_time(clock::from_high_res(at))
        .start_with_context(tracer, cx)
}

/// `url.full` and the sizes of a fetch, as whole bytes.
fn fetch_attributes(span: &mut Span, entry: &JsValue) {
    text_attribute(span, URL_FULL, entry, NAME);
    for (key, field) in SIZES {
        span.set_attribute(KeyValue::new(key, number(entry, field) as i64));
    }
}

/// The entry's marks named `names`, as events; 0 means the step did not happen.
fn add_events(span: &mut Span, entry: &JsValue, names: &[&'static str]) {
    for &name in names {
        let t = number(entry, name);
        if t > 0.0 {
            span.add_event_with_timestamp(name, clock::from_high_res(t), Vec::new());
        }
    }
}

/// The `startTime` of the latest entry named `name` of type `entry_type` (a loader's mark).
fn latest(name: &str, entry_type: &str) -> Option<f64> {
    let entries = entries_by_name(name, entry_type);
    let last = entries.length().checked_sub(1)?;
    Some(number(&entries.get(last), "startTime"))
}

/// A number field of a performance entry, read with `Reflect` (less glue than web-sys's
/// typed entries); 0 when missing.
fn number(entry: &JsValue, key: &str) -> f64 {
    (Reflect::get(entry, &JsValue::from_str(key)).ok())
        .and_then(|v| v.as_f64())
        .unwrap_or_default()
}

/// The string field `field` of a performance entry as the attribute `key`.
fn text_attribute(span: &mut Span, key: &'static str, entry: &JsValue, field: &str) {
    span.set_attribute(KeyValue::new(key, text(entry, field)));
}

/// A string field of a performance entry; empty when missing.
fn text(entry: &JsValue, key: &str) -> String {
    (Reflect::get(entry, &JsValue::from_str(key)).ok())
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}
