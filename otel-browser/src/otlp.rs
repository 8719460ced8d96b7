//! OTLP encoding: a batch of finished spans as the protobuf body of `POST /v1/traces`.
//!
//! A small writer for the few messages an exporter sends (`ExportTraceServiceRequest` down to
//! `AnyValue`), written by hand because `opentelemetry-proto` + `prost` build a full message tree
//! first and cost the page tens of kilobytes. The wire format is the one in
//! `opentelemetry/proto/trace/v1/trace.proto` (OTLP 1.x); the tests decode this writer's output with
//! `opentelemetry-proto`, which is the proof that the two agree.
//!
//! Proto3 rules followed here, as prost does them: a scalar or string field equal to its default is
//! not written, a set message field is written even when empty, and a member of a `oneof`
//! (`AnyValue`) is written even when it holds its default.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{Array, InstrumentationScope, KeyValue, Value, trace::SpanKind, trace::Status};
use opentelemetry_sdk::{Resource, trace::SpanData};

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// `spans` with `resource` as an OTLP `ExportTraceServiceRequest`, protobuf-encoded: one
/// `ResourceSpans`, and one `ScopeSpans` per instrumentation scope, in order of first appearance.
pub fn encode(spans: &[SpanData], resource: &Resource) -> Vec<u8> {
    let mut scopes: Vec<&InstrumentationScope> = Vec::new();
    for span in spans {
        if !scopes
            .iter()
            .any(|s| same_scope(s, &span.instrumentation_scope))
        {
            scopes.push(&span.instrumentation_scope);
        }
    }
    // A span with its attributes takes a few hundred bytes.
    request(resource, 512 + spans.len() * 384, |w| {
        for scope in scopes {
            w.scope_spans(scope, |w| {
                for span in spans
                    .iter()
                    .filter(|s| same_scope(&s.instrumentation_scope, scope))
                {
                    w.span_entry(span);
                }
            });
        }
    })
}

/// Appends `span` to `out` as one entry of `ScopeSpans.spans`: the form in which [`EncodedBatch`]
/// keeps spans. An exporter can encode each span on the thread that ends it, while its data is
/// still in that thread's cache, and hold bytes rather than `SpanData` until the batch is sent.
pub fn encode_span(out: &mut Vec<u8>, span: &SpanData) {
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

    /// The batch with `resource` as the protobuf body of `POST /v1/traces`.
    pub fn to_request(&self, resource: &Resource) -> Vec<u8> {
        let size: usize = self.scopes.iter().map(|(_, spans)| spans.len()).sum();
        request(resource, 512 + size, |w| {
            for (scope, spans) in &self.scopes {
                w.scope_spans(scope, |w| w.buf.extend_from_slice(spans));
            }
        })
    }
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
        w.message(1, |w| {
            for (key, value) in resource.iter() {
                w.key_value(1, key.as_str(), value);
            }
        });
        scope_spans(w);
        w.string(3, resource.schema_url().unwrap_or_default());
    });
    w.buf
}

/// Whether two scopes are the same. `InstrumentationScope`'s own `==` sorts the attributes of
/// both sides to compare them, and that sort costs the page ~10 KB; scopes come from the same few
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
    fn uint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.tag(field, VARINT);
            self.varint(value);
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn fixed64(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.tag(field, I64);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn fixed32(&mut self, field: u32, value: u32) {
        if value != 0 {
            self.tag(field, I32);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    fn time(&mut self, field: u32, time: SystemTime) {
        let nanos = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
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
    fn span_entry(&mut self, span: &SpanData) {
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
    fn span(&mut self, span: &SpanData) {
        let context = &span.span_context;
        self.bytes(1, &context.trace_id().to_bytes());
        self.bytes(2, &context.span_id().to_bytes());
        self.string(3, &context.trace_state().header());
        if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
            self.bytes(4, &span.parent_span_id.to_bytes());
        }
        self.string(5, &span.name);
        self.uint(6, span_kind(&span.span_kind));
        self.time(7, span.start_time);
        self.time(8, span.end_time);
        self.attributes(9, &span.attributes);
        self.uint(10, u64::from(span.dropped_attributes_count));
        for event in span.events.iter() {
            // Span.Event: time_unix_nano = 1, name = 2, attributes = 3, dropped = 4.
            self.message(11, |w| {
                w.time(1, event.timestamp);
                w.string(2, &event.name);
                w.attributes(3, &event.attributes);
                w.uint(4, u64::from(event.dropped_attributes_count));
            });
        }
        self.uint(12, u64::from(span.events.dropped_count));
        for link in span.links.iter() {
            // Span.Link: trace_id = 1, span_id = 2, trace_state = 3, attributes = 4, dropped = 5,
            // flags = 6.
            let linked = &link.span_context;
            self.message(13, |w| {
                w.bytes(1, &linked.trace_id().to_bytes());
                w.bytes(2, &linked.span_id().to_bytes());
                w.string(3, &linked.trace_state().header());
                w.attributes(4, &link.attributes);
                w.uint(5, u64::from(link.dropped_attributes_count));
                w.fixed32(6, flags(linked.trace_flags().to_u8(), linked.is_remote()));
            });
        }
        self.uint(14, u64::from(span.links.dropped_count));
        // Status: message = 2, code = 3 (UNSET 0, OK 1, ERROR 2).
        self.message(15, |w| match &span.status {
            Status::Unset => {}
            Status::Ok => w.uint(3, 1),
            Status::Error { description } => {
                w.string(2, description);
                w.uint(3, 2);
            }
        });
        self.fixed32(
            16,
            flags(context.trace_flags().to_u8(), span.parent_span_is_remote),
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
        trace::{Event, Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_proto::tonic::{
        collector::trace::v1::ExportTraceServiceRequest,
        common::v1::{AnyValue, any_value},
        trace::v1::span::SpanKind as ProtoKind,
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;
    use std::{borrow::Cow, time::Duration};

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

    /// A span using every field the writer knows.
    fn full_span(scope: &InstrumentationScope) -> SpanData {
        let mut events = SpanEvents::default();
        events.events.push(Event::new(
            "exception",
            at(1_700_000_000_500_000_000),
            vec![KeyValue::new("exception.message", "boom")],
            1,
        ));
        events.dropped_count = 2;
        let mut links = SpanLinks::default();
        links.links.push(Link::new(
            context(7, 8, true),
            vec![KeyValue::new("link.kind", "follows")],
            3,
        ));
        links.dropped_count = 4;
        SpanData {
            span_context: context(
                0x4bf92f3577b34da6a3ce929d0e0e4736,
                0x00f067aa0ba902b7,
                false,
            ),
            parent_span_id: SpanId::from(0x1122334455667788),
            parent_span_is_remote: true,
            span_kind: SpanKind::Client,
            name: Cow::Borrowed("POST"),
            start_time: at(1_700_000_000_123_456_789),
            end_time: at(1_700_000_001_000_000_000),
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
            dropped_attributes_count: 5,
            events,
            links,
            status: Status::error("HTTP 502"),
            instrumentation_scope: scope.clone(),
        }
    }

    fn decode(body: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(body).expect("valid OTLP protobuf")
    }

    fn value(v: &Option<AnyValue>) -> Option<&any_value::Value> {
        v.as_ref()?.value.as_ref()
    }

    #[test]
    fn every_span_field_decodes_with_opentelemetry_proto() {
        let scope = InstrumentationScope::builder("checkout-web")
            .with_version("1.0.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.37.0")
            .with_attributes([KeyValue::new("scope.attr", 1_i64)])
            .build();
        let resource = Resource::builder_empty()
            .with_attributes([KeyValue::new("service.name", "web")])
            .build();
        let request = decode(&encode(&[full_span(&scope)], &resource));

        let resource_spans = &request.resource_spans[0];
        let attrs = &resource_spans
            .resource
            .as_ref()
            .expect("resource")
            .attributes;
        assert_eq!(attrs[0].key, "service.name");
        assert_eq!(
            value(&attrs[0].value),
            Some(&any_value::Value::StringValue("web".into()))
        );
        let scope_spans = &resource_spans.scope_spans[0];
        let decoded_scope = scope_spans.scope.as_ref().expect("scope");
        assert_eq!(decoded_scope.name, "checkout-web");
        assert_eq!(decoded_scope.version, "1.0.0");
        assert_eq!(decoded_scope.attributes[0].key, "scope.attr");
        assert_eq!(
            scope_spans.schema_url,
            "https://opentelemetry.io/schemas/1.37.0"
        );

        let span = &scope_spans.spans[0];
        assert_eq!(
            span.trace_id,
            0x4bf92f3577b34da6a3ce929d0e0e4736_u128.to_be_bytes()
        );
        assert_eq!(span.span_id, 0x00f067aa0ba902b7_u64.to_be_bytes());
        assert_eq!(span.parent_span_id, 0x1122334455667788_u64.to_be_bytes());
        assert_eq!(span.trace_state, "vendor=v1");
        assert_eq!(span.flags, 0x01 | 0x100 | 0x200);
        assert_eq!(span.name, "POST");
        assert_eq!(span.kind, ProtoKind::Client as i32);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(span.end_time_unix_nano, 1_700_000_001_000_000_000);
        assert_eq!(span.dropped_attributes_count, 5);
        assert_eq!(span.dropped_events_count, 2);
        assert_eq!(span.dropped_links_count, 4);

        let attr = |key: &str| {
            let kv = span.attributes.iter().find(|kv| kv.key == key).expect(key);
            value(&kv.value).cloned()
        };
        use any_value::Value as V;
        assert_eq!(attr("s"), Some(V::StringValue("text".into())));
        assert_eq!(
            attr("empty"),
            Some(V::StringValue(String::new())),
            "oneof: sent"
        );
        assert_eq!(attr("b"), Some(V::BoolValue(false)), "oneof: sent");
        assert_eq!(attr("i"), Some(V::IntValue(-5)));
        assert_eq!(attr("zero"), Some(V::IntValue(0)), "oneof: sent");
        assert_eq!(attr("f"), Some(V::DoubleValue(0.25)));
        let array = |key: &str| -> Vec<V> {
            match attr(key) {
                Some(V::ArrayValue(a)) => a.values.iter().filter_map(|v| v.value.clone()).collect(),
                other => panic!("{key}: {other:?}"),
            }
        };
        assert_eq!(array("ints"), [V::IntValue(1), V::IntValue(2)]);
        assert_eq!(
            array("strs"),
            [V::StringValue("a".into()), V::StringValue("b".into())]
        );
        assert_eq!(array("bools"), [V::BoolValue(true)]);
        assert_eq!(array("floats"), [V::DoubleValue(1.5)]);

        let event = &span.events[0];
        assert_eq!(event.name, "exception");
        assert_eq!(event.time_unix_nano, 1_700_000_000_500_000_000);
        assert_eq!(event.attributes[0].key, "exception.message");
        assert_eq!(event.dropped_attributes_count, 1);

        let link = &span.links[0];
        assert_eq!(link.trace_id, 7_u128.to_be_bytes());
        assert_eq!(link.span_id, 8_u64.to_be_bytes());
        assert_eq!(link.trace_state, "vendor=v1");
        assert_eq!(link.attributes[0].key, "link.kind");
        assert_eq!(link.dropped_attributes_count, 3);
        assert_eq!(link.flags, 0x01 | 0x100 | 0x200);

        let status = span.status.as_ref().expect("status");
        assert_eq!(status.code, 2);
        assert_eq!(status.message, "HTTP 502");
    }

    #[test]
    fn the_writer_matches_the_sdks_own_transform_byte_for_byte() {
        use opentelemetry_proto::transform::{
            common::tonic::ResourceAttributesWithSchema,
            trace::tonic::group_spans_by_resource_and_scope,
        };
        let scope = InstrumentationScope::builder("s").with_version("2").build();
        let mut root = full_span(&scope);
        root.parent_span_id = SpanId::INVALID;
        root.parent_span_is_remote = false;
        root.status = Status::Unset;
        root.span_kind = SpanKind::Internal;
        let spans = vec![root, full_span(&scope)];
        let resource = Resource::builder_empty()
            .with_attributes([KeyValue::new("service.name", "web")])
            .build();
        let reference = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans.clone(),
                &ResourceAttributesWithSchema::from(&resource),
            ),
        };
        assert_eq!(encode(&spans, &resource), reference.encode_to_vec());
    }

    #[test]
    fn spans_of_two_scopes_go_in_two_scope_spans_in_order() {
        let (a, b) = (
            InstrumentationScope::builder("a").build(),
            InstrumentationScope::builder("b").build(),
        );
        let spans = [full_span(&a), full_span(&b), full_span(&a)];
        let request = decode(&encode(&spans, &Resource::builder_empty().build()));
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
        let spans = [full_span(&a), full_span(&b), full_span(&a)];
        let resource = Resource::builder_empty()
            .with_attributes([KeyValue::new("service.name", "server")])
            .build();
        let mut batch = EncodedBatch::default();
        let mut scratch = Vec::new();
        for span in &spans {
            scratch.clear();
            encode_span(&mut scratch, span);
            batch.push(&span.instrumentation_scope, &scratch);
        }
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.to_request(&resource), encode(&spans, &resource));
    }

    #[test]
    fn long_messages_get_multi_byte_lengths() {
        let scope = InstrumentationScope::builder("s").build();
        let mut span = full_span(&scope);
        span.name = Cow::Owned("n".repeat(20_000));
        let request = decode(&encode(&[span], &Resource::builder_empty().build()));
        assert_eq!(
            request.resource_spans[0].scope_spans[0].spans[0].name.len(),
            20_000
        );
    }
}
