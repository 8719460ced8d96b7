//! First Contentful Paint (`onFCP.ts`): the `first-contentful-paint` entry, if the page was not
//! hidden before it.

use super::{Metric, Report, Vitals};

/// FCP thresholds (ms; `onFCP.ts`, `FCPThresholds`).
pub const FCP_THRESHOLDS: [f64; 2] = [1800.0, 3000.0];

impl Vitals {
    /// The `first-contentful-paint` entry's `startTime` (`onFCP.ts`): reported once, if the page
    /// was not hidden before it.
    pub fn first_contentful_paint(&mut self, start_time: f64) -> Option<Report> {
        if self.reporters[Metric::Fcp.index()].previous.is_some() || start_time >= self.first_hidden
        {
            return None;
        }
        self.report(Metric::Fcp, self.since_activation(start_time))
    }
}
