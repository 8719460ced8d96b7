//! The sampler, from `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (SDK environment
//! variables, "General SDK Configuration"), with the ratio samplers made consistent.
//!
//! `traceidratio` and `parentbased_traceidratio` keep a trace by consistent probability sampling
//! ("TraceState: Probability Sampling", specification, trace/tracestate-probability-sampling.md),
//! by the rule and the numbers of the page's sampler (`trace_context::sampling`): a span is kept
//! when the trace's randomness `R` (its trace state's `ot=rv`, else the trace id's last 56 bits:
//! W3C Trace Context Level 2, "Randomness of trace-id") is at least the threshold `T`, and a kept
//! span records `T` in its trace state's `ot=th`. opentelemetry_sdk's `TraceIdRatioBased` keeps a
//! trace by other bits of its id and records nothing, so a page and a server at one ratio kept
//! different traces, and the collector's tail sampler, which reads `ot=th`, fell back to a hash of
//! its own and recorded a share that was not the one kept.
//!
//! The other samplers are the SDK's (`ParentBasedSampler` for the parent-based ones). A value the server does not know is warned about and
//! ignored, as the SDK environment variables specification asks ("Enum": "MUST generate a warning
//! and gracefully ignore the setting"; "Numeric": a ratio it cannot parse, likewise).

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanKind, TraceContextExt as _, TraceId},
};
use opentelemetry_sdk::trace::{
    ParentBasedSampler, Sampler, SamplingDecision, SamplingResult, ShouldSample,
};
use trace_context::sampling::{Threshold, randomness};

/// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name.
pub fn from_env() -> Box<dyn ShouldSample> {
    from_settings(
        std::env::var("OTEL_TRACES_SAMPLER").ok().as_deref(),
        std::env::var("OTEL_TRACES_SAMPLER_ARG").ok().as_deref(),
    )
}

fn from_settings(name: Option<&str>, arg: Option<&str>) -> Box<dyn ShouldSample> {
    // The SDK's `ParentBasedSampler`, not `Sampler::ParentBased`, which drops the trace state its
    // root sampler gives.
    let parent_based = |root: Box<dyn ShouldSample>| Box::new(ParentBasedSampler::new(root));
    match name.map(str::trim).unwrap_or_default() {
        "always_on" => Box::new(Sampler::AlwaysOn),
        "always_off" => Box::new(Sampler::AlwaysOff),
        "traceidratio" => Box::new(ConsistentRatio(ratio(arg))),
        "parentbased_always_off" => parent_based(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => parent_based(Box::new(ConsistentRatio(ratio(arg)))),
        "" | "parentbased_always_on" => parent_based(Box::new(Sampler::AlwaysOn)),
        other => {
            tracing::warn!(
                variable = "OTEL_TRACES_SAMPLER",
                value = other,
                "not a sampler this server has: ignored, the default (parentbased_always_on) is used"
            );
            parent_based(Box::new(Sampler::AlwaysOn))
        }
    }
}

/// The threshold of the ratio `arg` gives, in parts per million as the page's: 1.0 when it is
/// unset, or not a number from 0 to 1 (warned about).
fn ratio(arg: Option<&str>) -> Threshold {
    let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
        return Threshold::ALWAYS;
    };
    match arg.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => {
            // At most 1,000,000 (the range above), so the cast keeps it.
            Threshold::from_parts_per_million((ratio * 1e6).round() as u32)
        }
        _ => {
            tracing::warn!(
                variable = "OTEL_TRACES_SAMPLER_ARG",
                value = arg,
                "not a ratio from 0 to 1: ignored, the default (1.0) is used"
            );
            Threshold::ALWAYS
        }
    }
}

/// Consistent probability sampling at one threshold (the specification's `TraceIdRatioBased` as
/// the tracestate document defines it for W3C Trace Context Level 2).
#[derive(Debug, Clone)]
struct ConsistentRatio(Threshold);

impl ShouldSample for ConsistentRatio {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let inherited = parent_context
            .filter(|cx| cx.has_active_span())
            .map(|cx| cx.span().span_context().trace_state().clone())
            .unwrap_or_default();
        let ot = inherited.get("ot").unwrap_or_default().to_owned();
        let r = explicit_randomness(&ot).unwrap_or_else(|| randomness(trace_id));
        match self.0.th().filter(|_| r >= self.0.get()) {
            Some(th) => SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                // A trace state that cannot take the `ot` member (the SDK's checks) stays as it is.
                trace_state: inherited
                    .insert("ot", with_th(&ot, &th))
                    .unwrap_or(inherited),
            },
            // Not kept: its `th` (if any) would say a probability it was not kept with.
            None => SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: inherited,
            },
        }
    }
}

/// The `rv` of an `ot` value: 14 lowercase hex digits, the trace's randomness given explicitly.
fn explicit_randomness(ot: &str) -> Option<u64> {
    let rv = ot.split(';').find_map(|field| field.strip_prefix("rv:"))?;
    (rv.len() == 14
        && rv
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| u64::from_str_radix(rv, 16).ok())
    .flatten()
}

/// `ot` with its `th` set to `th`, first, its other fields kept in order.
fn with_th(ot: &str, th: &str) -> String {
    let mut fields = vec![format!("th:{th}")];
    fields.extend(
        (ot.split(';'))
            .filter(|field| !field.is_empty() && !field.starts_with("th:"))
            .map(str::to_owned),
    );
    fields.join(";")
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceState};

    use super::*;

    fn trace_id(low56: u64) -> TraceId {
        TraceId::from(0xabcd_0000_0000_0000_0000_0000_0000_0000_u128 | u128::from(low56))
    }

    fn decide(sampler: &dyn ShouldSample, parent: Option<&Context>, id: TraceId) -> SamplingResult {
        sampler.should_sample(parent, id, "span", &SpanKind::Server, &[], &[])
    }

    fn remote_parent(id: TraceId, sampled: bool, state: TraceState) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            id,
            SpanId::from(1),
            flags,
            true,
            state,
        ))
    }

    #[test]
    fn a_root_is_kept_exactly_when_its_randomness_reaches_the_threshold_and_records_it() {
        let half = from_settings(Some("traceidratio"), Some("0.5"));
        let at = decide(half.as_ref(), None, trace_id(1 << 55));
        assert_eq!(at.decision, SamplingDecision::RecordAndSample, "R == T");
        assert_eq!(at.trace_state.header(), "ot=th:8");
        let below = decide(half.as_ref(), None, trace_id((1 << 55) - 1));
        assert_eq!(below.decision, SamplingDecision::Drop, "R == T - 1");
        assert_eq!(below.trace_state.header(), "");
    }

    #[test]
    fn the_ratio_is_read_as_the_specification_says_and_a_bad_one_ignored() {
        let state = |arg: Option<&str>| {
            let sampler = from_settings(Some("traceidratio"), arg);
            decide(sampler.as_ref(), None, trace_id((1 << 56) - 1))
                .trace_state
                .header()
        };
        assert_eq!(state(None), "ot=th:0", "unset: 1.0");
        assert_eq!(state(Some("1")), "ot=th:0");
        assert_eq!(state(Some(" 0.25 ")), "ot=th:c");
        assert_eq!(state(Some("0.1")), "ot=th:e6666666666667");
        for bad in ["1.5", "-0.1", "half", "NaN"] {
            assert_eq!(state(Some(bad)), "ot=th:0", "{bad}: ignored");
        }
        let never = from_settings(Some("traceidratio"), Some("0"));
        assert_eq!(
            decide(never.as_ref(), None, trace_id((1 << 56) - 1)).decision,
            SamplingDecision::Drop,
            "0 keeps nothing"
        );
    }

    #[test]
    fn an_explicit_randomness_decides_and_the_other_fields_are_kept() {
        let sampler = from_settings(Some("traceidratio"), Some("0.5"));
        let state =
            TraceState::from_key_value([("ot", "rv:ffffffffffffff;th:c;x:1"), ("vendor", "v")])
                .expect("valid");
        // The trace id alone would be dropped (R = 0); its `rv` keeps it.
        let parent = remote_parent(trace_id(0), true, state);
        let kept = decide(sampler.as_ref(), Some(&parent), trace_id(0));
        assert_eq!(kept.decision, SamplingDecision::RecordAndSample);
        assert_eq!(
            kept.trace_state.header(),
            "ot=th:8;rv:ffffffffffffff;x:1,vendor=v"
        );
    }

    #[test]
    fn parent_based_follows_the_parent_and_samples_roots_consistently() {
        let sampler = from_settings(Some("parentbased_traceidratio"), Some("0.5"));
        let state = TraceState::from_key_value([("ot", "th:c")]).expect("valid");
        // A sampled parent is followed whatever its trace id, its state kept.
        let parent = remote_parent(trace_id(0), true, state.clone());
        let child = decide(sampler.as_ref(), Some(&parent), trace_id(0));
        assert_eq!(child.decision, SamplingDecision::RecordAndSample);
        assert_eq!(child.trace_state, state);
        let root = decide(sampler.as_ref(), None, trace_id(1 << 55));
        assert_eq!(root.trace_state.header(), "ot=th:8");
    }

    #[test]
    fn the_other_samplers_are_the_sdks_and_an_unknown_one_is_the_default() {
        for (name, sampled) in [
            (None, true),
            (Some("parentbased_always_on"), true),
            (Some("always_on"), true),
            (Some("always_off"), false),
            (Some("parentbased_always_off"), false),
            (Some("jaeger_remote"), true),
        ] {
            let sampler = from_settings(name, None);
            let result = decide(sampler.as_ref(), None, trace_id(0));
            assert_eq!(
                result.decision == SamplingDecision::RecordAndSample,
                sampled,
                "{name:?}"
            );
            assert_eq!(result.trace_state.header(), "", "{name:?}");
        }
    }
}
