//! Largest Contentful Paint (`onLCP.ts`): the last `largest-contentful-paint` entry before the
//! page was hidden, final at the first trusted input or when the page is hidden.

use super::{Metric, Report, Vitals};

/// LCP at most this is "good", above the second "poor" (ms; `onLCP.ts`, `LCPThresholds`).
pub const LCP_THRESHOLDS: [f64; 2] = [2500.0, 4000.0];

impl Vitals {
    /// A `largest-contentful-paint` entry's `startTime`: the LCP until it is final (`onLCP.ts`).
    pub fn largest_contentful_paint(&mut self, start_time: f64) {
        if !self.lcp_final && start_time < self.first_hidden {
            self.lcp = Some(self.since_activation(start_time));
        }
    }

    /// A trusted `keydown` or `click`: the LCP is final, reported if there is one.
    pub fn input(&mut self) -> Option<Report> {
        if self.lcp_final {
            return None;
        }
        self.lcp_final = true;
        self.lcp.and_then(|lcp| self.report(Metric::Lcp, lcp))
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

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
}
