//! Time to First Byte (`onTTFB.ts`): the navigation entry's `responseStart`, from activation.

use super::{Metric, Report, Vitals};

/// TTFB thresholds (ms; `onTTFB.ts`, `TTFBThresholds`).
pub const TTFB_THRESHOLDS: [f64; 2] = [800.0, 1800.0];

impl Vitals {
    /// TTFB, from the navigation entry's `responseStart` (`onTTFB.ts`).
    pub fn ttfb(&mut self, response_start: f64) -> Option<Report> {
        if self.reporters[Metric::Ttfb.index()].previous.is_some() {
            return None;
        }
        self.report(Metric::Ttfb, self.since_activation(response_start))
    }
}
