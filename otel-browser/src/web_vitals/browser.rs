//! The glue: a few lines of JavaScript observe the entries and listen to the window's events,
//! and hand each to one closure as a flat array of numbers: no field read, string key or entry
//! class on the Rust side (BENCHMARKS.md, "Page size").

use js_sys::{Array, Function};
use opentelemetry::{
    Context, KeyValue,
    trace::{Span as _, SpanContext, Tracer as _},
};
use wasm_bindgen::{JsCast, JsValue, closure::Closure, prelude::wasm_bindgen};
use web_sys::Event;

use super::{Report, Vitals};
use crate::{Span, Tracer, clock};

// `start()` reads the page view (`[responseStart or 0, activationStart, hidden, navigation
// type, an id per metric]`), `watch(f)` calls `f` with each entry and lifecycle event as
// `[kind, …numbers]` ([`kinds`]) and returns what stops it: the rules of `web-vitals`' own
// reading of the timeline, with the reasons, are in the readable source.
// Readable in `otel-browser/js/web_vitals.js`; the literal is its minification (scripts/snippets.py).
#[wasm_bindgen(
    inline_js = r#"const c=["largest-contentful-paint","layout-shift","paint","event","first-input"],f=["pagehide","visibilitychange","keydown","click"],s=performance,o=document;export function start(){let e=s.getEntriesByType("navigation")[0];const n=e&&e.responseStart;e=n>0&&n<s.now()&&e;const r=e&&e.activationStart||0,a=e?o.prerendering||r>0?"prerender":o.wasDiscarded?"restore":e.type.replace(/_/g,"-"):"navigate";return[e&&n,r,+(!o.prerendering&&o.hidden),a,...c.map(()=>"v5-"+Date.now()+"-"+(Math.floor(Math.random()*(9e12-1))+1e12))]}export function watch(e){let n;const r=t=>{const i=c.indexOf(t.entryType)+1;(i!=3||t.name=="first-contentful-paint")&&e([i,t.startTime,t.value||t.duration,t.interactionId,+t.hadRecentInput])},a=t=>{n&&n.takeRecords().forEach(r);const i=t.type,d=i[0]=="v";i=="pagehide"||d&&o.hidden?e([6,t.timeStamp,s.interactionCount]):t.isTrusted&&!d&&e([7])};try{n=new PerformanceObserver(t=>t.getEntries().forEach(r)),c.forEach(t=>n.observe({type:t,buffered:!0,durationThreshold:40}))}catch{}return f.forEach(t=>addEventListener(t,a,!0)),()=>{n&&n.disconnect(),f.forEach(t=>removeEventListener(t,a,!0))}}"#
)]
extern "C" {
    fn start() -> Array;
    fn watch(f: &JsValue) -> Function;
}

/// Web Vitals of this page view, reported on `pageView` spans. Keep it for the page's life:
/// dropping it disconnects its observer, removes its listeners and ends the open `pageView`.
#[must_use = "dropping it stops the observer: keep it for the page's life"]
pub struct WebVitals {
    stop: Function,
    _on_record: Closure<dyn FnMut(Event)>,
}

impl WebVitals {
    /// Starts observing, reports TTFB at once, and reports the rest on `tracer`'s `pageView`
    /// spans as the module's doc says. Install it early: the observer is `buffered`, so
    /// entries from before are seen, but input before it is not.
    ///
    /// The listeners capture on `window`: `visibilitychange` capturing through `window`
    /// reaches them before the SDK's listener on `document`, so the ended `pageView` is in
    /// that keepalive flush. `pagehide` is fired at `window` itself, where listeners run in
    /// the order they were added, capture or not (Chromium 156, measured), so the SDK's runs
    /// first: the page sends the ended span itself. (Capture also keeps a page's
    /// `stopPropagation` from hiding input from LCP, as `onLCP.ts` listens.) A synthetic
    /// `pagehide` counts: the SDK's flush that follows sends whatever it is told to;
    /// `onLCP.ts` ignores untrusted input: a script's click is no user's.
    pub fn install(tracer: &Tracer) -> WebVitals {
        let init = start();
        // Leaked: a few dozen bytes once per install, and no copy of them per report.
        let mut texts = [""; 6];
        for (i, text) in (3..).zip(&mut texts) {
            *text = init.get(i).as_string().unwrap_or_default().leak();
        }
        let mut page = Page {
            tracer: tracer.clone(),
            vitals: Vitals::new(number(&init, 1), number(&init, 2) > 0.0),
            texts,
            span: None,
            previous: None,
        };
        let response_start = number(&init, 0);
        if response_start > 0.0 {
            let ttfb = page.vitals.ttfb(response_start);
            page.emit(ttfb);
        }
        // Typed as an event listener's closure, so that the page carries one closure shim,
        // the SDK's.
        let on_record = Closure::<dyn FnMut(Event)>::new(move |record: Event| {
            page.record(&record.unchecked_into());
        });
        WebVitals {
            stop: watch(on_record.as_ref()),
            _on_record: on_record,
        }
    }
}

impl Drop for WebVitals {
    fn drop(&mut self) {
        // Then the closure goes, its page with it, and the open span ends.
        let _ = self.stop.call0(&JsValue::UNDEFINED);
    }
}

/// `array[i]`, 0 when it is no number. Never inlined: one copy of the import calls.
/// The kinds of record `watch` passes, its first number (an entry type's place in
/// `js/web_vitals.js`'s `ENTRY_TYPES`, from 1, then 6 and 7).
mod kinds {
    /// `largest-contentful-paint`.
    pub(super) const LCP: f64 = 1.0;
    /// `layout-shift`.
    pub(super) const LAYOUT_SHIFT: f64 = 2.0;
    /// `paint`: `first-contentful-paint` only (the snippet passes no other).
    pub(super) const FCP: f64 = 3.0;
    /// `first-input` (an `event`, 4, is any other interaction).
    pub(super) const FIRST_INPUT: f64 = 5.0;
    /// The page hidden: `pagehide`, or `visibilitychange` to hidden.
    pub(super) const HIDDEN: f64 = 6.0;
    /// A trusted `keydown` or `click`.
    pub(super) const INPUT: f64 = 7.0;
}

#[inline(never)]
fn number(array: &Array, i: u32) -> f64 {
    array.get(i).as_f64().unwrap_or_default()
}

/// One page view's metrics and the span their reports go on.
struct Page {
    tracer: Tracer,
    vitals: Vitals,
    /// The navigation type, then the id of each metric, in `Metric::ALL`'s order.
    texts: [&'static str; 6],
    /// The open `pageView`: started by the first report after the last one ended.
    span: Option<Span>,
    /// The last `pageView` that ended, which the next one links to.
    previous: Option<SpanContext>,
}

impl Page {
    /// One record of `watch`.
    fn record(&mut self, record: &Array) {
        let number = |i| number(record, i);
        let (kind, time) = (number(0), number(1));
        let report = if kind == kinds::LCP {
            self.vitals.largest_contentful_paint(time);
            None
        } else if kind == kinds::LAYOUT_SHIFT {
            (self.vitals).layout_shift(time, number(2), number(4) > 0.0);
            None
        } else if kind == kinds::FCP {
            self.vitals.first_contentful_paint(time)
        } else if kind == kinds::HIDDEN {
            return self.hidden(time, record.get(2).as_f64());
        } else if kind == kinds::INPUT {
            self.vitals.input()
        } else {
            // An `event`, or the first input.
            let first_input = kind == kinds::FIRST_INPUT;
            (self.vitals).interaction(number(3) as u64, number(2), first_input);
            None
        };
        self.emit(report);
    }

    /// The page is hidden: the last reports, then the `pageView` ends.
    fn hidden(&mut self, time_stamp: f64, interaction_count: Option<f64>) {
        let reports = (self.vitals).hidden(time_stamp, interaction_count.map(|n| n as u64));
        for report in reports {
            self.emit(report);
        }
        if let Some(mut span) = self.span.take() {
            self.previous = Some(span.span_context().clone());
            span.end();
            // After the SDK's flush on `pagehide` (see `install`), a request of its own. Its
            // body (a span, a few hundred bytes) can exceed the browser's 64 KiB keepalive
            // quota only when the SDK's flush just used nearly all of it.
            self.tracer.send_keepalive();
        }
    }

    fn emit(&mut self, report: Option<Report>) {
        let Some(report) = report else { return };
        let attributes = vec![
            KeyValue::new("browser.web_vital.name", report.metric.name()),
            KeyValue::new("browser.web_vital.value", report.value),
            KeyValue::new("browser.web_vital.delta", report.delta),
            KeyValue::new(
                "browser.web_vital.id",
                self.texts[report.metric.index() + 1],
            ),
            KeyValue::new("browser.web_vital.rating", report.rating.as_str()),
            KeyValue::new("browser.web_vital.navigation_type", self.texts[0]),
        ];
        self.span().add_event("browser.web_vital", attributes);
    }

    /// The open `pageView`, started if there is none: the first at the navigation's start
    /// (`performance.timeOrigin`), a later one (the page was shown again) now, linked to the
    /// one before. A root in a trace of its own, whatever context is current.
    fn span(&mut self) -> &mut Span {
        let (tracer, previous) = (&self.tracer, &self.previous);
        self.span.get_or_insert_with(|| {
            // INTERNAL: the SDK's default kind.
            let mut builder = tracer.span_builder("pageView");
            // Now is what the SDK takes without a start time; set either way, one call below.
            builder.start_time = Some(if previous.is_none() {
                clock::time_origin()
            } else {
                clock::now()
            });
            let mut span = tracer.build_with_context(builder, &Context::new());
            if let Some(previous) = previous {
                span.add_link(previous.clone(), Vec::new());
            }
            span
        })
    }
}
