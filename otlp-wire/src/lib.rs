//! OTLP encoding: finished spans as the protobuf body of `POST /v1/traces`.
//!
//! A small writer for the few messages an exporter sends (`ExportTraceServiceRequest` down to
//! `AnyValue`), written by hand because `opentelemetry-proto` + `prost` build a full message tree
//! first: that cost a browser page tens of kilobytes, and the server 5–8× the CPU per span
//! (BENCHMARKS.md). The wire format is the one in `opentelemetry/proto/trace/v1/trace.proto`
//! (OTLP 1.x); the tests encode the same spans as `opentelemetry-proto` messages with prost and
//! compare the bytes, which is the proof that the two agree.
//!
//! It takes plain data, [`Span`], borrowed from whatever SDK made the span (the browser's own in
//! `otel-browser`, `opentelemetry_sdk`'s `SpanData` in the server), and the API crate's types
//! for values, events, links and scopes.
//!
//! Proto3 rules followed here, as prost does them: a scalar or string field equal to its default is
//! not written, a set message field is written even when empty, and a member of a `oneof`
//! (`AnyValue`) is written even when it holds its default.

use std::{
    borrow::Cow,
    time::{SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    Array, InstrumentationScope, KeyValue, Value,
    trace::{Event, Link, SpanContext, SpanId, SpanKind, Status},
};

/// The content type of an encoded request.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// One finished span, as the writer needs it: borrowed from the SDK's own record.
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    /// Trace id, span id, flags and trace state.
    pub context: &'a SpanContext,
    /// The parent's span id, [`SpanId::INVALID`] for a root.
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process.
    pub parent_is_remote: bool,
    /// The span's kind.
    pub kind: &'a SpanKind,
    /// The span's name.
    pub name: &'a str,
    /// When it started.
    pub start_time: SystemTime,
    /// When it ended.
    pub end_time: SystemTime,
    /// Its attributes, written in this order (`Span.attributes`, field 9).
    pub attributes: &'a [KeyValue],
    /// Attributes not kept (span limits).
    pub dropped_attributes_count: u32,
    /// Its events, each with its own time and attributes (`Span.events`, field 11).
    pub events: &'a [Event],
    /// Events not kept.
    pub dropped_events_count: u32,
    /// Its links, each with the linked span's context (`Span.links`, field 13).
    pub links: &'a [Link],
    /// Links not kept.
    pub dropped_links_count: u32,
    /// Its status (`Span.status`, field 15: an empty message when Unset, as prost writes it).
    pub status: &'a Status,
    /// The instrumentation scope of the tracer that made it.
    pub scope: &'a InstrumentationScope,
}

/// The resource every span of a request is sent with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    /// `service.name` and the rest.
    pub attributes: Vec<KeyValue>,
    /// The resource's schema URL, if it has one.
    pub schema_url: Option<Cow<'static, str>>,
}

/// `spans` with `resource` as an OTLP `ExportTraceServiceRequest`, protobuf-encoded: one
/// `ResourceSpans`, and one `ScopeSpans` per instrumentation scope, in order of first appearance.
pub fn encode(spans: &[Span<'_>], resource: &Resource) -> Vec<u8> {
    let mut scopes: Vec<&InstrumentationScope> = Vec::new();
    for span in spans {
        if !scopes.iter().any(|s| same_scope(s, span.scope)) {
            scopes.push(span.scope);
        }
    }
    // A span with its attributes takes a few hundred bytes.
    request(resource, 512 + spans.len() * 384, |w| {
        for scope in scopes {
            w.scope_spans(scope, |w| {
                for span in spans.iter().filter(|s| same_scope(s.scope, scope)) {
                    w.span_entry(span);
                }
            });
        }
    })
}

/// Appends `span` to `out` as one entry of `ScopeSpans.spans`: the form in which [`EncodedBatch`]
/// keeps spans. An exporter can encode each span when it ends, while its data is still in cache,
/// and hold bytes rather than span records until the batch is sent.
pub fn encode_span(out: &mut Vec<u8>, span: &Span<'_>) {
    let mut w = Writer {
        buf: std::mem::take(out),
    };
    w.span_entry(span);
    *out = w.buf;
}

/// Spans encoded by [`encode_span`], grouped by instrumentation scope in order of first
/// appearance, until [`to_request`](Self::to_request) makes them one `ExportTraceServiceRequest`
/// (the same bytes [`encode`] makes of the same spans).
#[derive(Debug, Default)]
pub struct EncodedBatch {
    scopes: Vec<(InstrumentationScope, Vec<u8>)>,
    len: usize,
}

impl EncodedBatch {
    /// Adds one span of `scope`, as [`encode_span`] encoded it.
    pub fn push(&mut self, scope: &InstrumentationScope, encoded: &[u8]) {
        match self.scopes.iter_mut().find(|(s, _)| same_scope(s, scope)) {
            Some((_, spans)) => spans.extend_from_slice(encoded),
            None => self.scopes.push((scope.clone(), encoded.to_vec())),
        }
        self.len += 1;
    }

    /// How many spans the batch holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no span.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes the encoded spans take (the request adds the resource and scopes).
    pub fn encoded_len(&self) -> usize {
        self.scopes.iter().map(|(_, spans)| spans.len()).sum()
    }

    /// The batch with `resource` as the protobuf body of `POST /v1/traces`.
    pub fn to_request(&self, resource: &Resource) -> Vec<u8> {
        encode_scopes(
            resource,
            self.scopes
                .iter()
                .map(|(scope, spans)| (scope, spans.as_slice())),
        )
    }
}

/// An `ExportTraceServiceRequest` of spans already encoded by [`encode_span`] and grouped by
/// scope by the caller: one `ScopeSpans` per item, in order. (For an exporter that groups spans
/// its own way; [`EncodedBatch`] is one.)
pub fn encode_scopes<'a>(
    resource: &Resource,
    scopes: impl Iterator<Item = (&'a InstrumentationScope, &'a [u8])> + Clone,
) -> Vec<u8> {
    let size: usize = scopes.clone().map(|(_, spans)| spans.len()).sum();
    request(resource, 512 + size, |w| {
        for (scope, spans) in scopes {
            w.scope_spans(scope, |w| w.buf.extend_from_slice(spans));
        }
    })
}

/// An `ExportTraceServiceRequest` holding one `ResourceSpans` for `resource`, whose `ScopeSpans`
/// `scope_spans` writes.
fn request(resource: &Resource, capacity: usize, scope_spans: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer {
        buf: Vec::with_capacity(capacity),
    };
    // ExportTraceServiceRequest.resource_spans = 1; a batch takes 16 KiB to 2 MiB: three bytes.
    w.message_sized(1, 3, |w| {
        // ResourceSpans.resource = 1
        w.message(1, |w| w.attributes(1, &resource.attributes));
        scope_spans(w);
        w.string(3, resource.schema_url.as_deref().unwrap_or_default());
    });
    w.buf
}

/// Whether two scopes are the same. `InstrumentationScope`'s own `==` sorts the attributes of
/// both sides to compare them, and that sort costs a page ~10 KB; scopes come from the same few
/// tracers, so attributes in the same order is the case that matters (at worst, one scope is sent
/// as two `ScopeSpans`, which OTLP allows).
fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    a.name() == b.name()
        && a.version() == b.version()
        && a.schema_url() == b.schema_url()
        && a.attributes().eq(b.attributes())
}

/// Protobuf wire types (protobuf encoding guide, "Message Structure").
const VARINT: u32 = 0;
const I64: u32 = 1;
const LEN: u32 = 2;
const I32: u32 = 5;

/// `Span.flags`: the W3C trace flags in bits 0–7, and whether the parent was remote
/// (`SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`, `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK` in trace.proto).
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// The protobuf writer. Natively its small methods are inlined (the server encodes every span);
/// on wasm32 the ones every field calls (`tag`, `uint`, `bytes`, `fixed*`, `time`, `open`,
/// `close`) are kept out of line, so a page carries one copy of each rather than one per field
/// (BENCHMARKS.md, "Page size").
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn tag(&mut self, field: u32, wire_type: u32) {
        self.varint(u64::from(field << 3 | wire_type));
    }

    /// A nested message: its fields are written by `body`, after one byte kept for its length
    /// (most nested messages, attributes and values, are under 128 bytes).
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        self.message_sized(field, 1, body);
    }

    /// A nested message whose length is expected to take `expected` varint bytes: that many are
    /// kept in front of its body and filled in after. When the length needs another number of
    /// bytes (protobuf wants the shortest varint), the body is moved once to make it fit.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn message_sized(&mut self, field: u32, expected: usize, body: impl FnOnce(&mut Self)) {
        let at = self.open(field, expected);
        body(self);
        self.close(at, expected);
    }

    /// The tag of a nested message and `expected` bytes kept for its length; returns where they
    /// start. (Not generic, so the page has one copy, not one per message closure.)
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn open(&mut self, field: u32, expected: usize) -> usize {
        self.tag(field, LEN);
        let at = self.buf.len();
        self.buf.resize(at + expected, 0);
        at
    }

    /// Writes the length of the message body that follows the `expected` bytes at `at`.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn close(&mut self, at: usize, expected: usize) {
        let end = self.buf.len();
        let len = end - at - expected;
        let mut needed = 1;
        while len >> (7 * needed) != 0 {
            needed += 1;
        }
        if needed != expected {
            self.buf.resize(end.max(end + needed - expected), 0);
            self.buf.copy_within(at + expected..end, at + needed);
            self.buf.truncate(end + needed - expected);
        }
        let mut value = len as u64;
        for byte in &mut self.buf[at..at + needed] {
            *byte = (value as u8) | 0x80;
            value >>= 7;
        }
        self.buf[at + needed - 1] &= 0x7f;
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn bytes_always(&mut self, field: u32, bytes: &[u8]) {
        self.tag(field, LEN);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.bytes_always(field, bytes);
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn string(&mut self, field: u32, text: &str) {
        self.bytes(field, text.as_bytes());
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn uint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.tag(field, VARINT);
            self.varint(value);
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn fixed64(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.tag(field, I64);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn fixed32(&mut self, field: u32, value: u32) {
        if value != 0 {
            self.tag(field, I32);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn time(&mut self, field: u32, time: SystemTime) {
        // In u64, saturating (the year 2554 and after): `as_nanos` is a u128.
        let nanos = time.duration_since(UNIX_EPOCH).map_or(0, |d| {
            (d.as_secs().saturating_mul(1_000_000_000)).saturating_add(u64::from(d.subsec_nanos()))
        });
        self.fixed64(field, nanos);
    }

    /// `ResourceSpans.scope_spans` (field 2) for `scope`, with the spans `spans` writes.
    fn scope_spans(&mut self, scope: &InstrumentationScope, spans: impl FnOnce(&mut Self)) {
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
    fn span_entry(&mut self, span: &Span<'_>) {
        self.message_sized(2, 2, |w| w.span(span));
    }

    /// `InstrumentationScope`: name = 1, version = 2, attributes = 3.
    fn scope(&mut self, scope: &InstrumentationScope) {
        self.string(1, scope.name());
        self.string(2, scope.version().unwrap_or_default());
        for kv in scope.attributes() {
            self.key_value(3, kv.key.as_str(), &kv.value);
        }
    }

    /// `KeyValue` (key = 1, value = 2) as field `field` of the enclosing message.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn key_value(&mut self, field: u32, key: &str, value: &Value) {
        self.message(field, |w| {
            w.string(1, key);
            w.message(2, |w| w.any_value(value));
        });
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn attributes(&mut self, field: u32, attributes: &[KeyValue]) {
        for kv in attributes {
            self.key_value(field, kv.key.as_str(), &kv.value);
        }
    }

    /// The fields of an `AnyValue`: string = 1, bool = 2, int = 3, double = 4, array = 5.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn any_value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.bytes_always(1, s.as_str().as_bytes()),
            Value::Bool(b) => self.scalar_bool(*b),
            Value::I64(i) => self.scalar_int(*i),
            Value::F64(f) => self.scalar_double(*f),
            Value::Array(array) => self.message(5, |w| match array {
                // ArrayValue.values = 1
                Array::Bool(values) => values
                    .iter()
                    .for_each(|v| w.message(1, |w| w.scalar_bool(*v))),
                Array::I64(values) => values
                    .iter()
                    .for_each(|v| w.message(1, |w| w.scalar_int(*v))),
                Array::F64(values) => {
                    values
                        .iter()
                        .for_each(|v| w.message(1, |w| w.scalar_double(*v)));
                }
                Array::String(values) => values
                    .iter()
                    .for_each(|v| w.message(1, |w| w.bytes_always(1, v.as_str().as_bytes()))),
                // A kind of array this version does not know: sent as an empty array.
                _ => {}
            }),
            // A kind of value this version does not know: sent as an empty `AnyValue` (no value).
            _ => {}
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn scalar_bool(&mut self, value: bool) {
        self.tag(2, VARINT);
        self.varint(u64::from(value));
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn scalar_int(&mut self, value: i64) {
        self.tag(3, VARINT);
        // int64 is sent as the two's-complement u64 (ten bytes when negative).
        self.varint(value as u64);
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn scalar_double(&mut self, value: f64) {
        self.tag(4, I64);
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    /// `Span`, with the field numbers of trace.proto.
    fn span(&mut self, span: &Span<'_>) {
        let context = span.context;
        self.bytes(1, &context.trace_id().to_bytes());
        self.bytes(2, &context.span_id().to_bytes());
        self.string(3, &trace_context::tracestate(context.trace_state()));
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
                w.string(3, &trace_context::tracestate(linked.trace_state()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{
        StringValue,
        trace::{SpanContext, TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_proto::tonic::{
        collector::trace::v1::ExportTraceServiceRequest,
        common::v1::{self as proto_common, AnyValue, any_value},
        resource::v1::Resource as ProtoResource,
        trace::v1::{self as proto, span::SpanKind as ProtoKind},
    };
    use prost::Message;
    use std::time::Duration;

    fn at(nanos: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(nanos)
    }

    fn context(trace: u128, span: u64, remote: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            remote,
            TraceState::from_key_value([("vendor", "v1")]).expect("valid"),
        )
    }

    /// The data of a span using every field the writer knows, owned, as an SDK holds it.
    struct Record {
        context: SpanContext,
        parent_span_id: SpanId,
        parent_is_remote: bool,
        kind: SpanKind,
        name: String,
        attributes: Vec<KeyValue>,
        events: Vec<Event>,
        links: Vec<Link>,
        status: Status,
        scope: InstrumentationScope,
    }

    impl Record {
        fn full(scope: &InstrumentationScope) -> Self {
            Self {
                context: context(
                    0x4bf92f3577b34da6a3ce929d0e0e4736,
                    0x00f067aa0ba902b7,
                    false,
                ),
                parent_span_id: SpanId::from(0x1122334455667788),
                parent_is_remote: true,
                kind: SpanKind::Client,
                name: "POST".into(),
                attributes: vec![
                    KeyValue::new("s", "text"),
                    KeyValue::new("empty", ""),
                    KeyValue::new("b", false),
                    KeyValue::new("i", -5_i64),
                    KeyValue::new("zero", 0_i64),
                    KeyValue::new("f", 0.25_f64),
                    KeyValue::new("ints", Value::Array(vec![1_i64, 2].into())),
                    KeyValue::new(
                        "strs",
                        Value::Array(vec![StringValue::from("a"), "b".into()].into()),
                    ),
                    KeyValue::new("bools", Value::Array(vec![true].into())),
                    KeyValue::new("floats", Value::Array(vec![1.5_f64].into())),
                    // Lengths that need a second varint byte, and the extremes of the integers.
                    KeyValue::new("long", "x".repeat(200)),
                    KeyValue::new("k".repeat(130), "v"),
                    KeyValue::new("", "no key"),
                    KeyValue::new("max", i64::MAX),
                    KeyValue::new("min", i64::MIN),
                    KeyValue::new("127", 127_i64),
                    KeyValue::new("128", 128_i64),
                ],
                events: vec![Event::new(
                    "exception",
                    at(1_700_000_000_500_000_000),
                    vec![KeyValue::new("exception.message", "boom")],
                    1,
                )],
                links: vec![
                    Link::new(
                        context(7, 8, true),
                        vec![KeyValue::new("link.kind", "follows")],
                        3,
                    ),
                    // Trace states of two entries and of none.
                    Link::new(
                        SpanContext::new(
                            TraceId::from(9),
                            SpanId::from(10),
                            TraceFlags::default(),
                            false,
                            TraceState::from_key_value([("a", "1"), ("congo", "t61rcWkgMzE")])
                                .expect("valid"),
                        ),
                        Vec::new(),
                        0,
                    ),
                    Link::new(
                        SpanContext::new(
                            TraceId::from(11),
                            SpanId::from(12),
                            TraceFlags::SAMPLED,
                            false,
                            TraceState::NONE,
                        ),
                        Vec::new(),
                        0,
                    ),
                ],
                status: Status::error("HTTP 502"),
                scope: scope.clone(),
            }
        }

        fn root(scope: &InstrumentationScope) -> Self {
            Self {
                parent_span_id: SpanId::INVALID,
                parent_is_remote: false,
                status: Status::Unset,
                kind: SpanKind::Internal,
                ..Self::full(scope)
            }
        }

        fn span(&self) -> Span<'_> {
            Span {
                context: &self.context,
                parent_span_id: self.parent_span_id,
                parent_is_remote: self.parent_is_remote,
                kind: &self.kind,
                name: &self.name,
                start_time: at(1_700_000_000_123_456_789),
                end_time: at(1_700_000_001_000_000_000),
                attributes: &self.attributes,
                dropped_attributes_count: 5,
                events: &self.events,
                dropped_events_count: 2,
                links: &self.links,
                dropped_links_count: 4,
                status: &self.status,
                scope: &self.scope,
            }
        }
    }

    fn resource(service: &'static str) -> Resource {
        Resource {
            attributes: vec![KeyValue::new("service.name", service)],
            schema_url: None,
        }
    }

    fn decode(body: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(body).expect("valid OTLP protobuf")
    }

    fn value(v: &Option<AnyValue>) -> Option<&any_value::Value> {
        v.as_ref()?.value.as_ref()
    }

    /// The reference: `value` as opentelemetry-proto's `AnyValue`.
    fn proto_value(value: &Value) -> AnyValue {
        use any_value::Value as V;
        let array = |values: Vec<V>| {
            V::ArrayValue(proto_common::ArrayValue {
                values: values
                    .into_iter()
                    .map(|v| AnyValue { value: Some(v) })
                    .collect(),
            })
        };
        let value = match value {
            Value::Bool(b) => V::BoolValue(*b),
            Value::I64(i) => V::IntValue(*i),
            Value::F64(f) => V::DoubleValue(*f),
            Value::String(s) => V::StringValue(s.to_string()),
            Value::Array(Array::Bool(a)) => array(a.iter().map(|b| V::BoolValue(*b)).collect()),
            Value::Array(Array::I64(a)) => array(a.iter().map(|i| V::IntValue(*i)).collect()),
            Value::Array(Array::F64(a)) => array(a.iter().map(|f| V::DoubleValue(*f)).collect()),
            Value::Array(Array::String(a)) => {
                array(a.iter().map(|s| V::StringValue(s.to_string())).collect())
            }
            other => panic!("not in the test data: {other:?}"),
        };
        AnyValue { value: Some(value) }
    }

    fn proto_attributes(attributes: &[KeyValue]) -> Vec<proto_common::KeyValue> {
        attributes
            .iter()
            .map(|kv| proto_common::KeyValue {
                key: kv.key.to_string(),
                value: Some(proto_value(&kv.value)),
                ..Default::default()
            })
            .collect()
    }

    /// The reference: `span` as opentelemetry-proto's `Span`, field by field from trace.proto.
    fn proto_span(span: &Span<'_>) -> proto::Span {
        let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).expect("after").as_nanos() as u64;
        let flags = |f: TraceFlags, remote: bool| {
            u32::from(f.to_u8()) | 0x100 | if remote { 0x200 } else { 0 }
        };
        proto::Span {
            trace_id: span.context.trace_id().to_bytes().to_vec(),
            span_id: span.context.span_id().to_bytes().to_vec(),
            trace_state: span.context.trace_state().header(),
            parent_span_id: if span.parent_span_id == SpanId::INVALID {
                Vec::new()
            } else {
                span.parent_span_id.to_bytes().to_vec()
            },
            flags: flags(span.context.trace_flags(), span.parent_is_remote),
            name: span.name.to_owned(),
            kind: match span.kind {
                SpanKind::Internal => ProtoKind::Internal,
                SpanKind::Server => ProtoKind::Server,
                SpanKind::Client => ProtoKind::Client,
                SpanKind::Producer => ProtoKind::Producer,
                SpanKind::Consumer => ProtoKind::Consumer,
            } as i32,
            start_time_unix_nano: nanos(span.start_time),
            end_time_unix_nano: nanos(span.end_time),
            attributes: proto_attributes(span.attributes),
            dropped_attributes_count: span.dropped_attributes_count,
            events: span
                .events
                .iter()
                .map(|e| proto::span::Event {
                    time_unix_nano: nanos(e.timestamp),
                    name: e.name.to_string(),
                    attributes: proto_attributes(&e.attributes),
                    dropped_attributes_count: e.dropped_attributes_count,
                })
                .collect(),
            dropped_events_count: span.dropped_events_count,
            links: span
                .links
                .iter()
                .map(|l| proto::span::Link {
                    trace_id: l.span_context.trace_id().to_bytes().to_vec(),
                    span_id: l.span_context.span_id().to_bytes().to_vec(),
                    trace_state: l.span_context.trace_state().header(),
                    attributes: proto_attributes(&l.attributes),
                    dropped_attributes_count: l.dropped_attributes_count,
                    flags: flags(l.span_context.trace_flags(), l.span_context.is_remote()),
                })
                .collect(),
            dropped_links_count: span.dropped_links_count,
            status: Some(match span.status {
                Status::Unset => proto::Status::default(),
                Status::Ok => proto::Status {
                    message: String::new(),
                    code: 1,
                },
                Status::Error { description } => proto::Status {
                    message: description.to_string(),
                    code: 2,
                },
            }),
        }
    }

    /// The reference request: one `ResourceSpans`, the spans of each scope in one `ScopeSpans`.
    fn reference(spans: &[Span<'_>], resource: &Resource) -> ExportTraceServiceRequest {
        let mut scope_spans: Vec<proto::ScopeSpans> = Vec::new();
        for span in spans {
            let scope = proto_common::InstrumentationScope {
                name: span.scope.name().to_owned(),
                version: span.scope.version().unwrap_or_default().to_owned(),
                attributes: proto_attributes(&span.scope.attributes().cloned().collect::<Vec<_>>()),
                dropped_attributes_count: 0,
            };
            let schema_url = span.scope.schema_url().unwrap_or_default().to_owned();
            match scope_spans
                .iter_mut()
                .find(|s| s.scope.as_ref() == Some(&scope) && s.schema_url == schema_url)
            {
                Some(entry) => entry.spans.push(proto_span(span)),
                None => scope_spans.push(proto::ScopeSpans {
                    scope: Some(scope),
                    spans: vec![proto_span(span)],
                    schema_url,
                }),
            }
        }
        ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(ProtoResource {
                    attributes: proto_attributes(&resource.attributes),
                    ..Default::default()
                }),
                scope_spans,
                schema_url: resource
                    .schema_url
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned(),
            }],
        }
    }

    #[test]
    fn the_writer_matches_opentelemetry_proto_byte_for_byte() {
        let scope = InstrumentationScope::builder("checkout-web")
            .with_version("1.0.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.37.0")
            .with_attributes([KeyValue::new("scope.attr", 1_i64)])
            .build();
        let other = InstrumentationScope::builder("other").build();
        let records = [
            Record::root(&scope),
            Record::full(&scope),
            Record::full(&other),
        ];
        let spans: Vec<Span<'_>> = records.iter().map(Record::span).collect();
        let resource = Resource {
            schema_url: Some("https://opentelemetry.io/schemas/1.37.0".into()),
            ..resource("web")
        };
        assert_eq!(
            encode(&spans, &resource),
            reference(&spans, &resource).encode_to_vec()
        );
    }

    #[test]
    fn every_span_field_decodes_with_opentelemetry_proto() {
        let scope = InstrumentationScope::builder("s").build();
        let record = Record::full(&scope);
        let request = decode(&encode(&[record.span()], &resource("web")));
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            span.trace_id,
            0x4bf92f3577b34da6a3ce929d0e0e4736_u128.to_be_bytes()
        );
        assert_eq!(span.parent_span_id, 0x1122334455667788_u64.to_be_bytes());
        assert_eq!(span.trace_state, "vendor=v1");
        assert_eq!(span.flags, 0x01 | 0x100 | 0x200);
        assert_eq!(span.kind, ProtoKind::Client as i32);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(
            (
                span.dropped_attributes_count,
                span.dropped_events_count,
                span.dropped_links_count
            ),
            (5, 2, 4)
        );
        let attr = |key: &str| {
            let kv = span.attributes.iter().find(|kv| kv.key == key).expect(key);
            value(&kv.value).cloned()
        };
        use any_value::Value as V;
        assert_eq!(
            attr("empty"),
            Some(V::StringValue(String::new())),
            "oneof: sent"
        );
        assert_eq!(attr("b"), Some(V::BoolValue(false)), "oneof: sent");
        assert_eq!(attr("zero"), Some(V::IntValue(0)), "oneof: sent");
        assert_eq!(attr("min"), Some(V::IntValue(i64::MIN)));
        assert_eq!(span.events[0].dropped_attributes_count, 1);
        assert_eq!(span.links[0].flags, 0x01 | 0x100 | 0x200);
        let status = span.status.as_ref().expect("status");
        assert_eq!((status.code, status.message.as_str()), (2, "HTTP 502"));
    }

    #[test]
    fn spans_of_two_scopes_go_in_two_scope_spans_in_order() {
        let (a, b) = (
            InstrumentationScope::builder("a").build(),
            InstrumentationScope::builder("b").build(),
        );
        let records = [Record::full(&a), Record::full(&b), Record::full(&a)];
        let spans: Vec<Span<'_>> = records.iter().map(Record::span).collect();
        let request = decode(&encode(&spans, &Resource::default()));
        let scopes = &request.resource_spans[0].scope_spans;
        let names: Vec<_> = scopes
            .iter()
            .map(|s| {
                (
                    s.scope.as_ref().expect("scope").name.as_str(),
                    s.spans.len(),
                )
            })
            .collect();
        assert_eq!(names, [("a", 2), ("b", 1)]);
    }

    #[test]
    fn spans_encoded_one_at_a_time_make_the_same_request() {
        let (a, b) = (
            InstrumentationScope::builder("a").with_version("1").build(),
            InstrumentationScope::builder("b").build(),
        );
        let records = [Record::full(&a), Record::full(&b), Record::full(&a)];
        let spans: Vec<Span<'_>> = records.iter().map(Record::span).collect();
        let resource = resource("server");
        let mut batch = EncodedBatch::default();
        let mut scratch = Vec::new();
        for span in &spans {
            scratch.clear();
            encode_span(&mut scratch, span);
            batch.push(span.scope, &scratch);
        }
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.to_request(&resource), encode(&spans, &resource));
    }

    #[test]
    fn long_messages_get_multi_byte_lengths() {
        let scope = InstrumentationScope::builder("s").build();
        let mut record = Record::full(&scope);
        record.name = "n".repeat(20_000);
        let request = decode(&encode(&[record.span()], &Resource::default()));
        assert_eq!(
            request.resource_spans[0].scope_spans[0].spans[0].name.len(),
            20_000
        );
    }
}
