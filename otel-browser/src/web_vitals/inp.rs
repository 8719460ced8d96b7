//! Interaction to Next Paint (`onINP.ts`, `lib/InteractionManager.ts`): an estimate of the 98th
//! percentile of the page's interaction latencies.

use super::Vitals;

/// INP thresholds (ms; `onINP.ts`, `INPThresholds`).
pub const INP_THRESHOLDS: [f64; 2] = [200.0, 500.0];
/// The `event` entries observed for INP: at least this long (ms). `onINP.ts`,
/// `DEFAULT_DURATION_THRESHOLD`: durations are rounded to 8 ms, so 40 is 2.5 frames at 60 Hz.
pub const INP_DURATION_THRESHOLD: f64 = 40.0;
/// The most interactions kept as INP candidates (`InteractionManager.ts`).
pub const MAX_INTERACTIONS: usize = 10;

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

impl Vitals {
    /// An `event` or `first-input` entry.
    pub fn interaction(&mut self, interaction_id: u64, duration: f64, first_input: bool) {
        self.inp.add(interaction_id, duration, first_input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
