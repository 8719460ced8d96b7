//! W3C Trace Context and Baggage on HTTP headers, with a strict `traceparent`/`tracestate` parser.
//!
//! The SDK's `TraceContextPropagator` is lenient: it accepts a 31-hex-digit trace id, a 15-hex-digit
//! parent id, versions `0` and `000`, flags `1`; it reads only the first of duplicated headers and
//! keeps more than 32 `tracestate` members. This module follows the processing model of W3C Trace
//! Context Level 2 (<https://www.w3.org/TR/trace-context-2/>) instead:
//!
//! - an invalid `traceparent`, or more than one `traceparent` header, starts a new trace, and the
//!   `tracestate` is dropped with it;
//! - several `tracestate` headers are joined into one list; more than 32 members or a malformed
//!   member discards the whole `tracestate`; a duplicated key keeps its first member (the list is
//!   inherited; the Level 2 test suite accepts one of the duplicates being dropped);
//! - a `tracestate` key follows the current grammar (Level 2, §3.3.2.2.1 "Key", `#key`), `@`
//!   included anywhere after the first character, up to 256 characters;
//! - a version above `00` (but not `ff`) is parsed by the version-00 rules, ignoring what follows
//!   the flags after a `-`;
//! - the sampled (`0x01`) and random (`0x02`) flags are kept, other bits cleared, and the random
//!   flag goes out again on every `traceparent` of the trace (Level 2, "Random Trace ID Flag",
//!   `#random-trace-id-flag`: a participant that continues a trace propagates it).
//!
//! The SDK's span context cannot hold all of that: its sampler drops the random flag with an
//! unsampled parent, and its `TraceState` checks keys by the older `tenant@system` grammar. So
//! [`extract`] also keeps what came in ([`Inbound`]) in the context, and [`traceparent`] and
//! [`inject`] write it back for spans of the same trace.

use axum::http::{HeaderMap, HeaderValue};
use opentelemetry::{
    Context,
    baggage::BaggageExt,
    propagation::TextMapPropagator,
    trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::BaggagePropagator;
use trace_context::RANDOM;
pub use trace_context::{parse_traceparent, parse_tracestate};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// What the incoming headers said of their trace, as received: kept in the request's context so
/// that outgoing headers of the same trace carry it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    trace_id: TraceId,
    /// The random flag was set.
    random: bool,
    /// The `tracestate` list, validated and joined (empty when there was none).
    tracestate: String,
}

/// The remote parent and baggage carried by `headers`, on top of an empty context.
pub fn extract(headers: &HeaderMap) -> Context {
    let cx =
        BaggagePropagator::new().extract_with_context(&Context::new(), &HeaderExtractor(headers));
    match extract_inbound(headers) {
        Some((remote, inbound)) => cx.with_remote_span_context(remote).with_value(inbound),
        None => cx,
    }
}

/// Writes `traceparent`, `tracestate` and `baggage` for the span and baggage of `cx`.
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    let span = cx.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        if let Ok(value) = HeaderValue::from_str(&traceparent(cx)) {
            headers.insert(TRACEPARENT, value);
        }
        let state = match inbound(cx) {
            // This server never changes the list: what came in goes on, as it came.
            Some(inbound) => inbound.tracestate.clone(),
            None => span_context.trace_state().header(),
        };
        if let Ok(value) = HeaderValue::from_str(&state)
            && !state.is_empty()
        {
            headers.insert(TRACESTATE, value);
        }
    }
    if !cx.baggage().is_empty() {
        BaggagePropagator::new().inject_context(cx, &mut HeaderInjector(headers));
    }
}

/// The version-00 `traceparent` of the span of `cx` (also the format of `traceresponse`), with the
/// random flag of its trace as it came in.
pub fn traceparent(cx: &Context) -> String {
    let span = cx.span();
    let span_context = span.span_context();
    let random = inbound(cx).is_some_and(|inbound| inbound.random);
    let flags = span_context.trace_flags().to_u8() | if random { RANDOM } else { 0 };
    trace_context::traceparent(span_context.trace_id(), span_context.span_id(), flags)
}

/// What came in for the trace of `cx`'s span, if its trace came in with the request.
fn inbound(cx: &Context) -> Option<&Inbound> {
    cx.get::<Inbound>()
        .filter(|inbound| inbound.trace_id == cx.span().span_context().trace_id())
}

fn extract_inbound(headers: &HeaderMap) -> Option<(SpanContext, Inbound)> {
    let mut traceparents = headers.get_all(TRACEPARENT).iter();
    let (Some(only), None) = (traceparents.next(), traceparents.next()) else {
        return None;
    };
    let (trace_id, span_id, flags) = parse_traceparent(only.to_str().ok()?)?;
    let states: Vec<&str> = headers
        .get_all(TRACESTATE)
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<_>>()
        .unwrap_or_default();
    let joined = states.join(",");
    let members = parse_tracestate(&joined).unwrap_or_default();
    let tracestate = members
        .iter()
        .map(|(key, value)| [*key, "=", *value].concat())
        .collect::<Vec<_>>()
        .join(",");
    // Keys the SDK's older grammar refuses cannot go into its TraceState; they still go on, from
    // `Inbound`.
    let trace_state = TraceState::from_key_value(members).unwrap_or_default();
    let span_context =
        SpanContext::new(trace_id, span_id, TraceFlags::new(flags), true, trace_state);
    let inbound = Inbound {
        trace_id,
        random: flags & RANDOM != 0,
        tracestate,
    };
    Some((span_context, inbound))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The remote span context of `headers`, or `None` when a new trace must start.
    fn extract_span_context(headers: &HeaderMap) -> Option<SpanContext> {
        extract_inbound(headers).map(|(span_context, _)| span_context)
    }
    use opentelemetry::trace::SpanId;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    #[test]
    fn a_valid_traceparent_is_continued_with_its_ids_and_flags() {
        let sc = extract_span_context(&headers(&[(TRACEPARENT, VALID)])).expect("valid");
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(sc.span_id().to_string(), "b7ad6b7169203331");
        assert!(sc.is_sampled() && sc.is_remote());
    }

    #[test]
    fn the_random_flag_is_kept_and_unknown_bits_are_cleared() {
        let (.., flags) =
            parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff")
                .expect("valid");
        assert_eq!(flags, 0x03);
        let cx = extract(&headers(&[(
            TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02",
        )]));
        assert_eq!(
            traceparent(&cx),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02"
        );
    }

    /// A child span of `cx`'s remote parent, as the SDK makes it: an unsampled parent gives a
    /// non-recording span with no flags at all (the random flag included).
    fn child_of(cx: &Context, span_id: u64, flags: TraceFlags) -> Context {
        let parent = cx.span().span_context().clone();
        cx.with_remote_span_context(SpanContext::new(
            parent.trace_id(),
            SpanId::from(span_id),
            flags,
            false,
            parent.trace_state().clone(),
        ))
    }

    #[test]
    fn the_random_flag_goes_out_on_every_traceparent_of_its_trace() {
        for (incoming, sdk_flags, outgoing) in [
            ("02", TraceFlags::default(), "02"), // random, unsampled: the SDK's child has 00
            ("03", TraceFlags::SAMPLED, "03"),
            ("01", TraceFlags::SAMPLED, "01"),
        ] {
            let cx = extract(&headers(&[(
                TRACEPARENT,
                &format!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{incoming}"),
            )]));
            let child = child_of(&cx, 0x1234, sdk_flags);
            let mut out = HeaderMap::new();
            inject(&child, &mut out);
            assert_eq!(
                out[TRACEPARENT],
                format!("00-0af7651916cd43dd8448eb211c80319c-0000000000001234-{outgoing}")
            );
        }
    }

    #[test]
    fn a_new_trace_does_not_inherit_another_traces_random_flag() {
        let cx = extract(&headers(&[(
            TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02",
        )]));
        let other = cx.with_remote_span_context(SpanContext::new(
            TraceId::from(7_u128),
            SpanId::from(8_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ));
        assert!(traceparent(&other).ends_with("-01"));
    }

    #[test]
    fn a_duplicated_traceparent_starts_a_new_trace() {
        assert!(
            extract_span_context(&headers(&[(TRACEPARENT, VALID), (TRACEPARENT, VALID)])).is_none()
        );
    }

    #[test]
    fn several_tracestate_headers_are_joined_in_order() {
        let sc = extract_span_context(&headers(&[
            (TRACEPARENT, VALID),
            (TRACESTATE, "congo=t61rcWkgMzE"),
            (TRACESTATE, "rojo=00f067aa0ba902b7, vendor@sys=x"),
        ]))
        .expect("valid");
        assert_eq!(
            sc.trace_state().header(),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,vendor@sys=x"
        );
    }

    #[test]
    fn tracestate_over_32_members_or_malformed_is_discarded() {
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tracestate(&many.join(",")).is_none());
        assert!(parse_tracestate(&many[..32].join(",")).is_some());
        for bad in [
            "Foo=1",
            "foo",
            "foo=a=b",
            "foo=caf\u{e9}",
            "@foo=1",
            "_foo=1",
        ] {
            assert!(parse_tracestate(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_duplicated_tracestate_key_keeps_its_first_member() {
        assert_eq!(parse_tracestate("foo=1,foo=1"), Some(vec![("foo", "1")]));
        assert_eq!(
            parse_tracestate("foo=1,bar=2,foo=2"),
            Some(vec![("foo", "1"), ("bar", "2")])
        );
        let cx = extract(&headers(&[
            (TRACEPARENT, VALID),
            (TRACESTATE, "foo=1"),
            (TRACESTATE, "foo=1"),
        ]));
        let mut out = HeaderMap::new();
        inject(&cx, &mut out);
        assert_eq!(out[TRACESTATE], "foo=1", "inherited, one duplicate dropped");
    }

    #[test]
    fn tracestate_keys_follow_the_current_grammar() {
        let z256 = "z".repeat(256);
        let tenant_vendor = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        for good in [
            "foo@=1",
            "foo@@bar=1",
            "foo@bar@baz=1",
            "1foo=x",
            "a*b/c_d-e=1",
            &format!("{z256}=1"),
            &format!("{tenant_vendor}=1"),
        ] {
            assert!(parse_tracestate(good).is_some(), "{good}");
            let cx = extract(&headers(&[(TRACEPARENT, VALID), (TRACESTATE, good)]));
            let mut out = HeaderMap::new();
            inject(&cx, &mut out);
            assert_eq!(out[TRACESTATE], good, "carried on as it came");
        }
        let z257 = "z".repeat(257);
        assert!(
            parse_tracestate(&format!("{z257}=1")).is_none(),
            "257 characters"
        );
    }

    #[test]
    fn an_invalid_traceparent_drops_tracestate_too() {
        let cx = extract(&headers(&[
            (TRACEPARENT, "00-xyz"),
            (TRACESTATE, "congo=t61rcWkgMzE"),
        ]));
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn inject_writes_what_extract_reads() {
        let cx = extract(&headers(&[
            (TRACEPARENT, VALID),
            (TRACESTATE, "congo=t61rcWkgMzE"),
            ("baggage", "session.id=abc123"),
        ]));
        let mut out = HeaderMap::new();
        inject(&cx, &mut out);
        assert_eq!(out[TRACEPARENT], VALID);
        assert_eq!(out[TRACESTATE], "congo=t61rcWkgMzE");
        assert_eq!(out["baggage"], "session.id=abc123");
    }
}
