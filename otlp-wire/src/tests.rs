//! The proof of wire compatibility: the same spans encoded here and as opentelemetry-proto messages
//! by prost give the same bytes, and decode to the same fields.

use super::*;
use opentelemetry::{
    Array, StringValue, Value,
    trace::{SpanContext, TraceFlags, TraceId, TraceState},
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{self as proto_common, AnyValue, any_value},
    resource::v1::Resource as ProtoResource,
    trace::v1::{self as proto, span::SpanKind as ProtoKind},
};
use prost::Message;
use std::time::{Duration, UNIX_EPOCH};

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
    let flags =
        |f: TraceFlags, remote: bool| u32::from(f.to_u8()) | 0x100 | if remote { 0x200 } else { 0 };
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

/// `(scope name, span count)` of each `ScopeSpans` of `request`, in order.
fn scope_spans_of(request: &ExportTraceServiceRequest) -> Vec<(String, usize)> {
    request.resource_spans[0]
        .scope_spans
        .iter()
        .map(|s| (s.scope.as_ref().expect("scope").name.clone(), s.spans.len()))
        .collect()
}

#[test]
fn a_batch_of_shared_scopes_makes_the_same_request_as_encode() {
    let a = Arc::new(InstrumentationScope::builder("a").with_version("1").build());
    let b = Arc::new(InstrumentationScope::builder("b").build());
    let records = [Record::full(&a), Record::full(&b), Record::root(&a)];
    let spans: Vec<Span<'_>> = records.iter().map(Record::span).collect();
    let handles = [&a, &b, &a];
    let resource = resource("web");
    let mut batch = EncodedBatch::<Arc<InstrumentationScope>>::default();
    let (mut scratch, mut encoded_len) = (Vec::new(), 0);
    for (span, scope) in spans.iter().zip(handles) {
        scratch.clear();
        encode_span(&mut scratch, span);
        batch.push(scope, &scratch);
        encoded_len += scratch.len();
    }
    assert_eq!((batch.len(), batch.encoded_len()), (3, encoded_len));
    assert_eq!(batch.to_request(&resource), encode(&spans, &resource));
}

#[test]
fn shared_scopes_are_grouped_by_pointer_not_by_value() {
    // Two tracers of equal scopes: `encode` and an owned-scope batch send one `ScopeSpans`, an
    // `Arc` batch two (OTLP allows either).
    let first = Arc::new(InstrumentationScope::builder("a").build());
    let second = Arc::new(InstrumentationScope::builder("a").build());
    let record = Record::full(&first);
    let mut encoded = Vec::new();
    encode_span(&mut encoded, &record.span());

    let mut shared = EncodedBatch::<Arc<InstrumentationScope>>::default();
    for scope in [&first, &second, &first] {
        shared.push(scope, &encoded);
    }
    let mut owned = EncodedBatch::<InstrumentationScope>::default();
    for scope in [&first, &second, &first] {
        owned.push(scope, &encoded);
    }

    let resource = Resource::default();
    assert_eq!(shared.len(), 3);
    assert_eq!(
        scope_spans_of(&decode(&shared.to_request(&resource))),
        [("a".to_owned(), 2), ("a".to_owned(), 1)]
    );
    assert_eq!(
        scope_spans_of(&decode(&owned.to_request(&resource))),
        [("a".to_owned(), 3)]
    );
    // The first span's handle is the one kept: no new `Arc` per span.
    assert_eq!(Arc::strong_count(&first), 2);
}

#[test]
fn an_owned_push_gives_the_same_request_as_a_borrowed_one() {
    let (first, second) = (
        Arc::new(InstrumentationScope::builder("a").build()),
        Arc::new(InstrumentationScope::builder("b").build()),
    );
    let mut borrowed = EncodedBatch::<Arc<InstrumentationScope>>::default();
    let mut owned = EncodedBatch::<Arc<InstrumentationScope>>::default();
    for (i, scope) in [&first, &second, &first].into_iter().enumerate() {
        let mut record = Record::full(scope);
        record.name = format!("span {i}");
        let mut encoded = Vec::new();
        encode_span(&mut encoded, &record.span());
        borrowed.push(scope, &encoded);
        owned.push_owned(Arc::clone(scope), encoded);
    }
    let resource = Resource::default();
    assert_eq!(owned.len(), 3);
    assert_eq!(owned.encoded_len(), borrowed.encoded_len());
    assert_eq!(owned.to_request(&resource), borrowed.to_request(&resource));
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

#[test]
fn times_past_u64_nanoseconds_saturate() {
    let nanos = |secs: u64, subsec: u32| {
        let mut w = crate::writer::Writer::default();
        w.time(1, UNIX_EPOCH + Duration::new(secs, subsec));
        u64::from_le_bytes(w.buf[1..].try_into().expect("8 bytes"))
    };
    // u64::MAX nanoseconds is 18,446,744,073 s and 709,551,615 ns.
    assert_eq!(nanos(18_446_744_073, 709_551_615), u64::MAX);
    assert_eq!(nanos(18_446_744_073, 709_551_614), u64::MAX - 1);
    assert_eq!(nanos(18_446_744_073, 999_999_999), u64::MAX);
    assert_eq!(nanos(18_446_744_074, 0), u64::MAX);
    assert_eq!(nanos(1_764_000_000, 5), 1_764_000_000_000_000_005);
}

#[test]
fn a_length_of_another_size_than_expected_is_written_the_same_on_wasm32() {
    // `close` moves the body in place natively; wasm32 splits it off and appends it (`reframe`).
    for expected in 1..=3 {
        for len in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut shortest = crate::writer::Writer::default();
            shortest.bytes_always(7, &body);
            let framed = |reframe: bool| {
                let mut w = crate::writer::Writer::default();
                w.buf.push(0xaa);
                let at = w.open(7, expected);
                w.buf.extend_from_slice(&body);
                if reframe {
                    w.reframe(at, expected, len);
                } else {
                    w.close(at, expected);
                }
                w.buf
            };
            let mut want = vec![0xaa];
            want.extend_from_slice(&shortest.buf);
            assert_eq!(framed(false), want, "{expected} {len}");
            assert_eq!(framed(true), want, "{expected} {len}");
        }
    }
}
