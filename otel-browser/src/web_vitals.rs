//! Web Vitals (LCP, CLS, INP, FCP, TTFB) measured as GoogleChrome's `web-vitals` library (v5)
//! measures them, reported as `browser.web_vital` events on a `pageView` span.
//!
//! Opt-in: nothing else in the crate refers to this module, so a page that never calls
//! [`WebVitals::install`] ships none of it.
//!
//! ```ignore
//! # // wasm32 only: the browser tests (tests/web_vitals.rs) run it.
//! let vitals = otel_browser::web_vitals::WebVitals::install(&telemetry.tracer("my-app"));
//! // Keep `vitals` for the page's life: it owns the observer and the listeners.
//! ```
//!
//! Each report follows the semantic conventions' `browser.web_vital` event (semantic-conventions
//! `model/browser/events.yaml`, `registry.yaml`; status: development): `browser.web_vital.name`
//! (`lcp`, `cls`, `inp`, `fcp`, `ttfb`), `.value` and `.delta` (doubles), `.id` (one per metric
//! per page view, in `web-vitals`' `v5-<ms>-<13 digits>` form), `.rating` (`good`,
//! `needs-improvement`, `poor`) and `.navigation_type`. The events ride on a root INTERNAL span,
//! `pageView`, in its own trace, from `performance.timeOrigin` until the page is hidden, so that
//! trace viewers (Jaeger shows span events) show them.
//!
//! When each metric is reported, as `web-vitals` does without `reportAllChanges`:
//! - TTFB at install, FCP at its `paint` entry: once each.
//! - LCP once, when final: at the first trusted `keydown` or `click`, or when the page is hidden.
//! - CLS and INP whenever the page is hidden (`visibilitychange` to hidden, or `pagehide`), with
//!   the delta since their last report, and only when the value changed (`lib/bindReporter.ts`).
//!   CLS only once FCP has been reported, as `onCLS.ts` waits on `onFCP` to match CrUX.
//!
//! The rules are plain Rust ([`Vitals`], [`LayoutShifts`], [`Interactions`], [`Rating`]), tested
//! natively; the browser glue only feeds them: a wasm-bindgen `inline_js` snippet (shipped as
//! `snippets/otel-browser-<hash>/inline0.js` beside the glue) with one `PerformanceObserver` and
//! the window's listeners, calling one closure with each entry's fields as a flat array of
//! numbers, and naming the navigation type and the ids as `web-vitals` does, in its own words.
//! Not followed from `web-vitals`: new metric instances after a back/forward-cache restore
//! (`pageshow` with `persisted`), and waiting for a prerendered page's activation.

/// LCP at most this is "good", above the second "poor" (ms; `onLCP.ts`, `LCPThresholds`).
pub const LCP_THRESHOLDS: [f64; 2] = [2500.0, 4000.0];
/// CLS thresholds (layout shift score; `onCLS.ts`, `CLSThresholds`).
pub const CLS_THRESHOLDS: [f64; 2] = [0.1, 0.25];
/// INP thresholds (ms; `onINP.ts`, `INPThresholds`).
pub const INP_THRESHOLDS: [f64; 2] = [200.0, 500.0];
/// FCP thresholds (ms; `onFCP.ts`, `FCPThresholds`).
pub const FCP_THRESHOLDS: [f64; 2] = [1800.0, 3000.0];
/// TTFB thresholds (ms; `onTTFB.ts`, `TTFBThresholds`).
pub const TTFB_THRESHOLDS: [f64; 2] = [800.0, 1800.0];

/// The `event` entries observed for INP: at least this long (ms). `onINP.ts`,
/// `DEFAULT_DURATION_THRESHOLD`: durations are rounded to 8 ms, so 40 is 2.5 frames at 60 Hz.
pub const INP_DURATION_THRESHOLD: f64 = 40.0;
/// The most interactions kept as INP candidates (`InteractionManager.ts`).
pub const MAX_INTERACTIONS: usize = 10;

/// A web vital: its `browser.web_vital.name` and its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Largest Contentful Paint.
    Lcp,
    /// Cumulative Layout Shift.
    Cls,
    /// Interaction to Next Paint.
    Inp,
    /// First Contentful Paint.
    Fcp,
    /// Time to First Byte.
    Ttfb,
}

impl Metric {
    /// Every metric, in the order of [`Metric::index`].
    pub const ALL: [Metric; 5] = [
        Metric::Lcp,
        Metric::Cls,
        Metric::Inp,
        Metric::Fcp,
        Metric::Ttfb,
    ];

    /// The `browser.web_vital.name` value.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::Lcp => "lcp",
            Metric::Cls => "cls",
            Metric::Inp => "inp",
            Metric::Fcp => "fcp",
            Metric::Ttfb => "ttfb",
        }
    }

    /// Its "good" and "poor" thresholds.
    pub const fn thresholds(self) -> [f64; 2] {
        match self {
            Metric::Lcp => LCP_THRESHOLDS,
            Metric::Cls => CLS_THRESHOLDS,
            Metric::Inp => INP_THRESHOLDS,
            Metric::Fcp => FCP_THRESHOLDS,
            Metric::Ttfb => TTFB_THRESHOLDS,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// `browser.web_vital.rating`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rating {
    /// At most the first threshold.
    Good,
    /// Above the first, at most the second.
    NeedsImprovement,
    /// Above the second.
    Poor,
}

impl Rating {
    /// `value` against `[good, poor]` (`lib/bindReporter.ts`, `getRating`: a value equal to a
    /// threshold is still the better rating).
    pub fn of(value: f64, [good, poor]: [f64; 2]) -> Self {
        if value > poor {
            Rating::Poor
        } else if value > good {
            Rating::NeedsImprovement
        } else {
            Rating::Good
        }
    }

    /// The attribute's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rating::Good => "good",
            Rating::NeedsImprovement => "needs-improvement",
            Rating::Poor => "poor",
        }
    }
}

/// One report of a metric: a `browser.web_vital` event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Which metric.
    pub metric: Metric,
    /// Its value now.
    pub value: f64,
    /// Its value less the value of its previous report (the value, on the first).
    pub delta: f64,
    /// The value's rating.
    pub rating: Rating,
}

/// `lib/bindReporter.ts` without `reportAllChanges`: a report carries the delta since the
/// previous one, and is made only when the value changed, or when there was none before (so a
/// CLS of 0 is reported once).
#[derive(Debug, Default, Clone, Copy)]
struct Reporter {
    previous: Option<f64>,
}

impl Reporter {
    fn report(&mut self, metric: Metric, value: f64) -> Option<Report> {
        let delta = value - self.previous.unwrap_or(0.0);
        if delta == 0.0 && self.previous.is_some() {
            return None;
        }
        self.previous = Some(value);
        Some(Report {
            metric,
            value,
            delta,
            rating: Rating::of(value, metric.thresholds()),
        })
    }
}

/// CLS's session windows (`lib/LayoutShiftManager.ts`, `onCLS.ts`): a shift less than 1 s after
/// the previous one and less than 5 s after the window's first joins the window, any other starts
/// a new one; shifts right after input (`hadRecentInput`) do not count; CLS is the largest
/// window's sum.
#[derive(Debug, Default, Clone)]
pub struct LayoutShifts {
    session: f64,
    first: f64,
    last: f64,
    largest: f64,
}

impl LayoutShifts {
    /// A `layout-shift` entry: its `startTime`, `value` and `hadRecentInput`.
    pub fn add(&mut self, start_time: f64, value: f64, had_recent_input: bool) {
        if had_recent_input {
            return;
        }
        if self.session != 0.0
            && start_time - self.last < 1000.0
            && start_time - self.first < 5000.0
        {
            self.session += value;
        } else {
            self.session = value;
            self.first = start_time;
        }
        self.last = start_time;
        self.largest = self.largest.max(self.session);
    }

    /// CLS: the largest session window so far.
    pub fn value(&self) -> f64 {
        self.largest
    }
}

/// INP's candidates (`lib/InteractionManager.ts`): the [`MAX_INTERACTIONS`] longest interactions
/// by `interactionId`, longest first, each as long as its longest entry.
#[derive(Debug, Default, Clone)]
pub struct Interactions {
    /// The first `len` are the candidates. A fixed array: no allocation, no `Vec` code.
    longest: [(u64, f64); MAX_INTERACTIONS],
    len: usize,
    /// The least and greatest `interactionId` seen, for the interaction count where the browser
    /// has no `performance.interactionCount`.
    min_id: u64,
    max_id: u64,
}

impl Interactions {
    /// An `event` or `first-input` entry: its `interactionId` (0 when it is no interaction),
    /// `duration`, and whether it is `first-input` (kept even without an id, as `web-vitals`
    /// does).
    pub fn add(&mut self, interaction_id: u64, duration: f64, first_input: bool) {
        if interaction_id == 0 && !first_input {
            return;
        }
        if interaction_id != 0 {
            if self.min_id == 0 || interaction_id < self.min_id {
                self.min_id = interaction_id;
            }
            self.max_id = self.max_id.max(interaction_id);
        }
        let known = (self.longest[..self.len].iter()).position(|&(id, _)| id == interaction_id);
        let (mut at, latency) = match known {
            Some(i) => (i, self.longest[i].1.max(duration)),
            None if self.len < MAX_INTERACTIONS => {
                self.len += 1;
                (self.len - 1, duration)
            }
            // Longer than the shortest kept: it takes the shortest's place.
            None if duration > self.longest[MAX_INTERACTIONS - 1].1 => {
                (MAX_INTERACTIONS - 1, duration)
            }
            None => return,
        };
        // Kept sorted by one insertion step (after the equally long), not by a sort: an
        // interaction only ever gets longer, so it only moves up.
        while at > 0 && self.longest[at - 1].1 < latency {
            self.longest[at] = self.longest[at - 1];
            at -= 1;
        }
        self.longest[at] = (interaction_id, latency);
    }

    /// INP, "the 98th percentile" estimate of `_estimateP98LongestInteraction`: the candidate at
    /// `min(len - 1, floor(interaction_count / 50))`. `interaction_count` is
    /// `performance.interactionCount` where the browser has it; without it, `web-vitals`'
    /// estimate (`lib/polyfills/interactionCountPolyfill.ts`): ids step by 7, so
    /// `(max - min) / 7 + 1` interactions, 0 before any. `None` before any interaction.
    pub fn value(&self, interaction_count: Option<u64>) -> Option<f64> {
        let estimate = if self.max_id == 0 {
            0
        } else {
            (self.max_id - self.min_id) / 7 + 1
        };
        let count = interaction_count.unwrap_or(estimate);
        let last = self.len.checked_sub(1)?;
        let index = usize::try_from(count / 50).unwrap_or(usize::MAX).min(last);
        Some(self.longest[index].1)
    }
}

/// One page view's metrics, from the entries and the page's lifecycle, as reports.
#[derive(Debug, Clone)]
pub struct Vitals {
    activation_start: f64,
    /// `getVisibilityWatcher.ts`, `firstHiddenTime`: paints after it do not count.
    first_hidden: f64,
    lcp: Option<f64>,
    lcp_final: bool,
    cls: LayoutShifts,
    inp: Interactions,
    reporters: [Reporter; 5],
}

impl Vitals {
    /// A page view whose navigation entry's `activationStart` is `activation_start` (0 unless
    /// prerendered), and which is hidden now or not (a page loaded in the background paints
    /// nothing that counts).
    pub fn new(activation_start: f64, hidden: bool) -> Self {
        Self {
            activation_start,
            first_hidden: if hidden { 0.0 } else { f64::INFINITY },
            lcp: None,
            lcp_final: false,
            cls: LayoutShifts::default(),
            inp: Interactions::default(),
            reporters: [Reporter::default(); 5],
        }
    }

    fn report(&mut self, metric: Metric, value: f64) -> Option<Report> {
        self.reporters[metric.index()].report(metric, value)
    }

    fn since_activation(&self, time: f64) -> f64 {
        (time - self.activation_start).max(0.0)
    }

    /// TTFB, from the navigation entry's `responseStart` (`onTTFB.ts`).
    pub fn ttfb(&mut self, response_start: f64) -> Option<Report> {
        if self.reporters[Metric::Ttfb.index()].previous.is_some() {
            return None;
        }
        self.report(Metric::Ttfb, self.since_activation(response_start))
    }

    /// The `first-contentful-paint` entry's `startTime` (`onFCP.ts`): reported once, if the page
    /// was not hidden before it.
    pub fn first_contentful_paint(&mut self, start_time: f64) -> Option<Report> {
        if self.reporters[Metric::Fcp.index()].previous.is_some() || start_time >= self.first_hidden
        {
            return None;
        }
        self.report(Metric::Fcp, self.since_activation(start_time))
    }

    /// A `largest-contentful-paint` entry's `startTime`: the LCP until it is final (`onLCP.ts`).
    pub fn largest_contentful_paint(&mut self, start_time: f64) {
        if !self.lcp_final && start_time < self.first_hidden {
            self.lcp = Some(self.since_activation(start_time));
        }
    }

    /// A `layout-shift` entry.
    pub fn layout_shift(&mut self, start_time: f64, value: f64, had_recent_input: bool) {
        self.cls.add(start_time, value, had_recent_input);
    }

    /// An `event` or `first-input` entry.
    pub fn interaction(&mut self, interaction_id: u64, duration: f64, first_input: bool) {
        self.inp.add(interaction_id, duration, first_input);
    }

    /// A trusted `keydown` or `click`: the LCP is final, reported if there is one.
    pub fn input(&mut self) -> Option<Report> {
        if self.lcp_final {
            return None;
        }
        self.lcp_final = true;
        self.lcp.and_then(|lcp| self.report(Metric::Lcp, lcp))
    }

    /// The page is hidden (the event's `timeStamp`): LCP is final, and CLS and INP are reported
    /// if they changed. `interaction_count` is `performance.interactionCount` if the browser has
    /// it.
    pub fn hidden(
        &mut self,
        time_stamp: f64,
        interaction_count: Option<u64>,
    ) -> [Option<Report>; 3] {
        self.first_hidden = self.first_hidden.min(time_stamp);
        let lcp = self.input();
        let fcp_reported = self.reporters[Metric::Fcp.index()].previous.is_some();
        let cls = fcp_reported
            .then(|| self.report(Metric::Cls, self.cls.value()))
            .flatten();
        let inp = (self.inp.value(interaction_count)).and_then(|inp| self.report(Metric::Inp, inp));
        [lcp, cls, inp]
    }
}

#[cfg(target_arch = "wasm32")]
pub use browser::WebVitals;

#[cfg(target_arch = "wasm32")]
mod browser {
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

    // `start`: the navigation entry as `lib/getNavigationEntry.ts` keeps it (`responseStart` above
    // 0 and before now, else none), as `[responseStart or 0, activationStart, hidden (1 or 0),
    // navigation type, and an id per metric]`: the type as `lib/initMetric.ts` names it, the ids
    // as `lib/generateUniqueID.ts` makes them (`v5-<ms>-<13 digits>`), in `Metric::ALL`'s order.
    //
    // `watch(f)`: one observer (`buffered`, events of 40 ms and more: `INP_DURATION_THRESHOLD`)
    // and capture listeners on `window` (see `install`); each entry is `f([kind, startTime,
    // value or duration, interactionId, hadRecentInput])`, kind 1 LCP, 2 a layout shift, 3 FCP,
    // 4 an event, 5 the first input; the page hidden (`pagehide`, or `visibilitychange` to
    // hidden) is `f([6, timeStamp, performance.interactionCount])`, a trusted `keydown` or
    // `click` `f([7])`, each after the observer's pending records. It returns what stops it all.
    #[wasm_bindgen(
        inline_js = r#"const T=["largest-contentful-paint","layout-shift","paint","event","first-input"],E=["pagehide","visibilitychange","keydown","click"],P=performance,d=document;
export function start(){let n=P.getEntriesByType("navigation")[0],r=n&&n.responseStart,a;n=r>0&&r<P.now()&&n;a=n&&n.activationStart||0;return[n&&r,a,+(!d.prerendering&&d.hidden),n?d.prerendering||a>0?"prerender":d.wasDiscarded?"restore":n.type.replace(/_/g,"-"):"navigate",...T.map(()=>"v5-"+Date.now()+"-"+(Math.floor(Math.random()*(9e12-1))+1e12))]}
export function watch(f){let o;const g=e=>{const k=T.indexOf(e.entryType)+1;(k-3||e.name=="first-contentful-paint")&&f([k,e.startTime,e.value||e.duration,e.interactionId,+e.hadRecentInput])},h=v=>{o&&o.takeRecords().forEach(g);const t=v.type;t=="pagehide"||t[0]=="v"&&d.hidden?f([6,v.timeStamp,P.interactionCount]):v.isTrusted&&t[0]!="v"&&f([7])};try{o=new PerformanceObserver(l=>l.getEntries().forEach(g));T.forEach(t=>o.observe({type:t,buffered:!0,durationThreshold:40}))}catch(e){}E.forEach(t=>addEventListener(t,h,!0));return()=>{o&&o.disconnect();E.forEach(t=>removeEventListener(t,h,!0))}}"#
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
    /// The kinds of record `watch` passes, its first number (the snippet's `T.indexOf(…)+1`, then
    /// its literal 6 and 7).
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_good_up_to_and_at_the_first_threshold_and_poor_above_the_second() {
        let cases = [
            (Metric::Lcp, 2500.0, Rating::Good),
            (Metric::Lcp, 2500.1, Rating::NeedsImprovement),
            (Metric::Lcp, 4000.0, Rating::NeedsImprovement),
            (Metric::Lcp, 4000.1, Rating::Poor),
            (Metric::Cls, 0.1, Rating::Good),
            (Metric::Cls, 0.25, Rating::NeedsImprovement),
            (Metric::Cls, 0.26, Rating::Poor),
            (Metric::Inp, 200.0, Rating::Good),
            (Metric::Inp, 501.0, Rating::Poor),
            (Metric::Fcp, 1801.0, Rating::NeedsImprovement),
            (Metric::Fcp, 3001.0, Rating::Poor),
            (Metric::Ttfb, 800.0, Rating::Good),
            (Metric::Ttfb, 1800.0, Rating::NeedsImprovement),
            (Metric::Ttfb, 1801.0, Rating::Poor),
        ];
        for (metric, value, rating) in cases {
            assert_eq!(
                Rating::of(value, metric.thresholds()),
                rating,
                "{metric:?} {value}"
            );
        }
        assert_eq!(Rating::NeedsImprovement.as_str(), "needs-improvement");
    }

    #[test]
    fn metrics_are_named_as_the_semantic_conventions_name_them() {
        let names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["lcp", "cls", "inp", "fcp", "ttfb"]);
        assert!(Metric::ALL.iter().enumerate().all(|(i, m)| m.index() == i));
    }

    #[test]
    fn a_report_carries_the_delta_and_only_a_change_is_reported_again() {
        let mut reporter = Reporter::default();
        let first = reporter
            .report(Metric::Cls, 0.0)
            .expect("the first report, even of 0");
        assert_eq!((first.value, first.delta), (0.0, 0.0));
        assert_eq!(reporter.report(Metric::Cls, 0.0), None, "unchanged");
        let second = reporter.report(Metric::Cls, 0.3).expect("changed");
        assert_eq!(
            (second.value, second.delta, second.rating),
            (0.3, 0.3, Rating::Poor)
        );
        let third = reporter.report(Metric::Cls, 0.05).expect("changed");
        assert!(
            (third.delta - -0.25).abs() < 1e-12,
            "deltas can be negative: {third:?}"
        );
        assert_eq!(third.rating, Rating::Good);
    }

    #[test]
    fn shifts_within_a_second_of_each_other_and_five_of_the_first_share_a_window() {
        let mut shifts = LayoutShifts::default();
        shifts.add(0.0, 0.1, false);
        shifts.add(900.0, 0.1, false);
        shifts.add(1800.0, 0.1, false);
        assert!((shifts.value() - 0.3).abs() < 1e-12);
        // 1 s after the last: a new window, smaller, so CLS stays.
        shifts.add(2800.0, 0.05, false);
        assert!((shifts.value() - 0.3).abs() < 1e-12);
        // It grows past the first window's sum: CLS is the largest window, not the total.
        shifts.add(3000.0, 0.2, false);
        shifts.add(3500.0, 0.1, false);
        assert!((shifts.value() - 0.35).abs() < 1e-12);
    }

    #[test]
    fn a_window_closes_five_seconds_after_its_first_shift_and_input_shifts_do_not_count() {
        let mut shifts = LayoutShifts::default();
        for i in 0..6 {
            shifts.add(f64::from(i) * 900.0, 0.1, false);
        }
        // 0, 900, …, 4500 are within 5 s of 0; the sixth, at 4500, too: 0.6 in one window.
        assert!((shifts.value() - 0.6).abs() < 1e-12);
        shifts.add(5400.0, 0.1, false);
        assert!(
            (shifts.value() - 0.6).abs() < 1e-12,
            "5.4 s after the first: a new window"
        );
        let mut with_input = LayoutShifts::default();
        with_input.add(0.0, 0.5, true);
        assert_eq!(with_input.value(), 0.0);
    }

    #[test]
    fn inp_is_the_longest_interaction_below_fifty_interactions() {
        let mut interactions = Interactions::default();
        assert_eq!(interactions.value(None), None, "no interaction yet");
        interactions.add(0, 500.0, false);
        assert_eq!(
            interactions.value(None),
            None,
            "an event that is no interaction"
        );
        interactions.add(7, 48.0, false);
        interactions.add(7, 120.0, false);
        interactions.add(14, 64.0, false);
        assert_eq!(
            interactions.value(None),
            Some(120.0),
            "an interaction is its longest entry"
        );
        interactions.add(7, 80.0, false);
        assert_eq!(
            interactions.value(None),
            Some(120.0),
            "a shorter entry does not shorten it"
        );
        let mut first_input = Interactions::default();
        first_input.add(0, 16.0, true);
        assert_eq!(
            first_input.value(None),
            Some(16.0),
            "first-input counts without an id"
        );
    }

    #[test]
    fn inp_skips_one_candidate_per_fifty_interactions_and_keeps_ten() {
        let mut interactions = Interactions::default();
        for id in 1..=12_u64 {
            interactions.add(id, 40.0 + 10.0 * id as f64, false);
        }
        assert_eq!(interactions.len, MAX_INTERACTIONS);
        assert_eq!(interactions.longest[0], (12, 160.0));
        assert_eq!(
            interactions.longest[9],
            (3, 70.0),
            "the two shortest were dropped"
        );
        // Without `interactionCount`: ids 1 to 12 estimate (12 - 1) / 7 + 1 = 2 interactions, index 0.
        assert_eq!(interactions.value(None), Some(160.0));
        assert_eq!(interactions.value(Some(49)), Some(160.0));
        assert_eq!(interactions.value(Some(50)), Some(150.0));
        assert_eq!(interactions.value(Some(120)), Some(140.0));
        assert_eq!(
            interactions.value(Some(10_000)),
            Some(70.0),
            "at most the last candidate"
        );
        interactions.add(99, 60.0, false);
        assert_eq!(interactions.len, MAX_INTERACTIONS);
        assert!(
            !interactions.longest.iter().any(|&(id, _)| id == 99),
            "too short to be kept"
        );
    }

    #[test]
    fn paints_and_ttfb_are_relative_to_activation_and_reported_once() {
        let mut vitals = Vitals::new(100.0, false);
        let ttfb = vitals.ttfb(50.0).expect("ttfb");
        assert_eq!(
            (ttfb.value, ttfb.delta),
            (0.0, 0.0),
            "clamped at 0 when activated later"
        );
        assert_eq!(vitals.ttfb(60.0), None, "once");
        let fcp = vitals.first_contentful_paint(2000.0).expect("fcp");
        assert_eq!(
            (fcp.metric, fcp.value, fcp.rating),
            (Metric::Fcp, 1900.0, Rating::NeedsImprovement)
        );
        assert_eq!(vitals.first_contentful_paint(2100.0), None, "once");
    }

    #[test]
    fn lcp_is_final_at_the_first_input_and_reported_once() {
        let mut vitals = Vitals::new(0.0, false);
        assert_eq!(vitals.input(), None, "no LCP yet, and it is final now");
        vitals.largest_contentful_paint(900.0);
        assert_eq!(
            vitals.hidden(1000.0, None),
            [None; 3],
            "an LCP after the input is ignored"
        );

        let mut vitals = Vitals::new(0.0, false);
        vitals.largest_contentful_paint(900.0);
        vitals.largest_contentful_paint(1200.0);
        let lcp = vitals.input().expect("lcp");
        assert_eq!((lcp.metric, lcp.value), (Metric::Lcp, 1200.0));
        assert_eq!(vitals.input(), None);
        assert_eq!(
            vitals.hidden(5000.0, None)[0],
            None,
            "not again when hidden"
        );
    }

    #[test]
    fn hiding_reports_lcp_cls_and_inp_then_only_what_changed() {
        let mut vitals = Vitals::new(0.0, false);
        assert!(vitals.first_contentful_paint(300.0).is_some());
        vitals.largest_contentful_paint(400.0);
        vitals.interaction(7, 96.0, false);
        let [lcp, cls, inp] = vitals.hidden(10_000.0, Some(1));
        assert_eq!(lcp.map(|r| r.value), Some(400.0));
        assert_eq!(
            cls.map(|r| (r.value, r.delta)),
            Some((0.0, 0.0)),
            "a CLS of 0 is reported once"
        );
        assert_eq!(inp.map(|r| (r.value, r.rating)), Some((96.0, Rating::Good)));
        assert_eq!(
            vitals.hidden(10_100.0, Some(1)),
            [None; 3],
            "nothing changed"
        );

        vitals.layout_shift(11_000.0, 0.15, false);
        vitals.interaction(14, 304.0, false);
        let [lcp, cls, inp] = vitals.hidden(12_000.0, Some(2));
        assert_eq!(lcp, None);
        let cls = cls.expect("cls changed");
        assert_eq!(
            (cls.value, cls.delta, cls.rating),
            (0.15, 0.15, Rating::NeedsImprovement)
        );
        let inp = inp.expect("inp changed");
        assert_eq!(
            (inp.value, inp.delta, inp.rating),
            (304.0, 208.0, Rating::NeedsImprovement)
        );
    }

    #[test]
    fn cls_waits_for_fcp_and_paints_after_the_page_was_hidden_do_not_count() {
        let mut vitals = Vitals::new(0.0, false);
        vitals.layout_shift(100.0, 0.2, false);
        assert_eq!(
            vitals.hidden(500.0, None)[1],
            None,
            "no FCP reported: no CLS"
        );
        assert_eq!(
            vitals.first_contentful_paint(600.0),
            None,
            "painted after being hidden"
        );

        let mut background = Vitals::new(0.0, true);
        assert_eq!(
            background.first_contentful_paint(10.0),
            None,
            "loaded hidden"
        );
        background.largest_contentful_paint(10.0);
        assert_eq!(background.hidden(20.0, None), [None; 3]);
    }
}
