//! W3C Trace Context and W3C Baggage as `opentelemetry` propagators, without `opentelemetry_sdk`
//! (whose `TraceContextPropagator` and `BaggagePropagator` the page cannot take).
//!
//! [`W3c`] is the pair OpenTelemetry JS registers by default, and what the instrumented fetch
//! ([`crate::fetch`]) injects unless told to use the global propagators. To make it the global
//! one (for code of the page's own that injects through `opentelemetry::global`):
//!
//! ```no_run
//! opentelemetry::global::set_text_map_propagator(otel_browser::propagation::W3c);
//! ```
//!
//! `W3c` is one type rather than the API's `TextMapCompositePropagator` of the two: the
//! composite collects its fields through a `HashSet` (hashing, random keys) the page would ship
//! for nothing.
//!
//! Extraction reads by the strict rules of the `trace-context` crate, the same the server uses.

use std::sync::LazyLock;

use opentelemetry::{
    Context,
    baggage::{Baggage, BaggageExt as _},
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator},
    trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState},
};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
const BAGGAGE: &str = "baggage";

/// Trace Context and Baggage, in that order: the default of OpenTelemetry's SDKs.
#[derive(Debug, Default, Clone, Copy)]
pub struct W3c;

impl TextMapPropagator for W3c {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        TraceContextPropagator.inject_context(cx, injector);
        BaggagePropagator.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let cx = TraceContextPropagator.extract_with_context(cx, extractor);
        BaggagePropagator.extract_with_context(&cx, extractor)
    }

    fn fields(&self) -> text_map_propagator::FieldIter<'_> {
        text_map_propagator::FieldIter::new(&*W3C_FIELDS)
    }
}

/// `traceparent` and `tracestate` (W3C Trace Context Level 2).
#[derive(Debug, Default, Clone, Copy)]
pub struct TraceContextPropagator;

impl TextMapPropagator for TraceContextPropagator {
    /// Writes the span's `traceparent` (with its sampled and random flags) and, when it has one,
    /// its `tracestate`; a context without a valid span writes nothing.
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        injector.set(TRACEPARENT, trace_context::traceparent_of(span_context));
        // Written by trace-context, not `TraceState::header` (its `format!` is 4.6 KB).
        let state = trace_context::tracestate(span_context.trace_state());
        if !state.is_empty() {
            injector.set(TRACESTATE, state);
        }
    }

    /// A valid `traceparent` becomes the context's remote span, with its `tracestate` when the
    /// list is valid (Level 2, §4.3 "Processing Model": an invalid `traceparent` drops both).
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some((trace_id, span_id, flags)) = extractor
            .get(TRACEPARENT)
            .and_then(trace_context::parse_traceparent)
        else {
            return cx.clone();
        };
        let trace_state = extractor
            .get(TRACESTATE)
            .and_then(trace_context::parse_tracestate)
            .and_then(|members| TraceState::from_key_value(members).ok())
            .unwrap_or_default();
        cx.with_remote_span_context(SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::new(flags),
            true,
            trace_state,
        ))
    }

    fn fields(&self) -> text_map_propagator::FieldIter<'_> {
        text_map_propagator::FieldIter::new(&*TRACE_CONTEXT_FIELDS)
    }
}

static TRACE_CONTEXT_FIELDS: LazyLock<[String; 2]> =
    LazyLock::new(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()]);
static BAGGAGE_FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [BAGGAGE.to_owned()]);
static W3C_FIELDS: LazyLock<[String; 3]> = LazyLock::new(|| {
    [
        TRACEPARENT.to_owned(),
        TRACESTATE.to_owned(),
        BAGGAGE.to_owned(),
    ]
});

/// `baggage` (W3C Baggage): the context's entries, plus the page's `session.id` when
/// `crate::session` runs (feature `session`; so the server sees the session of every call).
#[derive(Debug, Default, Clone, Copy)]
pub struct BaggagePropagator;

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let mut header = String::new();
        // The page's own `session.id` member wins; found by walking the members, not by a lookup
        // (whose hashing the page would ship for this alone).
        #[cfg(feature = "session")]
        let mut has_session = false;
        for (key, (value, metadata)) in cx.baggage() {
            #[cfg(feature = "session")]
            {
                has_session |= key.as_str() == crate::session::SESSION_ID;
            }
            push_member(&mut header, key.as_str(), value.as_str());
            if !metadata.as_str().is_empty() {
                header.push(';');
                header.push_str(metadata.as_str());
            }
        }
        #[cfg(feature = "session")]
        if let Some(id) = crate::session::current_id().filter(|_| !has_session) {
            push_member(&mut header, crate::session::SESSION_ID, &id);
        }
        if !header.is_empty() {
            injector.set(BAGGAGE, header);
        }
    }

    /// The members of `baggage`, values percent-decoded; a member that is not `key=value` is
    /// skipped (W3C Baggage, §3.3.1 "Value": a malformed list-member is ignored).
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(header) = extractor.get(BAGGAGE) else {
            return cx.clone();
        };
        let mut baggage = Baggage::new();
        for member in header.split(',') {
            let (entry, metadata) = member.split_once(';').unwrap_or((member, ""));
            let Some((key, value)) = entry.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() {
                continue;
            }
            if let Some(value) = percent_decode(value) {
                baggage.insert_with_metadata(key.to_owned(), value, metadata.trim().to_owned());
            }
        }
        cx.with_baggage(baggage)
    }

    fn fields(&self) -> text_map_propagator::FieldIter<'_> {
        text_map_propagator::FieldIter::new(&*BAGGAGE_FIELDS)
    }
}

/// Appends `key=value` to a baggage list, the value percent-encoded where W3C Baggage's
/// `baggage-octet` does not allow it as is (§3.3.1.3 "Value"): controls, space, `"`, `,`, `;`,
/// `\`, `%` and non-ASCII.
fn push_member(header: &mut String, key: &str, value: &str) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    if !header.is_empty() {
        header.push(',');
    }
    header.push_str(key);
    header.push('=');
    for byte in value.bytes() {
        if matches!(byte, 0x21 | 0x23..=0x24 | 0x26..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
        {
            header.push(char::from(byte));
        } else {
            header.push('%');
            header.push(char::from(DIGITS[usize::from(byte >> 4)]));
            header.push(char::from(DIGITS[usize::from(byte & 0xf)]));
        }
    }
}

/// `%XX` sequences decoded; `None` when one is malformed or the result is not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut input = value.bytes();
    while let Some(byte) = input.next() {
        if byte == b'%' {
            let high = char::from(input.next()?).to_digit(16)?;
            let low = char::from(input.next()?).to_digit(16)?;
            bytes.push(u8::try_from(high * 16 + low).ok()?);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::{
        KeyValue,
        trace::{SpanId, TraceId},
    };

    use super::*;

    fn carried(cx: &Context) -> HashMap<String, String> {
        let mut headers = HashMap::new();
        W3c.inject_context(cx, &mut headers);
        headers
    }

    #[test]
    fn trace_context_goes_out_and_comes_back() {
        let state = TraceState::from_key_value([("congo", "t61rcWkgMzE")]).expect("state");
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex"),
            SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
            TraceFlags::new(trace_context::KNOWN_FLAGS),
            false,
            state,
        );
        let headers = carried(&Context::new().with_remote_span_context(sc.clone()));
        assert_eq!(
            headers["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
        );
        assert_eq!(headers["tracestate"], "congo=t61rcWkgMzE");
        let back = W3c.extract(&headers);
        let back = back.span().span_context().clone();
        assert_eq!(back.trace_id(), sc.trace_id());
        assert_eq!(back.span_id(), sc.span_id());
        assert_eq!(back.trace_flags(), sc.trace_flags());
        assert!(back.is_remote());
        assert_eq!(back.trace_state().get("congo"), Some("t61rcWkgMzE"));
    }

    #[test]
    fn the_fields_are_the_three_headers() {
        assert_eq!(
            W3c.fields().collect::<Vec<_>>(),
            ["traceparent", "tracestate", "baggage"]
        );
    }

    #[test]
    fn nothing_goes_out_without_a_span_or_baggage() {
        assert!(carried(&Context::new()).is_empty());
    }

    #[test]
    fn an_invalid_traceparent_is_a_new_trace() {
        let headers = HashMap::from([
            ("traceparent".to_owned(), "00-xyz".to_owned()),
            ("tracestate".to_owned(), "congo=1".to_owned()),
        ]);
        assert!(!W3c.extract(&headers).span().span_context().is_valid());
    }

    #[test]
    fn baggage_values_are_percent_encoded_and_decoded() {
        let cx = Context::new().with_baggage([
            KeyValue::new("plain", "abc-1.2_3"),
            KeyValue::new("odd", "a b,c;d%é"),
        ]);
        let headers = carried(&cx);
        let header = &headers["baggage"];
        assert!(header.contains("plain=abc-1.2_3"), "{header}");
        assert!(header.contains("odd=a%20b%2Cc%3Bd%25%C3%A9"), "{header}");
        let back = W3c.extract(&headers);
        assert_eq!(
            back.baggage().get("odd").map(|v| v.as_str()),
            Some("a b,c;d%é")
        );
        assert_eq!(
            back.baggage().get("plain").map(|v| v.as_str()),
            Some("abc-1.2_3")
        );
    }

    #[test]
    fn malformed_baggage_members_are_skipped() {
        let headers = HashMap::from([("baggage".to_owned(), "good=1,bad,=2,worse=%zz".to_owned())]);
        let back = W3c.extract(&headers);
        assert_eq!(back.baggage().len(), 1);
        assert_eq!(back.baggage().get("good").map(|v| v.as_str()), Some("1"));
    }
}
