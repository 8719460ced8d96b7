//! The sampler: parent-based (SDK specification, "ParentBased"), with always-on, always-off or
//! consistent probability sampling for roots, all in integers.
//!
//! Probability sampling follows "TraceState: Probability Sampling" (specification, trace/
//! tracestate-probability-sampling.md): a span is kept when its 56-bit randomness value `R` is at
//! least the rejection threshold `T`, where `T = (1 - p) * 2^56`. Only roots are sampled so, and a
//! root has no trace state (so no explicit `ot=rv:`): `R` is the trace id's last 7 bytes (W3C
//! Trace Context Level 2, "Randomness of trace-id": ours come from `crypto.getRandomValues`, and
//! the root says so with the `random` flag). A sampled root records `T` as `ot=th:…` in its trace
//! state so that later stages know the probability it was sampled with. The numbers are
//! `trace_context::sampling`'s, which the server's sampler uses too: both keep a trace by one rule.
//!
//! A span with a parent takes the parent's decision and trace state as they are. The document
//! asks parent-based samplers also to erase a sampled parent's `th` that its randomness
//! contradicts ("Parent-based threshold", a "should" of a Development-status document); that
//! check, with the `ot` parsing it needs, cost the minimal page 1.6 KB gzipped (BENCHMARKS.md), and
//! the page's parents are its own roots, whose `th` is consistent by construction.

use std::sync::Arc;

use opentelemetry::trace::{TraceId, TraceState};
pub use trace_context::sampling::Threshold;
use trace_context::sampling::randomness;

/// How roots are sampled; spans with a parent, local or remote, take the parent's decision (SDK
/// specification, "ParentBased", with its default delegates). The default samples every root
/// (the specification's default, `ParentBased(AlwaysOn)`).
///
/// A root sampler behind a pointer, not an enum: a page links only the samplers it names, so the
/// default page ships no probability code.
#[derive(Clone)]
pub struct Sampler(Arc<dyn RootSampler>);

/// The decision for a span without a parent. Implement it for a sampler of your own.
pub trait RootSampler: Send + Sync {
    /// The decision for a new trace of `trace_id`.
    fn sample(&self, trace_id: TraceId) -> Decision;
}

impl Sampler {
    /// Every root is sampled.
    pub fn always_on() -> Self {
        Self(Arc::new(AlwaysOn))
    }

    /// No root is sampled: nothing is recorded unless a remote parent was sampled.
    pub fn always_off() -> Self {
        Self(Arc::new(AlwaysOff))
    }

    /// Roots are sampled by consistent probability sampling with this rejection threshold.
    pub fn probability(threshold: Threshold) -> Self {
        Self(Arc::new(Probability(threshold)))
    }

    /// A root sampler of your own.
    pub fn root(sampler: impl RootSampler + 'static) -> Self {
        Self(Arc::new(sampler))
    }

    /// The decision for a span of `trace_id` under `parent` (none for a root).
    pub fn decide(&self, trace_id: TraceId, parent: Option<Parent<'_>>) -> Decision {
        match parent {
            Some(parent) => Decision {
                sampled: parent.sampled,
                trace_state: parent.trace_state.clone(),
            },
            None => self.0.sample(trace_id),
        }
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Self::always_on()
    }
}

/// Only a name: the sampler is behind a pointer.
impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sampler")
    }
}

/// What the sampler decided for a new span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the span is recorded and sampled (this SDK never records without sampling).
    pub sampled: bool,
    /// The trace state the span carries.
    pub trace_state: TraceState,
}

/// The parent's side of a decision: whether it was sampled and its trace state.
#[derive(Debug, Clone, Copy)]
pub struct Parent<'a> {
    /// The parent's sampled flag.
    pub sampled: bool,
    /// The parent's trace state.
    pub trace_state: &'a TraceState,
}

struct AlwaysOn;

impl RootSampler for AlwaysOn {
    fn sample(&self, _trace_id: TraceId) -> Decision {
        Decision {
            sampled: true,
            trace_state: TraceState::NONE,
        }
    }
}

struct AlwaysOff;

impl RootSampler for AlwaysOff {
    fn sample(&self, _trace_id: TraceId) -> Decision {
        Decision {
            sampled: false,
            trace_state: TraceState::NONE,
        }
    }
}

struct Probability(Threshold);

impl RootSampler for Probability {
    fn sample(&self, trace_id: TraceId) -> Decision {
        let sampled = randomness(trace_id) >= self.0.get();
        // A root has no trace state to merge with: `ot` holds only the threshold.
        let trace_state = match self.0.th() {
            Some(th) if sampled => TraceState::NONE
                .insert("ot", ["th:", &th].concat())
                .unwrap_or_default(),
            _ => TraceState::NONE,
        };
        Decision {
            sampled,
            trace_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_id(low56: u64) -> TraceId {
        TraceId::from(0xabcd_0000_0000_0000_0000_0000_0000_0000_u128 | u128::from(low56))
    }

    #[test]
    fn a_root_is_kept_exactly_when_its_randomness_reaches_the_threshold() {
        let half = Sampler::probability(Threshold::from_parts_per_million(500_000));
        let at = half.decide(trace_id(1 << 55), None);
        assert!(at.sampled, "R == T is kept");
        assert_eq!(at.trace_state.header(), "ot=th:8");
        let below = half.decide(trace_id((1 << 55) - 1), None);
        assert!(!below.sampled, "R == T - 1 is dropped");
        assert_eq!(below.trace_state.header(), "");
        let always = Sampler::probability(Threshold::ALWAYS);
        assert!(
            always.decide(trace_id(0), None).sampled,
            "T = 0 keeps R = 0"
        );
        let never = Sampler::probability(Threshold::from_parts_per_million(0));
        assert!(
            !never.decide(trace_id((1 << 56) - 1), None).sampled,
            "T = 2^56 keeps nothing"
        );
    }

    #[test]
    fn always_on_and_off_decide_roots_without_touching_the_trace_state() {
        let on = Sampler::always_on().decide(trace_id(0), None);
        assert!(on.sampled);
        assert_eq!(on.trace_state, TraceState::NONE);
        assert!(
            !Sampler::always_off()
                .decide(trace_id(u64::MAX >> 8), None)
                .sampled
        );
    }

    #[test]
    fn a_parent_decides_for_its_children_whatever_the_root_sampler() {
        let state = TraceState::from_key_value([("vendor", "v")]).expect("valid");
        for sampler in [Sampler::always_on(), Sampler::always_off()] {
            for sampled in [true, false] {
                let parent = Parent {
                    sampled,
                    trace_state: &state,
                };
                let decision = sampler.decide(trace_id(0), Some(parent));
                assert_eq!(decision.sampled, sampled);
                assert_eq!(decision.trace_state.header(), "vendor=v");
            }
        }
    }
}
