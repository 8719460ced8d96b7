//! Consistent probability sampling's numbers ("TraceState: Probability Sampling", specification,
//! trace/tracestate-probability-sampling.md), for the page's sampler (`otel-browser`) and the
//! server's, so that both keep a trace by the same rule: a span is kept when its 56-bit randomness
//! value `R` is at least the rejection threshold `T`, where `T = (1 - p) * 2^56`, and a kept span
//! records `T` as `ot=th:…`. In integers: no float is parsed, formatted or compared here.

use opentelemetry::trace::TraceId;

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
        hex56(th).map(Self)
    }
}

/// `R` from the trace id: its least significant 56 bits (W3C Trace Context Level 2, "Randomness
/// of trace-id"), for a trace whose state carries no explicit `ot=rv:`.
pub fn randomness(trace_id: TraceId) -> u64 {
    let bytes = trace_id.to_bytes();
    bytes[9..]
        .iter()
        .fold(0_u64, |r, byte| r << 8 | u64::from(*byte))
}

/// 1 to 14 lowercase hex digits as the high digits of a 56-bit value.
fn hex56(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 14 {
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
}
