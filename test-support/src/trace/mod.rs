//! Spans as the tests see them: flattened from OTLP, wherever they came from.
//!
//! - [`Span::decode`]: the spans of an OTLP/HTTP protobuf body, as an SDK sends it (the browser
//!   SDK's own tests decode what its exporter encodes; the browser tests what their receiver got).
//! - [`Span::from_request`]: the spans of an export the fake collector decoded.
//! - [`Span::from_jaeger_json`]: the spans of a trace read back from Jaeger (`jaeger.rs`).
//!
//! Each span has its attributes as text by key ([`Span::attributes`], what most assertions read)
//! and, from OTLP, as sent: typed, in order, with the events' times, the links and what the limits
//! dropped ([`Span::wire`]). This module builds for wasm32 too (no tokio, no I/O): the browser
//! tests decode with it.

mod jaeger;
mod value;

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::trace::v1::{self as proto, ResourceSpans};
pub use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    trace::v1::{span::SpanKind, status::StatusCode},
};
use prost::Message as _;
pub use value::{Attributes, Value};

/// One span, with its service and everything the assertions read.
#[derive(Debug, Clone, Default)]
pub struct Span {
    /// `service.name` of its resource.
    pub service: String,
    /// Its resource's attributes, values as strings.
    pub resource: BTreeMap<String, String>,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's span id, empty for a root.
    pub parent_id: String,
    pub name: String,
    /// SERVER, CLIENT, INTERNAL, …
    pub kind: SpanKind,
    /// Start, in nanoseconds since the epoch.
    pub start_ns: u64,
    /// End, in nanoseconds since the epoch.
    pub end_ns: u64,
    /// Its instrumentation scope's name.
    pub scope: String,
    /// Unset, Ok or Error.
    pub status: StatusCode,
    /// Whether the status is Error (what most checks ask of [`Span::status`]).
    pub is_error: bool,
    /// Attributes, values as strings.
    pub attributes: BTreeMap<String, String>,
    /// Its events: name and attributes.
    pub events: Vec<(String, BTreeMap<String, String>)>,
    /// The status message (empty unless set).
    pub status_message: String,
    /// The type of each attribute's value, on the span, its events and its resource, as
    /// semantic-convention registries name types (`string`, `int`, `double`, `boolean`,
    /// `string[]` …; `[]` for an empty array), for [`crate::schema`].
    pub types: BTreeMap<String, String>,
    /// What Jaeger's query service found wrong with the span when it assembled the trace (the
    /// `@jaeger@warnings` attribute it adds, shown in its UI: a parent that is not in the trace,
    /// say); not among `attributes`. Empty for spans not read from Jaeger.
    pub jaeger_warnings: Vec<String>,
    /// The span as OTLP sent it, for the checks of an SDK's own encoding. Empty for spans read
    /// from Jaeger.
    pub wire: Wire,
}

/// What a span carries beyond the text of its attributes, as OTLP sent it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wire {
    /// The W3C trace flags in the low byte; above them OTLP's bits for "whether the parent is
    /// remote is known" (0x100) and "the parent is remote" (0x200).
    pub flags: u32,
    /// The W3C `tracestate` it carries.
    pub trace_state: String,
    /// Its attributes, typed and in order.
    pub attributes: Attributes,
    /// Its events, in order.
    pub events: Vec<Event>,
    /// Its links, in order.
    pub links: Vec<Link>,
    /// How many attributes, events and links the SDK's limits dropped.
    pub dropped_attributes: u32,
    pub dropped_events: u32,
    pub dropped_links: u32,
}

/// An event as OTLP sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    /// In nanoseconds since the epoch.
    pub time_ns: u64,
    pub attributes: Attributes,
    /// How many of its attributes the SDK's limits dropped.
    pub dropped_attributes: u32,
}

/// A link as OTLP sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    pub attributes: Attributes,
    /// How many of its attributes the SDK's limits dropped.
    pub dropped_attributes: u32,
}

impl Wire {
    fn of(span: &proto::Span) -> Self {
        Self {
            flags: span.flags,
            trace_state: span.trace_state.clone(),
            attributes: Attributes::from_proto(&span.attributes),
            events: (span.events.iter())
                .map(|e| Event {
                    name: e.name.clone(),
                    time_ns: e.time_unix_nano,
                    attributes: Attributes::from_proto(&e.attributes),
                    dropped_attributes: e.dropped_attributes_count,
                })
                .collect(),
            links: (span.links.iter())
                .map(|l| Link {
                    trace_id: hex(&l.trace_id),
                    span_id: hex(&l.span_id),
                    attributes: Attributes::from_proto(&l.attributes),
                    dropped_attributes: l.dropped_attributes_count,
                })
                .collect(),
            dropped_attributes: span.dropped_attributes_count,
            dropped_events: span.dropped_events_count,
            dropped_links: span.dropped_links_count,
        }
    }
}

impl Span {
    /// The spans of an OTLP/HTTP protobuf body (an `ExportTraceServiceRequest`).
    pub fn decode(body: &[u8]) -> Result<Vec<Self>, prost::DecodeError> {
        decode_request(body).map(Self::from_request)
    }

    /// The spans of an export request.
    pub fn from_request(request: ExportTraceServiceRequest) -> Vec<Self> {
        request
            .resource_spans
            .into_iter()
            .flat_map(Self::from_resource_spans)
            .collect()
    }

    /// The spans of Jaeger's `GET /api/v3/traces/{id}` answer: `{"result": {"resourceSpans": …}}`.
    ///
    /// Read leniently, since JSON renderings of OTLP differ: ids in hex or base64, enums as numbers
    /// or names (`SPAN_KIND_SERVER`), 64-bit numbers as strings or numbers.
    pub fn from_jaeger_json(answer: &serde_json::Value) -> Vec<Self> {
        jaeger::spans(answer)
    }

    fn from_resource_spans(resource_spans: ResourceSpans) -> Vec<Self> {
        let resource_attributes =
            Attributes::from_proto(&resource_spans.resource.unwrap_or_default().attributes);
        let resource = resource_attributes.texts();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        let mut spans = Vec::new();
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
            for span in scope_spans.spans {
                let wire = Wire::of(&span);
                let types = (resource_attributes.types())
                    .chain(wire.attributes.types())
                    .chain(wire.events.iter().flat_map(|e| e.attributes.types()))
                    .collect();
                let status = (span.status.as_ref())
                    .and_then(|s| StatusCode::try_from(s.code).ok())
                    .unwrap_or(StatusCode::Unset);
                spans.push(Self {
                    service: service.clone(),
                    resource: resource.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_id: hex(&span.parent_span_id),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    start_ns: span.start_time_unix_nano,
                    end_ns: span.end_time_unix_nano,
                    scope: scope.clone(),
                    status,
                    is_error: status == StatusCode::Error,
                    status_message: span.status.map(|s| s.message).unwrap_or_default(),
                    attributes: wire.attributes.texts(),
                    events: (wire.events.iter())
                        .map(|e| (e.name.clone(), e.attributes.texts()))
                        .collect(),
                    name: span.name,
                    types,
                    jaeger_warnings: Vec::new(),
                    wire,
                });
            }
        }
        spans
    }

    /// Every text the span carries, for scans: its name, status message, attributes, its events'
    /// names and attributes, and its resource's attributes (keys and values).
    pub fn texts(&self) -> Vec<&str> {
        fn pairs(map: &BTreeMap<String, String>) -> impl Iterator<Item = &str> {
            map.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()])
        }
        let mut texts = vec![self.name.as_str(), self.status_message.as_str()];
        texts.extend(pairs(&self.attributes));
        texts.extend(pairs(&self.resource));
        for (name, attributes) in &self.events {
            texts.push(name);
            texts.extend(pairs(attributes));
        }
        texts
    }

    /// The attribute `key`, or `""`.
    pub fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }

    /// Its first event named `name`, as sent.
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.wire.events.iter().find(|e| e.name == name)
    }
}

/// The one span of `spans` named `name`; panics unless there is exactly one.
pub fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let named: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        named.len(),
        1,
        "one span {name:?} among {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    named[0]
}

/// An OTLP/HTTP protobuf body, decoded as it is (for checks of how it groups its spans).
pub fn decode_request(body: &[u8]) -> Result<ExportTraceServiceRequest, prost::DecodeError> {
    ExportTraceServiceRequest::decode(body)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
