//! The sampler: parent-based (SDK specification, "ParentBased"), with always-on, always-off or
//! consistent probability sampling for roots, all in integers.
//!
//! Probability sampling follows "TraceState: Probability Sampling" (specification, trace/
//! tracestate-probability-sampling.md): a span is kept when its 56-bit randomness value `R` is at
//! least the rejection threshold `T`, where `T = (1 - p) * 2^56`. `R` is the trace state's `ot=rv:`
//! value when there is one, else the trace id's last 7 bytes (W3C Trace Context Level 2,
//! "Randomness of trace-id": ours come from `crypto.getRandomValues`, and the root says so with the
//! `random` flag). A sampled root records `T` as `ot=th:…` in its trace state so that later stages
//! know the probability it was sampled with. No float is parsed, formatted or compared here.

use opentelemetry::trace::{TraceId, TraceState};

/// 2^56: the number of randomness values, and the threshold that rejects everything.
const MAX_THRESHOLD: u64 = 1 << 56;

/// A rejection threshold of consistent probability sampling: out of 2^56 traces, how many are
/// dropped. 0 keeps every trace; 2^56 keeps none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(u64);

impl Threshold {
    /// Keeps every trace (`ot=th:0`).
    pub const ALWAYS: Threshold = Threshold(0);

    /// The threshold itself (`T`, at most 2^56), or `None` above 2^56.
    pub const fn new(threshold: u64) -> Option<Self> {
        if threshold <= MAX_THRESHOLD {
            Some(Self(threshold))
        } else {
            None
        }
    }

    /// Keeps `parts_per_million` traces in a million (at most 1,000,000): `OTEL_TRACES_SAMPLER_ARG`
    /// as an integer. `T = 2^56 - floor(ppm * 2^56 / 10^6)`, computed exactly.
    pub const fn from_parts_per_million(parts_per_million: u32) -> Self {
        let ppm = if parts_per_million > 1_000_000 {
            1_000_000
        } else {
            parts_per_million
        } as u128;
        let kept = (ppm * MAX_THRESHOLD as u128) / 1_000_000;
        Self(MAX_THRESHOLD - kept as u64)
    }

    /// `T`.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The `th` value of the trace state: `T` as 14 lowercase hex digits, trailing zeros removed
    /// (`0` for zero). `None` for 2^56, which has no encoding (nothing is sampled with it).
    pub fn th(self) -> Option<String> {
        if self.0 >= MAX_THRESHOLD {
            return None;
        }
        let mut digits: Vec<u8> = (0..14)
            .rev()
            .map(|i| b"0123456789abcdef"[((self.0 >> (i * 4)) & 0xf) as usize])
            .collect();
        while digits.len() > 1 && digits.last() == Some(&b'0') {
            digits.pop();
        }
        String::from_utf8(digits).ok()
    }

    /// A `th` value back as a threshold: 1 to 14 hex digits, the missing ones zeros.
    pub fn from_th(th: &str) -> Option<Self> {
        let hex = hex56(th, false)?;
        Some(Self(hex))
    }
}

/// How roots are sampled; spans with a parent follow the parent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sampler {
    /// Every root is sampled (the default, as the specification's default `ParentBased(AlwaysOn)`).
    #[default]
    AlwaysOn,
    /// No root is sampled: nothing is recorded unless a remote parent was sampled.
    AlwaysOff,
    /// Roots are sampled by consistent probability sampling with this rejection threshold.
    Probability(Threshold),
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

impl Sampler {
    /// The decision for a span of `trace_id` under `parent` (none for a root). SDK specification,
    /// "ParentBased": with a parent, local or remote, the parent's sampled flag decides (the
    /// default delegates); without one, this sampler.
    pub fn decide(&self, trace_id: TraceId, parent: Option<Parent<'_>>) -> Decision {
        match parent {
            Some(parent) => Decision {
                sampled: parent.sampled,
                trace_state: parent_trace_state(trace_id, parent),
            },
            None => self.root(trace_id),
        }
    }

    fn root(&self, trace_id: TraceId) -> Decision {
        match self {
            Sampler::AlwaysOn => Decision {
                sampled: true,
                trace_state: TraceState::NONE,
            },
            Sampler::AlwaysOff => Decision {
                sampled: false,
                trace_state: TraceState::NONE,
            },
            Sampler::Probability(threshold) => {
                let sampled = randomness(trace_id, &TraceState::NONE) >= threshold.0;
                let trace_state = match threshold.th() {
                    Some(th) if sampled => with_ot(&TraceState::NONE, "th", Some(&th)),
                    _ => TraceState::NONE,
                };
                Decision {
                    sampled,
                    trace_state,
                }
            }
        }
    }
}

/// The parent's trace state, carried on. "Parent-based threshold": a sampled parent's `th` that
/// its randomness contradicts (`R < T`) is erased, not propagated.
fn parent_trace_state(trace_id: TraceId, parent: Parent<'_>) -> TraceState {
    let threshold = ot_value(parent.trace_state, "th").and_then(Threshold::from_th);
    match threshold {
        Some(t) if parent.sampled && randomness(trace_id, parent.trace_state) < t.0 => {
            with_ot(parent.trace_state, "th", None)
        }
        _ => parent.trace_state.clone(),
    }
}

/// `R`: the explicit randomness `ot=rv:` (14 hex digits) when the trace state has it, else the
/// trace id's least significant 56 bits.
fn randomness(trace_id: TraceId, trace_state: &TraceState) -> u64 {
    ot_value(trace_state, "rv")
        .and_then(|rv| hex56(rv, true))
        .unwrap_or_else(|| {
            let bytes = trace_id.to_bytes();
            bytes[9..]
                .iter()
                .fold(0_u64, |r, byte| r << 8 | u64::from(*byte))
        })
}

/// The value of sub-key `key` in the trace state's `ot` entry (`ot=th:8;rv:…`), tracestate
/// handling, "Pre-defined OpenTelemetry sub-keys".
fn ot_value<'a>(trace_state: &'a TraceState, key: &str) -> Option<&'a str> {
    trace_state
        .get("ot")?
        .split(';')
        .find_map(|member| member.strip_prefix(key)?.strip_prefix(':'))
}

/// `trace_state` with the `ot` sub-key `key` set to `value` (or removed for `None`), the other
/// sub-keys kept in order; the `ot` entry moves to the front, as a changed entry must (W3C,
/// "Mutating the tracestate field"). Left unchanged when the result would not be valid.
fn with_ot(trace_state: &TraceState, key: &str, value: Option<&str>) -> TraceState {
    let mut members: Vec<String> = trace_state
        .get("ot")
        .into_iter()
        .flat_map(|ot| ot.split(';'))
        .filter(|m| !m.is_empty() && m.split(':').next() != Some(key))
        .map(str::to_owned)
        .collect();
    if let Some(value) = value {
        members.insert(0, [key, ":", value].concat());
    }
    let changed = if members.is_empty() {
        trace_state.delete("ot")
    } else {
        trace_state.insert("ot", members.join(";"))
    };
    changed.unwrap_or_else(|_| trace_state.clone())
}

/// 1 to 14 lowercase hex digits as the high digits of a 56-bit value (`exact`: all 14 needed).
fn hex56(text: &str, exact: bool) -> Option<u64> {
    if text.is_empty() || text.len() > 14 || (exact && text.len() != 14) {
        return None;
    }
    let mut value = 0_u64;
    for byte in text.bytes() {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return None,
        };
        value = value << 4 | u64::from(digit);
    }
    Some(value << (4 * (14 - text.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_id(low56: u64) -> TraceId {
        TraceId::from(0xabcd_0000_0000_0000_0000_0000_0000_0000_u128 | u128::from(low56))
    }

    #[test]
    fn parts_per_million_give_the_specifications_thresholds() {
        assert_eq!(
            Threshold::from_parts_per_million(1_000_000),
            Threshold::ALWAYS
        );
        assert_eq!(Threshold::from_parts_per_million(500_000).get(), 1 << 55);
        assert_eq!(Threshold::from_parts_per_million(0).get(), MAX_THRESHOLD);
        assert_eq!(
            Threshold::from_parts_per_million(7_000_000).get(),
            0,
            "clamped"
        );
        // The specification's example: 1 % is 0xfd70a3d70a3d71 before rounding to 5 digits.
        assert_eq!(
            Threshold::from_parts_per_million(10_000).get(),
            MAX_THRESHOLD - MAX_THRESHOLD / 100
        );
    }

    #[test]
    fn th_drops_trailing_zeros_and_reads_back() {
        assert_eq!(Threshold::ALWAYS.th().as_deref(), Some("0"));
        assert_eq!(Threshold(1 << 55).th().as_deref(), Some("8"));
        assert_eq!(Threshold(0xfd70a4 << 32).th().as_deref(), Some("fd70a4"));
        assert_eq!(
            Threshold(MAX_THRESHOLD - 1).th().as_deref(),
            Some("ffffffffffffff")
        );
        assert_eq!(Threshold(MAX_THRESHOLD).th(), None);
        assert_eq!(
            Threshold::from_th("fd70a4"),
            Some(Threshold(0xfd70a4 << 32))
        );
        assert_eq!(Threshold::from_th("8"), Some(Threshold(1 << 55)));
        assert_eq!(Threshold::from_th(""), None);
        assert_eq!(Threshold::from_th("FF"), None, "lowercase only");
        assert_eq!(Threshold::from_th("123456789abcdef"), None, "15 digits");
        assert_eq!(Threshold::new(MAX_THRESHOLD + 1), None);
    }

    #[test]
    fn a_root_is_kept_exactly_when_its_randomness_reaches_the_threshold() {
        let half = Sampler::Probability(Threshold(1 << 55));
        let at = half.decide(trace_id(1 << 55), None);
        assert!(at.sampled, "R == T is kept");
        assert_eq!(at.trace_state.header(), "ot=th:8");
        let below = half.decide(trace_id((1 << 55) - 1), None);
        assert!(!below.sampled, "R == T - 1 is dropped");
        assert_eq!(below.trace_state.header(), "");
        let always = Sampler::Probability(Threshold::ALWAYS);
        assert!(
            always.decide(trace_id(0), None).sampled,
            "T = 0 keeps R = 0"
        );
        let never = Sampler::Probability(Threshold(MAX_THRESHOLD));
        assert!(
            !never.decide(trace_id(MAX_THRESHOLD - 1), None).sampled,
            "T = 2^56 keeps nothing"
        );
    }

    #[test]
    fn an_explicit_randomness_value_overrides_the_trace_id() {
        let state = TraceState::from_key_value([("ot", "rv:ffffffffffffff")]).expect("valid");
        assert_eq!(randomness(trace_id(0), &state), MAX_THRESHOLD - 1);
        let bad = TraceState::from_key_value([("ot", "rv:ff")]).expect("valid");
        assert_eq!(randomness(trace_id(5), &bad), 5, "rv must have 14 digits");
    }

    #[test]
    fn always_on_and_off_decide_roots_without_touching_the_trace_state() {
        let on = Sampler::AlwaysOn.decide(trace_id(0), None);
        assert!(on.sampled);
        assert_eq!(on.trace_state, TraceState::NONE);
        assert!(
            !Sampler::AlwaysOff
                .decide(trace_id(u64::MAX >> 8), None)
                .sampled
        );
    }

    #[test]
    fn a_parent_decides_for_its_children_whatever_the_root_sampler() {
        let state = TraceState::from_key_value([("vendor", "v")]).expect("valid");
        for sampler in [Sampler::AlwaysOn, Sampler::AlwaysOff] {
            for sampled in [true, false] {
                let parent = Parent {
                    sampled,
                    trace_state: &state,
                };
                let decision = sampler.decide(trace_id(0), Some(parent));
                assert_eq!(decision.sampled, sampled, "{sampler:?}");
                assert_eq!(decision.trace_state.header(), "vendor=v");
            }
        }
    }

    #[test]
    fn a_sampled_parents_threshold_is_kept_when_consistent_and_erased_when_not() {
        let state = TraceState::from_key_value([("ot", "th:8;rv:00000000000001"), ("v", "1")])
            .expect("valid");
        let parent = Parent {
            sampled: true,
            trace_state: &state,
        };
        // rv = 1 < th = 2^55: the parent could not have been sampled with that threshold.
        let erased = Sampler::AlwaysOn.decide(trace_id(u64::MAX >> 8), Some(parent));
        assert_eq!(erased.trace_state.header(), "ot=rv:00000000000001,v=1");
        let consistent = TraceState::from_key_value([("ot", "th:8")]).expect("valid");
        let kept = Sampler::AlwaysOn.decide(
            trace_id(1 << 55),
            Some(Parent {
                sampled: true,
                trace_state: &consistent,
            }),
        );
        assert_eq!(kept.trace_state.header(), "ot=th:8");
    }
}
