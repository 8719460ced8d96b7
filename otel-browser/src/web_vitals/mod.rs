//! Web Vitals (LCP, CLS, INP, FCP, TTFB) measured as GoogleChrome's `web-vitals` library (v5)
//! measures them, reported as `browser.web_vital` events on a `pageView` span.
//!
//! Opt-in: nothing else in the crate refers to this module, so a page that never calls
//! [`WebVitals::install`] ships none of it.
//!
//! ```no_run
//! # let telemetry = otel_browser::BrowserTelemetry::install(Default::default());
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
//! The rules are plain Rust, one module per metric as in `web-vitals` (`lcp`, `cls`, `inp`, `fcp`,
//! `ttfb`: each with its thresholds, its part of [`Vitals`] and its tests), tested natively
//! ([`Vitals`], [`LayoutShifts`], [`Interactions`], [`Rating`]); the browser glue only feeds them: a wasm-bindgen `inline_js` snippet (bundled into
//! the page's one script by `otel-browser/bundle.py`) with one `PerformanceObserver` and
//! the window's listeners, calling one closure with each entry's fields as a flat array of
//! numbers, and naming the navigation type and the ids as `web-vitals` does, in its own words.
//! Not followed from `web-vitals`: new metric instances after a back/forward-cache restore
//! (`pageshow` with `persisted`), and waiting for a prerendered page's activation.

mod cls;
mod fcp;
mod inp;
mod lcp;
mod ttfb;

pub use cls::{CLS_THRESHOLDS, LayoutShifts};
pub use fcp::FCP_THRESHOLDS;
pub use inp::{INP_DURATION_THRESHOLD, INP_THRESHOLDS, Interactions, MAX_INTERACTIONS};
pub use lcp::LCP_THRESHOLDS;
pub use ttfb::TTFB_THRESHOLDS;

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
    /// Every metric, in declaration order (the order a page view keeps their reports in).
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
mod browser;
#[cfg(target_arch = "wasm32")]
#[cfg_attr(docsrs, doc(cfg(target_arch = "wasm32")))]
pub use browser::WebVitals;

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
