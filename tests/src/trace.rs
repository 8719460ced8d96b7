//! Spans as the tests see them: flattened from OTLP, wherever they came from.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{ResourceSpans, TracesData, status::StatusCode},
};

pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// One span, with its service and everything the assertions read.
#[derive(Debug, Clone)]
pub struct Span {
    /// `service.name` of its resource.
    pub service: String,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's span id, empty for a root.
    pub parent_id: String,
    /// The span name.
    pub name: String,
    /// SERVER, CLIENT, INTERNAL, …
    pub kind: SpanKind,
    /// Start, in nanoseconds since the epoch.
    pub start_ns: u64,
    /// End, in nanoseconds since the epoch.
    pub end_ns: u64,
    /// Whether the status is Error.
    pub is_error: bool,
    /// Attributes, values as strings.
    pub attributes: BTreeMap<String, String>,
}

impl Span {
    /// The spans of an export request.
    pub fn from_request(request: ExportTraceServiceRequest) -> Vec<Self> {
        Self::from_resource_spans(request.resource_spans)
    }

    /// The spans of Jaeger's `GET /api/v3/traces/{id}` answer (`{"result": <OTLP JSON TracesData>}`).
    pub fn from_jaeger_json(answer: &serde_json::Value) -> Vec<Self> {
        let data: TracesData = serde_json::from_value(answer["result"].clone())
            .expect("Jaeger answers OTLP JSON TracesData");
        Self::from_resource_spans(data.resource_spans)
    }

    fn from_resource_spans(resource_spans: Vec<ResourceSpans>) -> Vec<Self> {
        let mut spans = Vec::new();
        for resource_spans in resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Self {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_id: hex(&span.parent_span_id),
                        kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                        start_ns: span.start_time_unix_nano,
                        end_ns: span.end_time_unix_nano,
                        is_error: span
                            .status
                            .is_some_and(|s| s.code == StatusCode::Error as i32),
                        attributes: attributes(&span.attributes),
                        name: span.name,
                    });
                }
            }
        }
        spans
    }

    /// The attribute `key`, or `""`.
    pub fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(value).unwrap_or_default(),
            )
        })
        .collect()
}

fn value(any: &AnyValue) -> String {
    match &any.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::ArrayValue(a)) => {
            format!(
                "[{}]",
                a.values.iter().map(value).collect::<Vec<_>>().join(",")
            )
        }
        _ => String::new(),
    }
}

/// The spans of one trace, with the lookups the checks need.
#[derive(Debug)]
pub struct Trace {
    /// Every span of the trace.
    pub spans: Vec<Span>,
}

impl Trace {
    /// The spans of `spans` in trace `trace_id`.
    pub fn of(trace_id: &str, spans: &[Span]) -> Self {
        Self {
            spans: spans
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect(),
        }
    }

    /// The one span of `service` named `name`; panics unless there is exactly one.
    pub fn one(&self, service: &str, name: &str) -> &Span {
        let found: Vec<&Span> = self
            .spans
            .iter()
            .filter(|s| s.service == service && s.name == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {service} span {name:?}, found {}: {}",
            found.len(),
            self.outline()
        );
        found[0]
    }

    /// Whether a span named `name` of `service` is there.
    pub fn has(&self, service: &str, name: &str) -> bool {
        self.spans
            .iter()
            .any(|s| s.service == service && s.name == name)
    }

    /// The parent of `span`, if it is in the trace.
    pub fn parent_of(&self, span: &Span) -> Option<&Span> {
        self.spans.iter().find(|s| s.span_id == span.parent_id)
    }

    /// Whether `span` descends from `ancestor`.
    pub fn descends_from(&self, span: &Span, ancestor: &Span) -> bool {
        let mut current = self.parent_of(span);
        while let Some(parent) = current {
            if parent.span_id == ancestor.span_id {
                return true;
            }
            current = self.parent_of(parent);
        }
        false
    }

    /// One line per span, indented by depth, for failure messages.
    pub fn outline(&self) -> String {
        let mut lines = Vec::new();
        let roots = self.spans.iter().filter(|s| self.parent_of(s).is_none());
        fn walk<'a>(trace: &'a Trace, span: &'a Span, depth: usize, lines: &mut Vec<String>) {
            lines.push(format!(
                "{}{} [{}] {:?}",
                "  ".repeat(depth),
                span.name,
                span.service,
                span.kind
            ));
            for child in trace.spans.iter().filter(|s| s.parent_id == span.span_id) {
                walk(trace, child, depth + 1, lines);
            }
        }
        for root in roots {
            walk(self, root, 0, &mut lines);
        }
        format!("\n{}", lines.join("\n"))
    }
}
