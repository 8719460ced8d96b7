//! The page-load trace's timing rules, pure and tested natively: which resource is the module
//! that runs, the wasm phases from its Resource Timing and the loader's marks, the
//! `documentLoad` span's bounds, and when the trace is built.

use super::{
    FIRST_RENDER, WASM_COMPILE, WASM_COMPILE_INSTANTIATE, WASM_DOWNLOAD, WASM_INSTANTIATE,
};

/// The later of `a` and `b`; `b` when either is NaN. (One compare: `f64::max`'s NaN rules cost
/// the page more code.)
pub(super) fn later(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// A stretch of the page's timeline, in milliseconds since `performance.timeOrigin`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Interval {
    pub(super) start: f64,
    pub(super) end: f64,
}

impl Interval {
    /// From `start` to `end`; empty at `start` when `end` is earlier, so that no mark missing or
    /// out of order ever makes a span end before it starts.
    pub(super) fn new(start: f64, end: f64) -> Self {
        Self {
            start,
            end: later(start, end),
        }
    }

    /// This interval moved inside `outer` (compares, not `clamp` or `max`/`min`: no panic path
    /// and less code in the page; a NaN becomes `outer.start`).
    pub(super) fn within(self, outer: Interval) -> Self {
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
pub(super) struct FetchTiming {
    pub(super) fetch_start: f64,
    pub(super) response_start: f64,
    pub(super) response_end: f64,
}

/// Whether `url`'s path names a WebAssembly module (`.wasm`, before any query or fragment).
pub(super) fn is_wasm(url: &str) -> bool {
    let url = url.as_bytes();
    let path = url.iter().position(|&b| b == b'?' || b == b'#');
    url[..path.unwrap_or(url.len())].ends_with(b".wasm")
}

/// Whether the resource entry (URL, `fetchStart`) may be the module that runs: a `.wasm` fetch
/// that started before install. The module is the last of them: a `<link rel=preload>` the
/// loader's fetch did not reuse comes earlier; a module fetched after install is another one.
pub(super) fn may_run(url: &str, fetch_start: f64, installed: f64) -> bool {
    is_wasm(url) && fetch_start <= installed
}

/// The loader's marks, when the page has them (`otel-browser/loader.js`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct LoaderMarks {
    pub(super) compile: Option<f64>,
    pub(super) compiled: Option<f64>,
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
pub(super) fn wasm_phases(
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
pub(super) fn document_load(
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
pub(super) enum FirstRender {
    At(f64),
    /// The `PageLoad` was dropped without [`PageLoad::rendered`].
    Skipped,
}

/// Where the page load is: the trace is built by whichever of `load` and the render comes second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Stage {
    Loading,
    Loaded,
    Rendered(FirstRender),
    Built,
}

/// What happened to the page load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Step {
    /// The `load` event has completed.
    Loaded,
    /// The first render happened, or will not.
    Rendered(FirstRender),
}

impl Stage {
    /// The stage after `step`, and the first render to build the trace with when it is time.
    pub(super) fn after(self, step: Step) -> (Stage, Option<FirstRender>) {
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
