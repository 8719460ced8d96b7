//! Cumulative Layout Shift (`onCLS.ts`, `lib/LayoutShiftManager.ts`): the largest session
//! window of layout shifts.

use super::Vitals;

/// CLS thresholds (layout shift score; `onCLS.ts`, `CLSThresholds`).
pub const CLS_THRESHOLDS: [f64; 2] = [0.1, 0.25];

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

impl Vitals {
    /// A `layout-shift` entry.
    pub fn layout_shift(&mut self, start_time: f64, value: f64, had_recent_input: bool) {
        self.cls.add(start_time, value, had_recent_input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
