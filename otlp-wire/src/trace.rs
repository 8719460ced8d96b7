//! The messages of `opentelemetry/proto/trace/v1/trace.proto`: `ScopeSpans`, and `Span` with its
//! events, links, status and flags.

use opentelemetry::{
    InstrumentationScope,
    trace::{SpanId, SpanKind, Status, TraceState},
};

use crate::{Span, writer::Writer};

/// `Span.flags`: the W3C trace flags in bits 0–7, and whether the parent was remote
/// (`SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`, `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK` in trace.proto).
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

impl Writer {
    /// `ResourceSpans.scope_spans` (field 2) for `scope`, with the spans `spans` writes.
    pub(crate) fn scope_spans(
        &mut self,
        scope: &InstrumentationScope,
        spans: impl FnOnce(&mut Self),
    ) {
        self.message_sized(2, 3, |w| {
            // ScopeSpans: scope = 1, spans = 2, schema_url = 3.
            w.message(1, |w| w.scope(scope));
            spans(w);
            w.string(3, scope.schema_url().unwrap_or_default());
        });
    }

    /// One entry of `ScopeSpans.spans` (field 2). A span takes 128 bytes to 16 KiB: a two-byte
    /// length.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn span_entry(&mut self, span: &Span<'_>) {
        self.message_sized(2, 2, |w| w.span(span));
    }

    /// A `trace_state` string field: the text of [`trace_context::tracestate`] (`key=value,…`),
    /// not written when empty, as `string` does. Written straight into the buffer, not through a
    /// `String`: 72 B gzipped less on the minimal page, which has no other use for that text (the
    /// pages that inject a `tracestate` pay 44–49 B for the two copies; BENCHMARKS.md, "Page
    /// size").
    pub(crate) fn trace_state(&mut self, field: u32, trace_state: &TraceState) {
        let mut members = trace_state.into_iter();
        let Some(mut member) = members.next() else {
            return;
        };
        let at = self.open(field, 1);
        loop {
            let (key, value) = member;
            self.buf.extend_from_slice(key.as_bytes());
            self.buf.extend_from_slice(b"=");
            self.buf.extend_from_slice(value.as_bytes());
            let Some(next) = members.next() else {
                break;
            };
            self.buf.extend_from_slice(b",");
            member = next;
        }
        self.close(at, 1);
    }

    /// `Span`, with the field numbers of trace.proto.
    pub(crate) fn span(&mut self, span: &Span<'_>) {
        let context = span.context;
        self.bytes(1, &context.trace_id().to_bytes());
        self.bytes(2, &context.span_id().to_bytes());
        self.trace_state(3, context.trace_state());
        if span.parent_span_id != SpanId::INVALID {
            self.bytes(4, &span.parent_span_id.to_bytes());
        }
        self.string(5, span.name);
        self.uint(6, span_kind(span.kind));
        self.time(7, span.start_time);
        self.time(8, span.end_time);
        self.attributes(9, span.attributes);
        self.uint(10, u64::from(span.dropped_attributes_count));
        for event in span.events {
            // Span.Event: time_unix_nano = 1, name = 2, attributes = 3, dropped = 4.
            self.message(11, |w| {
                w.time(1, event.timestamp);
                w.string(2, &event.name);
                w.attributes(3, &event.attributes);
                w.uint(4, u64::from(event.dropped_attributes_count));
            });
        }
        self.uint(12, u64::from(span.dropped_events_count));
        for link in span.links {
            // Span.Link: trace_id = 1, span_id = 2, trace_state = 3, attributes = 4, dropped = 5,
            // flags = 6.
            let linked = &link.span_context;
            self.message(13, |w| {
                w.bytes(1, &linked.trace_id().to_bytes());
                w.bytes(2, &linked.span_id().to_bytes());
                w.trace_state(3, linked.trace_state());
                w.attributes(4, &link.attributes);
                w.uint(5, u64::from(link.dropped_attributes_count));
                w.fixed32(6, flags(linked.trace_flags().to_u8(), linked.is_remote()));
            });
        }
        self.uint(14, u64::from(span.dropped_links_count));
        // Status: message = 2, code = 3 (UNSET 0, OK 1, ERROR 2).
        self.message(15, |w| match span.status {
            Status::Unset => {}
            Status::Ok => w.uint(3, 1),
            Status::Error { description } => {
                w.string(2, description);
                w.uint(3, 2);
            }
        });
        self.fixed32(
            16,
            flags(context.trace_flags().to_u8(), span.parent_is_remote),
        );
    }
}

/// `Span.SpanKind`: INTERNAL 1, SERVER 2, CLIENT 3, PRODUCER 4, CONSUMER 5.
fn span_kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn flags(trace_flags: u8, remote: bool) -> u32 {
    u32::from(trace_flags) | HAS_IS_REMOTE | if remote { IS_REMOTE } else { 0 }
}
