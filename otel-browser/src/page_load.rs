//! The page-load trace, with the Rust/WASM phases no other tool shows.
//!
//! [`PageLoad::install`], first thing in the app's `#[wasm_bindgen(start)]`, and
//! [`PageLoad::rendered`] after the first render. Once the document's `load` event has completed
//! and the page has rendered (or the `PageLoad` was dropped without rendering), it builds one
//! trace from the browser's performance timeline, as OpenTelemetry JS's
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
//! (`fetchStart`, `unloadEventStart` … `loadEventEnd`) and the paint entries (`firstPaint`,
//! `firstContentfulPaint`) as events, the fetch spans `fetchStart` … `responseEnd`; marks that are
//! 0 (did not happen: no TLS, no unload, a cross-origin resource without `Timing-Allow-Origin`)
//! are left out. Attributes follow the browser SIG's model (opentelemetry-browser,
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
            end: end.max(start),
        }
    }

    /// This interval moved inside `outer` (`max`/`min`, not `clamp`: no panic path in the page).
    fn within(self, outer: Interval) -> Self {
        let inside = |t: f64| t.max(outer.start).min(outer.end);
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

/// A resource entry: the entry itself (a `JsValue` in the page), its URL and its timing.
#[derive(Debug)]
struct Resource<E> {
    entry: E,
    url: String,
    timing: FetchTiming,
}

/// Whether `url`'s path names a WebAssembly module (`.wasm`, before any query or fragment).
fn is_wasm(url: &str) -> bool {
    url.split(['?', '#'])
        .next()
        .is_some_and(|path| path.ends_with(".wasm"))
}

/// The resource entry of the module that runs: the last `.wasm` fetch that started before
/// install. (A `<link rel=preload>` the loader's fetch did not reuse comes earlier; a module
/// fetched after install is another one.)
fn running_module<E>(resources: &[Resource<E>], installed: f64) -> Option<&Resource<E>> {
    (resources.iter())
        .filter(|r| is_wasm(&r.url) && r.timing.fetch_start <= installed)
        .last()
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
fn wasm_phases(
    module: Option<FetchTiming>,
    marks: LoaderMarks,
    installed: f64,
    first_render: Option<f64>,
) -> Vec<(&'static str, Interval)> {
    let mut phases = Vec::with_capacity(4);
    let mut compile_start = marks.compile.filter(|&t| t <= installed);
    if let Some(module) = module {
        phases.push((
            WASM_DOWNLOAD,
            Interval::new(module.fetch_start, module.response_end),
        ));
        // `responseStart` is 0 for a cross-origin module without `Timing-Allow-Origin`.
        let first_bytes = module.response_start.max(module.fetch_start);
        compile_start = Some(compile_start.map_or(first_bytes, |t| t.max(first_bytes)));
    }
    let compiled = (marks.compiled)
        .filter(|&t| t <= installed && compile_start.is_none_or(|start| start <= t));
    match (compile_start, compiled) {
        (Some(start), Some(compiled)) => {
            phases.push((WASM_COMPILE, Interval::new(start, compiled)));
            phases.push((WASM_INSTANTIATE, Interval::new(compiled, installed)));
        }
        (None, Some(compiled)) => {
            phases.push((WASM_INSTANTIATE, Interval::new(compiled, installed)))
        }
        (Some(start), None) => {
            phases.push((WASM_COMPILE_INSTANTIATE, Interval::new(start, installed)))
        }
        (None, None) => {}
    }
    if let Some(rendered) = first_render {
        phases.push((FIRST_RENDER, Interval::new(installed, rendered)));
    }
    phases
}

/// The `documentLoad` span: from the navigation's `fetchStart` to `loadEventEnd`, or to install
/// or the first render when the app came later (its phases are children: they end inside).
fn document_load(
    fetch_start: f64,
    load_event_end: f64,
    installed: f64,
    first_render: Option<f64>,
) -> Interval {
    let end = load_event_end.max(installed);
    Interval::new(fetch_start, first_render.map_or(end, |t| end.max(t)))
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

    use js_sys::{Array, Promise, Reflect};
    use opentelemetry::{
        Context, KeyValue,
        trace::{Span as _, TraceContextExt as _, Tracer as _},
    };
    use wasm_bindgen::JsValue;
    use wasm_bindgen_futures::{JsFuture, spawn_local};

    use super::*;
    use crate::{Span, Tracer, clock, transport};

    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        /// `performance.getEntriesByType(type)`.
        #[wasm_bindgen(js_namespace = performance, js_name = getEntriesByType)]
        fn entries_by_type(entry_type: &str) -> Array;
        /// `performance.getEntriesByName(name, type)`.
        #[wasm_bindgen(js_namespace = performance, js_name = getEntriesByName)]
        fn entries_by_name(name: &str, entry_type: &str) -> Array;
    }

    /// The navigation's marks that OpenTelemetry JS adds to `documentLoad` as events, named as
    /// the `PerformanceNavigationTiming` fields they are read from.
    const DOCUMENT_EVENTS: [&str; 9] = [
        "fetchStart",
        "unloadEventStart",
        "unloadEventEnd",
        "domInteractive",
        "domContentLoadedEventStart",
        "domContentLoadedEventEnd",
        "domComplete",
        "loadEventStart",
        "loadEventEnd",
    ];
    /// The marks of a fetch that OpenTelemetry JS adds to its span as events
    /// (`sdk-trace-web`'s `addSpanNetworkEvents`).
    const NETWORK_EVENTS: [&str; 9] = [
        "fetchStart",
        "domainLookupStart",
        "domainLookupEnd",
        "connectStart",
        "secureConnectionStart",
        "connectEnd",
        "requestStart",
        "responseStart",
        "responseEnd",
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
        pending: Option<Rc<Pending>>,
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
        pub fn install(tracer: &Tracer) -> PageLoad {
            let pending = Rc::new(Pending {
                tracer: tracer.clone(),
                installed: clock::performance_now(),
                stage: Cell::new(Stage::Loading),
            });
            let task = Rc::clone(&pending);
            spawn_local(async move {
                document_loaded().await;
                task.step(Step::Loaded);
            });
            PageLoad {
                pending: Some(pending),
            }
        }

        /// The first render is done: the trace is built now, or when `load` has completed.
        pub fn rendered(mut self) {
            self.finish(FirstRender::At(clock::performance_now()));
        }

        fn finish(&mut self, render: FirstRender) {
            if let Some(pending) = self.pending.take() {
                pending.step(Step::Rendered(render));
            }
        }
    }

    impl Drop for PageLoad {
        fn drop(&mut self) {
            self.finish(FirstRender::Skipped);
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

    /// Resolves when the `load` event has completed: at once when `document.readyState` is
    /// already "complete"; else after `load` and a `setTimeout(0)`, since `loadEventEnd` is set
    /// only after the event's listeners have run (Navigation Timing 2, "mark document load
    /// timing"), as OpenTelemetry JS waits for it. The promises' own `resolve` are the listener
    /// and the timer's handler: no closure of ours is kept.
    async fn document_loaded() {
        let Some(window) = web_sys::window() else {
            return;
        };
        if window
            .document()
            .is_some_and(|d| d.ready_state() == "complete")
        {
            return;
        }
        let load = Promise::new(&mut |resolve, _reject| {
            let _ = window.add_event_listener_with_callback("load", &resolve);
        });
        let _ = JsFuture::from(load).await;
        let tick = Promise::new(&mut |resolve, _reject| {
            transport::set_timeout(&resolve, 0);
        });
        let _ = JsFuture::from(tick).await;
    }

    /// Builds and ends the whole trace.
    fn trace(tracer: &Tracer, installed: f64, first_render: Option<f64>) {
        let navigation = entries_by_type("navigation").get(0);
        let load_event_end = number(&navigation, "loadEventEnd");
        let resources: Vec<Resource<JsValue>> = (entries_by_type("resource").iter())
            .map(|entry| Resource {
                url: text(&entry, "name").unwrap_or_default(),
                timing: FetchTiming {
                    fetch_start: number(&entry, "fetchStart"),
                    response_start: number(&entry, "responseStart"),
                    response_end: number(&entry, "responseEnd"),
                },
                entry,
            })
            .collect();
        let module = running_module(&resources, installed);
        let marks = LoaderMarks {
            compile: mark(COMPILE_MARK),
            compiled: mark(COMPILED_MARK),
        };
        let root = document_load(
            number(&navigation, "fetchStart"),
            load_event_end,
            installed,
            first_render,
        );

        let url = text(&navigation, "name").unwrap_or_default();
        let mut attributes = vec![KeyValue::new("url.full", url.clone())];
        if let Some(kind) = text(&navigation, "type") {
            attributes.push(KeyValue::new("browser.navigation_timing.type", kind));
        }
        let mut span = start(
            tracer,
            &Context::new(),
            DOCUMENT_LOAD,
            root.start,
            attributes,
        );
        add_events(&mut span, &navigation, &DOCUMENT_EVENTS);
        for paint in entries_by_type("paint").iter() {
            let name = match text(&paint, "name").as_deref() {
                Some("first-paint") => "firstPaint",
                Some("first-contentful-paint") => "firstContentfulPaint",
                _ => continue,
            };
            let at = clock::from_high_res(number(&paint, "startTime"));
            span.add_event_with_timestamp(name, at, Vec::new());
        }
        let cx = Context::new().with_span(span);

        fetch_span(
            tracer,
            &cx,
            DOCUMENT_FETCH,
            &navigation,
            url,
            root,
            Vec::new(),
        );
        for resource in &resources {
            let is_module = module.is_some_and(|m| std::ptr::eq(m, resource));
            if resource.timing.response_end <= load_event_end || is_module {
                let initiator = text(&resource.entry, "initiatorType").unwrap_or_default();
                let extra = vec![KeyValue::new(
                    "browser.resource_timing.initiator_type",
                    initiator,
                )];
                let url = resource.url.clone();
                fetch_span(
                    tracer,
                    &cx,
                    RESOURCE_FETCH,
                    &resource.entry,
                    url,
                    root,
                    extra,
                );
            }
        }
        let phases = wasm_phases(module.map(|m| m.timing), marks, installed, first_render);
        for (name, interval) in phases {
            let interval = interval.within(root);
            let attributes = match module {
                Some(module) if name == WASM_DOWNLOAD => sizes(&module.entry, module.url.clone()),
                _ => Vec::new(),
            };
            start(tracer, &cx, name, interval.start, attributes)
                .end_with_timestamp(clock::from_high_res(interval.end));
        }
        cx.span().end_with_timestamp(clock::from_high_res(root.end));
    }

    /// A fetch's span (`documentFetch`, `resourceFetch`): `fetchStart` → `responseEnd` inside
    /// `root`, with its URL, sizes and network events.
    fn fetch_span(
        tracer: &Tracer,
        cx: &Context,
        name: &'static str,
        entry: &JsValue,
        url: String,
        root: Interval,
        extra: Vec<KeyValue>,
    ) {
        let timing = Interval::new(number(entry, "fetchStart"), number(entry, "responseEnd"));
        let timing = timing.within(root);
        let mut attributes = sizes(entry, url);
        attributes.extend(extra);
        let mut span = start(tracer, cx, name, timing.start, attributes);
        add_events(&mut span, entry, &NETWORK_EVENTS);
        span.end_with_timestamp(clock::from_high_res(timing.end));
    }

    fn start(
        tracer: &Tracer,
        cx: &Context,
        name: &'static str,
        at: f64,
        attributes: Vec<KeyValue>,
    ) -> Span {
        (tracer.span_builder(name))
            .with_start_time(clock::from_high_res(at))
            .with_attributes(attributes)
            .start_with_context(tracer, cx)
    }

    /// `url.full` and the sizes of a fetch, as whole bytes.
    fn sizes(entry: &JsValue, url: String) -> Vec<KeyValue> {
        let mut attributes = vec![KeyValue::new("url.full", url)];
        for (key, field) in SIZES {
            attributes.push(KeyValue::new(key, number(entry, field) as i64));
        }
        attributes
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

    /// The latest `performance.mark(name)`.
    fn mark(name: &str) -> Option<f64> {
        let marks = entries_by_name(name, "mark");
        let last = marks.length().checked_sub(1)?;
        Some(number(&marks.get(last), "startTime"))
    }

    /// A number field of a performance entry, read with `Reflect` (less glue than web-sys's
    /// typed entries); 0 when missing.
    fn number(entry: &JsValue, key: &str) -> f64 {
        (Reflect::get(entry, &JsValue::from_str(key)).ok())
            .and_then(|v| v.as_f64())
            .unwrap_or_default()
    }

    /// A string field of a performance entry.
    fn text(entry: &JsValue, key: &str) -> Option<String> {
        Reflect::get(entry, &JsValue::from_str(key))
            .ok()?
            .as_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(url: &str, fetch_start: f64) -> Resource<()> {
        Resource {
            entry: (),
            url: url.to_owned(),
            timing: FetchTiming {
                fetch_start,
                response_start: fetch_start + 1.0,
                response_end: fetch_start + 2.0,
            },
        }
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
            resource("/style.css", 5.0),
            resource("/web_bg.wasm", 10.0),
            resource("/web_bg.wasm", 30.0),
            resource("/worker_bg.wasm", 90.0),
        ];
        let module = running_module(&resources, 50.0).expect("a module");
        assert_eq!(module.timing.fetch_start, 30.0);
        assert!(running_module(&resources[..1], 50.0).is_none());
        assert!(running_module(&resources, 1.0).is_none());
    }

    #[test]
    fn with_the_loaders_marks_compile_and_instantiate_are_apart_and_in_order() {
        let marks = LoaderMarks {
            compile: Some(125.0),
            compiled: Some(200.0),
        };
        let phases = wasm_phases(Some(MODULE), marks, 230.0, Some(260.0));
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
        let start = |marks| wasm_phases(Some(MODULE), marks, 230.0, None)[1].1.start;
        assert_eq!(start(compiled(None)), 120.0, "responseStart");
        assert_eq!(start(compiled(Some(110.0))), 120.0, "not before the bytes");
        assert_eq!(start(compiled(Some(190.0))), 190.0, "a preloaded module");
        let no_response_start = FetchTiming {
            response_start: 0.0,
            ..MODULE
        };
        let phases = wasm_phases(Some(no_response_start), compiled(None), 230.0, None);
        assert_eq!(
            phases[1].1.start, 100.0,
            "fetchStart without Timing-Allow-Origin"
        );
    }

    #[test]
    fn without_the_compiled_mark_one_span_stands_for_compile_and_instantiate() {
        let phases = wasm_phases(Some(MODULE), LoaderMarks::default(), 230.0, Some(260.0));
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
        let phases = wasm_phases(Some(MODULE), after_install, 230.0, None);
        assert_eq!(names(&phases), [WASM_DOWNLOAD, WASM_COMPILE_INSTANTIATE]);
        let before_the_bytes = LoaderMarks {
            compile: None,
            compiled: Some(110.0),
        };
        let phases = wasm_phases(Some(MODULE), before_the_bytes, 230.0, None);
        assert_eq!(names(&phases), [WASM_DOWNLOAD, WASM_COMPILE_INSTANTIATE]);
    }

    #[test]
    fn without_the_modules_resource_entry_only_what_the_marks_time_is_traced() {
        let compiled = LoaderMarks {
            compile: None,
            compiled: Some(200.0),
        };
        assert_eq!(
            names(&wasm_phases(None, compiled, 230.0, None)),
            [WASM_INSTANTIATE]
        );
        assert!(wasm_phases(None, LoaderMarks::default(), 230.0, None).is_empty());
        assert_eq!(
            names(&wasm_phases(
                None,
                LoaderMarks::default(),
                230.0,
                Some(240.0)
            )),
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
