//! Web Vitals (LCP, CLS, INP, FCP, TTFB) measured as GoogleChrome's `web-vitals` library (v5)
//! measures them, reported as `browser.web_vital` events on a `pageView` span.
//!
//! Opt-in: nothing else in the crate refers to this module, so a page that never calls
//! [`WebVitals::install`] ships none of it.
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
//! natively; the browser glue (one `PerformanceObserver`, one listener closure) only feeds them.
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
    longest: Vec<(u64, f64)>,
    ids_seen: Vec<u64>,
}

impl Interactions {
    /// An `event` or `first-input` entry: its `interactionId` (0 when it is no interaction),
    /// `duration`, and whether it is `first-input` (kept even without an id, as `web-vitals`
    /// does).
    pub fn add(&mut self, interaction_id: u64, duration: f64, first_input: bool) {
        if interaction_id == 0 && !first_input {
            return;
        }
        if interaction_id != 0 && !self.ids_seen.contains(&interaction_id) {
            self.ids_seen.push(interaction_id);
        }
        let known = self
            .longest
            .iter()
            .position(|&(id, _)| id == interaction_id);
        let latency = match known {
            Some(i) => self.longest.remove(i).1.max(duration),
            None if self.longest.len() < MAX_INTERACTIONS
                || self.longest.last().is_some_and(|&(_, l)| duration > l) =>
            {
                duration
            }
            None => return,
        };
        // Kept sorted by insertion (after the equally long), not by a sort: no sort code in the
        // page for ten elements.
        let at = (self.longest.iter())
            .position(|&(_, l)| l < latency)
            .unwrap_or(self.longest.len());
        self.longest.insert(at, (interaction_id, latency));
        self.longest.truncate(MAX_INTERACTIONS);
    }

    /// INP, "the 98th percentile" estimate of `_estimateP98LongestInteraction`: the candidate at
    /// `min(len - 1, floor(interaction_count / 50))`. `interaction_count` is
    /// `performance.interactionCount` where the browser has it; without it, the number of
    /// distinct interaction ids seen. `None` before any interaction.
    pub fn value(&self, interaction_count: Option<u64>) -> Option<f64> {
        let count = interaction_count.unwrap_or(self.ids_seen.len() as u64);
        let last = self.longest.len().checked_sub(1)?;
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

/// `browser.web_vital.navigation_type` (`lib/initMetric.ts`): `prerender` when the page was
/// prerendered (`document.prerendering` or an `activationStart` after 0), `restore` when it was
/// discarded (`document.wasDiscarded`), else the navigation entry's `type` with `-` for `_`;
/// `navigate` without an entry.
pub fn navigation_type(
    entry_type: Option<&str>,
    prerendered: bool,
    discarded: bool,
) -> &'static str {
    match entry_type {
        None => "navigate",
        Some(_) if prerendered => "prerender",
        Some(_) if discarded => "restore",
        Some("reload") => "reload",
        Some("back_forward") => "back-forward",
        Some("prerender") => "prerender",
        Some(_) => "navigate",
    }
}

/// A metric instance's id, as `lib/generateUniqueID.ts` makes it: `v5-`, the time in whole
/// milliseconds since the epoch, `-`, and a 13-digit number from `random`. Written by hand: no
/// `core::fmt` in the page.
pub fn unique_id(unix_millis: u64, random: u64) -> String {
    let mut id = String::with_capacity(32);
    id.push_str("v5-");
    push_decimal(&mut id, unix_millis);
    id.push('-');
    // `Math.floor(Math.random() * (9e12 - 1)) + 1e12`: 1e12 ..= 1e13 - 2, always 13 digits.
    push_decimal(&mut id, 1_000_000_000_000 + random % 8_999_999_999_999);
    id
}

fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0_u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[cfg(target_arch = "wasm32")]
pub use browser::WebVitals;

#[cfg(target_arch = "wasm32")]
mod browser {
    //! The glue: one `PerformanceObserver` for every entry type and one closure for the window's
    //! events, both feeding a [`Page`]. Entry fields are read with `Reflect`, not web-sys's typed
    //! entry classes: one import for every field (BENCHMARKS.md, "Page size").

    use std::{cell::RefCell, rc::Rc};

    use js_sys::{Array, Object, Reflect};
    use opentelemetry::{
        Context, KeyValue,
        trace::{Link, Span as _, SpanContext, SpanKind, Tracer as _},
    };
    use wasm_bindgen::{JsCast, JsValue, closure::Closure, prelude::wasm_bindgen};
    use web_sys::Event;

    use super::{Metric, Report, Vitals, navigation_type, unique_id};
    use crate::{Span, Tracer, clock};

    #[wasm_bindgen]
    extern "C" {
        #[derive(Clone)]
        type PerformanceObserver;
        /// Throws where there is no `PerformanceObserver`.
        #[wasm_bindgen(constructor, catch)]
        fn new(callback: &JsValue) -> Result<PerformanceObserver, JsValue>;
        #[wasm_bindgen(method, catch)]
        fn observe(this: &PerformanceObserver, options: &Object) -> Result<(), JsValue>;
        #[wasm_bindgen(method)]
        fn disconnect(this: &PerformanceObserver);
        #[wasm_bindgen(method, js_name = takeRecords)]
        fn take_records(this: &PerformanceObserver) -> Array;

        type PerformanceObserverEntryList;
        #[wasm_bindgen(method, js_name = getEntries)]
        fn get_entries(this: &PerformanceObserverEntryList) -> Array;

        /// `performance.getEntriesByType(type)`.
        #[wasm_bindgen(js_namespace = performance, js_name = getEntriesByType)]
        fn entries_by_type(entry_type: &str) -> Array;
        #[wasm_bindgen(thread_local_v2, js_name = performance)]
        static PERFORMANCE: JsValue;
    }

    /// The entry types observed, and the window events listened to.
    const ENTRY_TYPES: [&str; 5] = [
        "largest-contentful-paint",
        "layout-shift",
        "paint",
        "event",
        "first-input",
    ];
    const EVENTS: [&str; 4] = ["pagehide", "visibilitychange", "keydown", "click"];

    /// Web Vitals of this page view, reported on `pageView` spans. Keep it for the page's life:
    /// dropping it disconnects its observer, removes its listeners and ends the open `pageView`.
    pub struct WebVitals {
        observer: Option<PerformanceObserver>,
        on_entries: Closure<dyn FnMut(Event)>,
        on_event: Closure<dyn FnMut(Event)>,
    }

    impl WebVitals {
        /// Starts observing, reports TTFB at once, and reports the rest on `tracer`'s `pageView`
        /// spans as the module's doc says. Install it early: the observer is `buffered`, so
        /// entries from before are seen, but input before it is not.
        pub fn install(tracer: &Tracer) -> WebVitals {
            let navigation = navigation_entry();
            let document = web_sys::window().and_then(|w| w.document());
            let flag = |name: &str| (document.as_ref()).is_some_and(|d| get(d, name).is_truthy());
            let prerendering = flag("prerendering");
            let activation_start = navigation
                .as_ref()
                .map_or(0.0, |e| number(e, "activationStart"));
            let hidden = !prerendering && document.as_ref().is_some_and(|d| d.hidden());
            let now = clock::unix_millis(clock::now()) as u64;
            let mut random = [0_u8; 8];
            // Without a random source the ids still differ by metric and time; no panic for it.
            let _ = getrandom::fill(&mut random);
            let random = u64::from_le_bytes(random);
            let page = Rc::new(RefCell::new(Page {
                tracer: tracer.clone(),
                vitals: Vitals::new(activation_start, hidden),
                // One id per metric, as `initMetric` makes one per metric instance.
                ids: Metric::ALL.map(|m| unique_id(now, random.rotate_left(13 * m.index() as u32))),
                navigation_type: navigation_type(
                    navigation
                        .as_ref()
                        .and_then(|e| get(e, "type").as_string())
                        .as_deref(),
                    prerendering || activation_start > 0.0,
                    flag("wasDiscarded"),
                ),
                span: None,
                previous: None,
            }));
            if let Some(entry) = &navigation {
                page.borrow_mut().emit_ttfb(number(entry, "responseStart"));
            }

            // The observer's callback gets a `PerformanceObserverEntryList`; it is typed as an
            // event listener's closure so that the page carries one closure shim, the SDK's.
            let on_entries = {
                let page = Rc::clone(&page);
                Closure::<dyn FnMut(Event)>::new(move |list: Event| {
                    let entries = list
                        .unchecked_into::<PerformanceObserverEntryList>()
                        .get_entries();
                    if let Ok(mut page) = page.try_borrow_mut() {
                        page.entries(&entries);
                    }
                })
            };
            let observer = PerformanceObserver::new(on_entries.as_ref()).ok();
            if let Some(observer) = &observer {
                for entry_type in ENTRY_TYPES {
                    let options = Object::new();
                    set(&options, "type", &JsValue::from_str(entry_type));
                    set(&options, "buffered", &JsValue::TRUE);
                    if entry_type == "event" {
                        let threshold = JsValue::from_f64(super::INP_DURATION_THRESHOLD);
                        set(&options, "durationThreshold", &threshold);
                    }
                    // A browser without the type ignores it (with a console warning).
                    let _ = observer.observe(&options);
                }
            }

            let on_event = {
                let observer = observer.clone();
                Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                    let Ok(mut page) = page.try_borrow_mut() else {
                        return;
                    };
                    if let Some(observer) = &observer {
                        page.entries(&observer.take_records());
                    }
                    match event.type_().as_str() {
                        // A synthetic `pagehide` counts: the SDK's flush that follows sends
                        // whatever it is told to.
                        "pagehide" => page.hidden(event.time_stamp()),
                        "visibilitychange" if is_hidden() => page.hidden(event.time_stamp()),
                        // `onLCP.ts` ignores untrusted input: a script's click is no user's.
                        "keydown" | "click" if event.is_trusted() => {
                            let lcp = page.vitals.input();
                            page.emit_all([lcp]);
                        }
                        _ => {}
                    }
                })
            };
            // Capture listeners on `window`: `visibilitychange` capturing through `window` reaches
            // them before the SDK's listener on `document`, so the ended `pageView` is in that
            // keepalive flush. `pagehide` is fired at `window` itself, where listeners run in the
            // order they were added, capture or not (Chromium 156, measured), so the SDK's runs
            // first: [`Page::hidden`] sends the ended span itself. (Capture also keeps a page's
            // `stopPropagation` from hiding input from LCP, as `onLCP.ts` listens.)
            if let Some(window) = web_sys::window() {
                for event in EVENTS {
                    let _ = window.add_event_listener_with_callback_and_bool(
                        event,
                        on_event.as_ref().unchecked_ref(),
                        true,
                    );
                }
            }
            WebVitals {
                observer,
                on_entries,
                on_event,
            }
        }
    }

    impl Drop for WebVitals {
        fn drop(&mut self) {
            if let Some(observer) = &self.observer {
                observer.disconnect();
            }
            if let Some(window) = web_sys::window() {
                for event in EVENTS {
                    let _ = window.remove_event_listener_with_callback_and_bool(
                        event,
                        self.on_event.as_ref().unchecked_ref(),
                        true,
                    );
                }
            }
            // `on_entries` goes with `self`; its page (and the open span, which ends) with it.
            let _ = &self.on_entries;
        }
    }

    /// One page view's metrics and the span their reports go on.
    struct Page {
        tracer: Tracer,
        vitals: Vitals,
        ids: [String; 5],
        navigation_type: &'static str,
        /// The open `pageView`: started by the first report after the last one ended.
        span: Option<Span>,
        /// The last `pageView` that ended, which the next one links to.
        previous: Option<SpanContext>,
    }

    impl Page {
        fn entries(&mut self, entries: &Array) {
            for entry in entries.iter() {
                let start_time = number(&entry, "startTime");
                let entry_type = get(&entry, "entryType").as_string().unwrap_or_default();
                match entry_type.as_str() {
                    "largest-contentful-paint" => self.vitals.largest_contentful_paint(start_time),
                    "paint" if get(&entry, "name") == "first-contentful-paint" => {
                        let fcp = self.vitals.first_contentful_paint(start_time);
                        self.emit_all([fcp]);
                    }
                    "layout-shift" => self.vitals.layout_shift(
                        start_time,
                        number(&entry, "value"),
                        get(&entry, "hadRecentInput").is_truthy(),
                    ),
                    "event" | "first-input" => self.vitals.interaction(
                        number(&entry, "interactionId") as u64,
                        number(&entry, "duration"),
                        entry_type == "first-input",
                    ),
                    _ => {}
                }
            }
        }

        fn emit_ttfb(&mut self, response_start: f64) {
            let ttfb = self.vitals.ttfb(response_start);
            self.emit_all([ttfb]);
        }

        /// The page is hidden: the last reports, then the `pageView` ends.
        fn hidden(&mut self, time_stamp: f64) {
            let count = get(&PERFORMANCE.with(JsValue::clone), "interactionCount").as_f64();
            let reports = self.vitals.hidden(time_stamp, count.map(|n| n as u64));
            self.emit_all(reports);
            if let Some(mut span) = self.span.take() {
                self.previous = Some(span.span_context().clone());
                span.end();
                // After the SDK's flush on `pagehide` (see `install`), a request of its own. Its
                // body (a span, a few hundred bytes) can exceed the browser's 64 KiB keepalive
                // quota only when the SDK's flush just used nearly all of it.
                self.tracer.send_keepalive();
            }
        }

        fn emit_all<const N: usize>(&mut self, reports: [Option<Report>; N]) {
            for report in reports.into_iter().flatten() {
                let attributes = vec![
                    KeyValue::new("browser.web_vital.name", report.metric.name()),
                    KeyValue::new("browser.web_vital.value", report.value),
                    KeyValue::new("browser.web_vital.delta", report.delta),
                    KeyValue::new(
                        "browser.web_vital.id",
                        self.ids[report.metric.index()].clone(),
                    ),
                    KeyValue::new("browser.web_vital.rating", report.rating.as_str()),
                    KeyValue::new("browser.web_vital.navigation_type", self.navigation_type),
                ];
                self.span().add_event("browser.web_vital", attributes);
            }
        }

        /// The open `pageView`, started if there is none: the first at the navigation's start
        /// (`performance.timeOrigin`), a later one (the page was shown again) now, linked to the
        /// one before. A root in a trace of its own, whatever context is current.
        fn span(&mut self) -> &mut Span {
            let (tracer, previous) = (&self.tracer, &self.previous);
            self.span.get_or_insert_with(|| {
                let builder = tracer
                    .span_builder("pageView")
                    .with_kind(SpanKind::Internal);
                let builder = match previous {
                    Some(previous) => {
                        builder.with_links(vec![Link::with_context(previous.clone())])
                    }
                    None => builder.with_start_time(clock::time_origin()),
                };
                tracer.build_with_context(builder, &Context::new())
            })
        }
    }

    /// `performance.getEntriesByType('navigation')[0]` if its `responseStart` is usable
    /// (`lib/getNavigationEntry.ts`: browsers report 0 for privacy, and buggy values past now).
    fn navigation_entry() -> Option<JsValue> {
        let entry = entries_by_type("navigation").get(0);
        let response_start = number(&entry, "responseStart");
        let since_origin =
            clock::unix_millis(clock::now()) - clock::unix_millis(clock::time_origin());
        (response_start > 0.0 && response_start < since_origin).then_some(entry)
    }

    fn is_hidden() -> bool {
        web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.hidden())
    }

    fn get(target: &JsValue, key: &str) -> JsValue {
        Reflect::get(target, &JsValue::from_str(key)).unwrap_or_default()
    }

    /// A numeric field, 0 when it is missing.
    fn number(target: &JsValue, key: &str) -> f64 {
        get(target, key).as_f64().unwrap_or_default()
    }

    fn set(target: &Object, key: &str, value: &JsValue) {
        let _ = Reflect::set(target, &JsValue::from_str(key), value);
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
        assert_eq!(interactions.longest.len(), MAX_INTERACTIONS);
        assert_eq!(interactions.longest[0], (12, 160.0));
        assert_eq!(
            interactions.longest[9],
            (3, 70.0),
            "the two shortest were dropped"
        );
        // Without `interactionCount`: the 12 distinct ids seen, index 0.
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
        assert_eq!(interactions.longest.len(), MAX_INTERACTIONS);
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

    #[test]
    fn navigation_types_are_web_vitals_names() {
        assert_eq!(navigation_type(None, false, false), "navigate");
        assert_eq!(navigation_type(Some("navigate"), false, false), "navigate");
        assert_eq!(navigation_type(Some("reload"), false, false), "reload");
        assert_eq!(
            navigation_type(Some("back_forward"), false, false),
            "back-forward"
        );
        assert_eq!(navigation_type(Some("navigate"), true, false), "prerender");
        assert_eq!(navigation_type(Some("reload"), false, true), "restore");
    }

    #[test]
    fn ids_are_v5_the_millisecond_time_and_thirteen_digits() {
        assert_eq!(
            unique_id(1_677_874_579_383, 0),
            "v5-1677874579383-1000000000000"
        );
        assert_eq!(
            unique_id(7, u64::MAX),
            "v5-7-".to_owned() + &(1_000_000_000_000 + u64::MAX % 8_999_999_999_999).to_string()
        );
        for random in [1, 8_999_999_999_998, 8_999_999_999_999, u64::MAX / 3] {
            let id = unique_id(1_764_000_000_000, random);
            let tail = id.rsplit('-').next().expect("three parts");
            assert_eq!(tail.len(), 13, "{id}");
            assert!(tail.bytes().all(|b| b.is_ascii_digit()));
        }
        let mut text = String::new();
        push_decimal(&mut text, 0);
        assert_eq!(text, "0");
    }
}
