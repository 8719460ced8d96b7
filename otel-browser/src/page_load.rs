//! The page-load trace, with the Rust/WASM phases no other tool shows.
//!
//! [`PageLoad::install`], first thing in the app's `#[wasm_bindgen(start)]`, and
//! [`PageLoad::rendered`] after the first render:
//!
//! ```ignore
//! # // wasm32 only: the browser tests (tests/page_load.rs) run it.
//! #[wasm_bindgen(start)]
//! fn start() {
//!     let telemetry = otel_browser::BrowserTelemetry::install(Default::default());
//!     let page_load = otel_browser::page_load::PageLoad::install(&telemetry.tracer("my-app"));
//!     render_the_app();
//!     page_load.rendered();
//! }
//! ```
//!
//! With trunk, the loader goes in `index.html` (`<script data-trunk type="module"
//! src="…/otel-browser/loader.js">`) and `Trunk.toml` hands it the module's URLs (`pattern_script`,
//! as `examples/minimal/Trunk.toml` does).
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

/// The later of `a` and `b`; `b` when either is NaN. (One compare: `f64::max`'s NaN rules cost
/// the page more code.)
fn later(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// A stretch of the page's timeline, in milliseconds since `performance.timeOrigin`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Interval {
    start: f64,
    end: f64,
}

impl Interval {
    /// From `start` to `end`; empty at `start` when `end` is earlier, so that no mark missing or
    /// out of order ever makes a span end before it starts.
    fn new(start: f64, end: f64) -> Self {
        Self {
            start,
            end: later(start, end),
        }
    }

    /// This interval moved inside `outer` (compares, not `clamp` or `max`/`min`: no panic path
    /// and less code in the page; a NaN becomes `outer.start`).
    fn within(self, outer: Interval) -> Self {
        let inside = |t: f64| {
            if t >= outer.start {
                if t <= outer.end { t } else { outer.end }
            } else {
                outer.start
            }
        };
        Self::new(inside(self.start), inside(self.end))
    }
}

/// The marks of one fetch the wasm phases are timed by (Resource Timing, "Resource Timing
/// Attributes"), in milliseconds since `performance.timeOrigin`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct FetchTiming {
    fetch_start: f64,
    response_start: f64,
    response_end: f64,
}

/// Whether `url`'s path names a WebAssembly module (`.wasm`, before any query or fragment).
fn is_wasm(url: &str) -> bool {
    let url = url.as_bytes();
    let path = url.iter().position(|&b| b == b'?' || b == b'#');
    url[..path.unwrap_or(url.len())].ends_with(b".wasm")
}

/// Whether the resource entry (URL, `fetchStart`) may be the module that runs: a `.wasm` fetch
/// that started before install. The module is the last of them: a `<link rel=preload>` the
/// loader's fetch did not reuse comes earlier; a module fetched after install is another one.
fn may_run(url: &str, fetch_start: f64, installed: f64) -> bool {
    is_wasm(url) && fetch_start <= installed
}

/// The loader's marks, when the page has them (`otel-browser/loader.js`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct LoaderMarks {
    compile: Option<f64>,
    compiled: Option<f64>,
}

/// The wasm phases and the first render, in time order.
///
/// Compiling starts with the module's first bytes: the WebAssembly Web API compiles a `Response`
/// as it streams ("compile a potential WebAssembly response", and its note that implementations
/// process the body in a streaming fashion), so no earlier than `responseStart`, and no earlier
/// than the loader handed the response over (a preloaded module may have arrived long before).
/// Without the `wasm.compiled` mark, nothing tells compile from instantiate: one
/// `wasm.compile_instantiate` span from the first bytes to install. Marks after install, or a
/// `wasm.compiled` before compiling could start, belong to another module and are ignored.
///
/// Four slots, in that order: `wasm.download`, `wasm.compile` (or `wasm.compile_instantiate`),
/// `wasm.instantiate` and `app.first_render`, each `None` when it has nothing to time (a fixed
/// array: no allocation, one loop in the page).
fn wasm_phases(
    module: Option<FetchTiming>,
    marks: LoaderMarks,
    installed: f64,
    first_render: Option<f64>,
) -> [(&'static str, Option<Interval>); 4] {
    let mut compile_start = marks.compile.filter(|&t| t <= installed);
    if let Some(module) = module {
        // `responseStart` is 0 for a cross-origin module without `Timing-Allow-Origin`.
        let first_bytes = later(module.fetch_start, module.response_start);
        compile_start = Some(compile_start.map_or(first_bytes, |t| later(first_bytes, t)));
    }
    let compiled = (marks.compiled)
        .filter(|&t| t <= installed && compile_start.is_none_or(|start| start <= t));
    let (compile, compile_end) = match compiled {
        Some(compiled) => (WASM_COMPILE, compiled),
        None => (WASM_COMPILE_INSTANTIATE, installed),
    };
    [
        (
            WASM_DOWNLOAD,
            module.map(|m| Interval::new(m.fetch_start, m.response_end)),
        ),
        (
            compile,
            compile_start.map(|start| Interval::new(start, compile_end)),
        ),
        (
            WASM_INSTANTIATE,
            compiled.map(|compiled| Interval::new(compiled, installed)),
        ),
        (
            FIRST_RENDER,
            first_render.map(|rendered| Interval::new(installed, rendered)),
        ),
    ]
}

/// The `documentLoad` span: from the navigation's `fetchStart` to `loadEventEnd`, or to install
/// or the first render when the app came later (its phases are children: they end inside).
fn document_load(
    fetch_start: f64,
    load_event_end: f64,
    installed: f64,
    first_render: Option<f64>,
) -> Interval {
    let end = later(load_event_end, installed);
    Interval::new(fetch_start, first_render.map_or(end, |t| later(end, t)))
}

/// Whether the first render happened, and when.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FirstRender {
    At(f64),
    /// The `PageLoad` was dropped without [`PageLoad::rendered`].
    Skipped,
}

/// Where the page load is: the trace is built by whichever of `load` and the render comes second.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Loading,
    Loaded,
    Rendered(FirstRender),
    Built,
}

/// What happened to the page load.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// The `load` event has completed.
    Loaded,
    /// The first render happened, or will not.
    Rendered(FirstRender),
}

impl Stage {
    /// The stage after `step`, and the first render to build the trace with when it is time.
    fn after(self, step: Step) -> (Stage, Option<FirstRender>) {
        match (self, step) {
            (Stage::Loading, Step::Loaded) => (Stage::Loaded, None),
            (Stage::Loading, Step::Rendered(render)) => (Stage::Rendered(render), None),
            (Stage::Loaded, Step::Rendered(render)) | (Stage::Rendered(render), Step::Loaded) => {
                (Stage::Built, Some(render))
            }
            (stage, _) => (stage, None),
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use browser::PageLoad;

#[cfg(target_arch = "wasm32")]
mod browser {
    use std::{cell::Cell, rc::Rc};

    use js_sys::{Array, Reflect};
    use opentelemetry::{
        Context, KeyValue,
        trace::{Span as _, TraceContextExt as _, Tracer as _},
    };
    use wasm_bindgen::{JsValue, closure::Closure};
    use web_sys::Event;

    use super::*;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phases that time something.
    fn timed(
        module: Option<FetchTiming>,
        marks: LoaderMarks,
        installed: f64,
        first_render: Option<f64>,
    ) -> Vec<(&'static str, Interval)> {
        (wasm_phases(module, marks, installed, first_render).into_iter())
            .filter_map(|(name, interval)| Some((name, interval?)))
            .collect()
    }

    fn names(phases: &[(&'static str, Interval)]) -> Vec<&'static str> {
        phases.iter().map(|(name, _)| *name).collect()
    }

    const MODULE: FetchTiming = FetchTiming {
        fetch_start: 100.0,
        response_start: 120.0,
        response_end: 180.0,
    };

    #[test]
    fn a_wasm_url_is_known_by_its_path_alone() {
        assert!(is_wasm("https://shop.example/web-0123abcd_bg.wasm"));
        assert!(is_wasm("/web_bg.wasm?v=2#x"));
        assert!(!is_wasm("/web.js"));
        assert!(!is_wasm("/api/products?format=.wasm"));
        assert!(!is_wasm("/page#.wasm"));
    }

    #[test]
    fn the_running_module_is_the_last_wasm_fetched_before_install() {
        let resources = [
            ("/style.css", 5.0),
            ("/web_bg.wasm", 10.0),
            ("/web_bg.wasm", 30.0),
            ("/worker_bg.wasm", 90.0),
        ];
        let last = |installed| {
            (resources.iter().enumerate().rev())
                .find(|(_, (url, start))| may_run(url, *start, installed))
                .map(|(index, _)| index)
        };
        assert_eq!(last(50.0), Some(2));
        assert_eq!(last(1.0), None);
        assert!(!may_run("/style.css", 5.0, 50.0));
    }

    #[test]
    fn with_the_loaders_marks_compile_and_instantiate_are_apart_and_in_order() {
        let marks = LoaderMarks {
            compile: Some(125.0),
            compiled: Some(200.0),
        };
        let phases = timed(Some(MODULE), marks, 230.0, Some(260.0));
        assert_eq!(
            names(&phases),
            [WASM_DOWNLOAD, WASM_COMPILE, WASM_INSTANTIATE, FIRST_RENDER]
        );
        let times: Vec<(f64, f64)> = phases.iter().map(|(_, i)| (i.start, i.end)).collect();
        assert_eq!(
            times,
            [
                (100.0, 180.0),
                (125.0, 200.0),
                (200.0, 230.0),
                (230.0, 260.0)
            ]
        );
    }

    #[test]
    fn compiling_starts_at_the_first_bytes_unless_the_loader_handed_them_over_later() {
        let compiled = |compile| LoaderMarks {
            compile,
            compiled: Some(200.0),
        };
        let start = |marks| timed(Some(MODULE), marks, 230.0, None)[1].1.start;
        assert_eq!(start(compiled(None)), 120.0, "responseStart");
        assert_eq!(start(compiled(Some(110.0))), 120.0, "not before the bytes");
        assert_eq!(start(compiled(Some(190.0))), 190.0, "a preloaded module");
        let no_response_start = FetchTiming {
            response_start: 0.0,
            ..MODULE
        };
        let phases = timed(Some(no_response_start), compiled(None), 230.0, None);
        assert_eq!(
            phases[1].1.start, 100.0,
            "fetchStart without Timing-Allow-Origin"
        );
    }

    #[test]
    fn without_the_compiled_mark_one_span_stands_for_compile_and_instantiate() {
        let phases = timed(Some(MODULE), LoaderMarks::default(), 230.0, Some(260.0));
        assert_eq!(
            names(&phases),
            [WASM_DOWNLOAD, WASM_COMPILE_INSTANTIATE, FIRST_RENDER]
        );
        assert_eq!(phases[1].1, Interval::new(120.0, 230.0));
    }

    #[test]
    fn marks_of_another_module_are_ignored() {
        let after_install = LoaderMarks {
            compile: Some(300.0),
            compiled: Some(310.0),
        };
        let phases = timed(Some(MODULE), after_install, 230.0, None);
        assert_eq!(names(&phases), [WASM_DOWNLOAD, WASM_COMPILE_INSTANTIATE]);
        let before_the_bytes = LoaderMarks {
            compile: None,
            compiled: Some(110.0),
        };
        let phases = timed(Some(MODULE), before_the_bytes, 230.0, None);
        assert_eq!(names(&phases), [WASM_DOWNLOAD, WASM_COMPILE_INSTANTIATE]);
    }

    #[test]
    fn without_the_modules_resource_entry_only_what_the_marks_time_is_traced() {
        let compiled = LoaderMarks {
            compile: None,
            compiled: Some(200.0),
        };
        assert_eq!(
            names(&timed(None, compiled, 230.0, None)),
            [WASM_INSTANTIATE]
        );
        assert!(timed(None, LoaderMarks::default(), 230.0, None).is_empty());
        assert_eq!(
            names(&timed(None, LoaderMarks::default(), 230.0, Some(240.0))),
            [FIRST_RENDER]
        );
    }

    #[test]
    fn the_document_load_ends_at_load_or_at_the_app_if_that_came_later() {
        assert_eq!(document_load(5.0, 400.0, 230.0, Some(260.0)).end, 400.0);
        assert_eq!(document_load(5.0, 200.0, 230.0, Some(260.0)).end, 260.0);
        assert_eq!(document_load(5.0, 200.0, 230.0, None).end, 230.0);
        assert_eq!(document_load(5.0, 200.0, 230.0, None).start, 5.0);
    }

    #[test]
    fn intervals_never_end_before_they_start_and_stay_inside_their_parent() {
        assert_eq!(Interval::new(10.0, 5.0), Interval::new(10.0, 10.0));
        let root = Interval::new(5.0, 100.0);
        assert_eq!(
            Interval::new(1.0, 120.0).within(root),
            Interval::new(5.0, 100.0)
        );
        assert_eq!(
            Interval::new(150.0, 160.0).within(root),
            Interval::new(100.0, 100.0)
        );
        assert_eq!(
            Interval::new(f64::NAN, 50.0).within(root),
            Interval::new(5.0, 50.0),
            "a NaN start is taken as the parent's"
        );
    }

    #[test]
    fn the_trace_is_built_once_by_whichever_of_load_and_render_comes_second() {
        let render = FirstRender::At(260.0);
        let (stage, build) = Stage::Loading.after(Step::Loaded);
        assert_eq!((stage, build), (Stage::Loaded, None));
        assert_eq!(
            stage.after(Step::Rendered(render)),
            (Stage::Built, Some(render))
        );
        // `rendered` then the drop: the render that came first counts.
        let (stage, _) = Stage::Loading.after(Step::Rendered(render));
        assert_eq!(
            stage.after(Step::Rendered(FirstRender::Skipped)),
            (Stage::Rendered(render), None)
        );
        let (stage, build) = Stage::Loading.after(Step::Rendered(FirstRender::Skipped));
        assert_eq!(build, None);
        assert_eq!(
            stage.after(Step::Loaded),
            (Stage::Built, Some(FirstRender::Skipped))
        );
        assert_eq!(Stage::Built.after(Step::Loaded), (Stage::Built, None));
        assert_eq!(
            Stage::Built.after(Step::Rendered(render)),
            (Stage::Built, None)
        );
    }
}
