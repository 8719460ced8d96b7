//! Spans as the tests see them: flattened from OTLP, wherever they came from.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{ResourceSpans, status::StatusCode},
};

pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// One span, with its service and everything the assertions read.
#[derive(Debug, Clone)]
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
    /// Whether the status is Error.
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
}

impl Span {
    /// The spans of an export request.
    pub fn from_request(request: ExportTraceServiceRequest) -> Vec<Self> {
        Self::from_resource_spans(request.resource_spans)
    }

    /// The spans of Jaeger's `GET /api/v3/traces/{id}` answer: `{"result": {"resourceSpans": …}}`.
    ///
    /// Read leniently, since JSON renderings of OTLP differ: ids in hex or base64, enums as numbers
    /// or names (`SPAN_KIND_SERVER`), 64-bit numbers as strings or numbers.
    pub fn from_jaeger_json(answer: &serde_json::Value) -> Vec<Self> {
        let mut spans = Vec::new();
        let data = &answer["result"];
        for resource_spans in data["resourceSpans"].as_array().into_iter().flatten() {
            let resource = json_attributes(&resource_spans["resource"]["attributes"]);
            let service = resource.get("service.name").cloned().unwrap_or_default();
            let scopes = resource_spans["scopeSpans"]
                .as_array()
                .or(resource_spans["instrumentationLibrarySpans"].as_array());
            for scope in scopes.into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    spans.push(Self {
                        service: service.clone(),
                        resource: resource.clone(),
                        trace_id: json_id(&span["traceId"]),
                        span_id: json_id(&span["spanId"]),
                        parent_id: json_id(&span["parentSpanId"]),
                        name: span["name"].as_str().unwrap_or_default().to_owned(),
                        kind: json_enum(&span["kind"], "SPAN_KIND_", |name| {
                            SpanKind::from_str_name(name)
                        })
                        .and_then(|k| SpanKind::try_from(k).ok())
                        .unwrap_or(SpanKind::Unspecified),
                        start_ns: json_u64(&span["startTimeUnixNano"]),
                        end_ns: json_u64(&span["endTimeUnixNano"]),
                        is_error: json_enum(&span["status"]["code"], "STATUS_CODE_", |name| {
                            StatusCode::from_str_name(name)
                        }) == Some(StatusCode::Error as i32),
                        attributes: json_attributes(&span["attributes"]),
                        jaeger_warnings: span["attributes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|kv| kv["key"] == JAEGER_WARNINGS)
                            .flat_map(|kv| {
                                kv["value"]["arrayValue"]["values"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                            })
                            .filter_map(|v| v["stringValue"].as_str().map(str::to_owned))
                            .collect(),
                        events: span["events"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| {
                                (
                                    e["name"].as_str().unwrap_or_default().to_owned(),
                                    json_attributes(&e["attributes"]),
                                )
                            })
                            .collect(),
                        status_message: span["status"]["message"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        types: [
                            &resource_spans["resource"]["attributes"],
                            &span["attributes"],
                        ]
                        .into_iter()
                        .chain(
                            span["events"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|e| &e["attributes"]),
                        )
                        .flat_map(json_types)
                        .collect(),
                    });
                }
            }
        }
        spans
    }

    fn from_resource_spans(resource_spans: Vec<ResourceSpans>) -> Vec<Self> {
        let mut spans = Vec::new();
        for resource_spans in resource_spans {
            let resource_attributes = resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            let resource = attributes(&resource_attributes);
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let types = resource_attributes
                        .iter()
                        .chain(&span.attributes)
                        .chain(span.events.iter().flat_map(|e| &e.attributes))
                        .map(|kv| (kv.key.clone(), value_type(kv.value.as_ref())))
                        .collect();
                    spans.push(Self {
                        service: service.clone(),
                        resource: resource.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_id: hex(&span.parent_span_id),
                        kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                        start_ns: span.start_time_unix_nano,
                        end_ns: span.end_time_unix_nano,
                        is_error: span
                            .status
                            .as_ref()
                            .is_some_and(|s| s.code == StatusCode::Error as i32),
                        status_message: span.status.map(|s| s.message).unwrap_or_default(),
                        attributes: attributes(&span.attributes),
                        events: span
                            .events
                            .into_iter()
                            .map(|e| (e.name, attributes(&e.attributes)))
                            .collect(),
                        name: span.name,
                        types,
                        jaeger_warnings: Vec::new(),
                    });
                }
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
}

/// An id as lowercase hex, whether it came as hex or base64; empty when absent or all zero.
fn json_id(value: &serde_json::Value) -> String {
    use base64::Engine as _;
    let text = value.as_str().unwrap_or_default();
    let is_hex = matches!(text.len(), 16 | 32) && text.bytes().all(|b| b.is_ascii_hexdigit());
    let id = if is_hex {
        text.to_ascii_lowercase()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(|b| hex(&b))
            .unwrap_or_default()
    };
    if id.bytes().all(|b| b == b'0') {
        String::new()
    } else {
        id
    }
}

/// An enum as its number, given as a number or as its name (with or without `prefix`).
fn json_enum<T: Into<i32>>(
    value: &serde_json::Value,
    prefix: &str,
    by_name: impl Fn(&str) -> Option<T>,
) -> Option<i32> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        serde_json::Value::String(name) if name.starts_with(prefix) => {
            by_name(name).map(Into::into)
        }
        serde_json::Value::String(name) => by_name(&format!("{prefix}{name}")).map(Into::into),
        _ => None,
    }
}

fn json_u64(value: &serde_json::Value) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_str()?.parse().ok())
        .unwrap_or_default()
}

/// The attribute Jaeger's query service adds to a span it has warnings about (Jaeger,
/// `internal/jptrace/attributes.go`, `WarningsAttribute`): Jaeger's, not the span's own.
const JAEGER_WARNINGS: &str = "@jaeger@warnings";

fn json_attributes(value: &serde_json::Value) -> BTreeMap<String, String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter(|kv| kv["key"] != JAEGER_WARNINGS)
        .filter_map(|kv| {
            let key = kv["key"].as_str()?.to_owned();
            let v = &kv["value"];
            let text = ["stringValue", "intValue", "doubleValue", "boolValue"]
                .iter()
                .find_map(|k| match &v[*k] {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                });
            Some((key, text.unwrap_or_default()))
        })
        .collect()
}

/// The registry type of each attribute in an OTLP/JSON attribute list.
///
/// An array comes back from Jaeger's Badger store as a string, its JSON text: Jaeger keeps spans in
/// its v1 model, whose tags have no array type, and the collector's translator writes a slice
/// attribute as the string of `Value.AsString()` (opentelemetry-collector-contrib,
/// `pkg/translator/jaeger/traces_to_jaegerproto.go`, `attributeToJaegerTag`). A string value that
/// is a JSON array of one scalar type is read as that array.
fn json_types(value: &serde_json::Value) -> Vec<(String, String)> {
    fn stored_array(text: &str) -> Option<String> {
        if !text.starts_with('[') {
            return None;
        }
        let values = serde_json::from_str::<serde_json::Value>(text).ok()?;
        let types: Vec<String> = values
            .as_array()?
            .iter()
            .map(|v| match v {
                serde_json::Value::String(_) => "string",
                serde_json::Value::Bool(_) => "boolean",
                serde_json::Value::Number(n) if n.is_i64() => "int",
                serde_json::Value::Number(_) => "double",
                _ => "other",
            })
            .map(str::to_owned)
            .collect();
        Some(array_type(&types))
    }
    fn of(v: &serde_json::Value) -> String {
        if let Some(array) = v["stringValue"].as_str().and_then(stored_array) {
            return array;
        }
        let scalar = [
            ("stringValue", "string"),
            ("intValue", "int"),
            ("doubleValue", "double"),
            ("boolValue", "boolean"),
        ];
        if let Some((_, name)) = scalar.iter().find(|(k, _)| !v[*k].is_null()) {
            return (*name).to_owned();
        }
        let values = v["arrayValue"]["values"].as_array();
        match values.map(|vs| vs.iter().map(of).collect::<Vec<_>>()) {
            Some(types) => array_type(&types),
            None => "other".to_owned(),
        }
    }
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter(|kv| kv["key"] != JAEGER_WARNINGS)
        .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), of(&kv["value"]))))
        .collect()
}

/// The registry type of an OTLP value: `string`, `int`, `double`, `boolean`, an array of one of
/// them (`int[]`), or `other` (bytes, maps, mixed arrays: no registry attribute has those).
fn value_type(any: Option<&AnyValue>) -> String {
    match any.and_then(|a| a.value.as_ref()) {
        Some(any_value::Value::StringValue(_)) => "string".to_owned(),
        Some(any_value::Value::IntValue(_)) => "int".to_owned(),
        Some(any_value::Value::DoubleValue(_)) => "double".to_owned(),
        Some(any_value::Value::BoolValue(_)) => "boolean".to_owned(),
        Some(any_value::Value::ArrayValue(a)) => {
            let types: Vec<String> = a.values.iter().map(|v| value_type(Some(v))).collect();
            array_type(&types)
        }
        _ => "other".to_owned(),
    }
}

/// `T[]` for an array whose values are all the scalar type `T`, `[]` for an empty one (which is
/// of every array type), `other` for anything else.
fn array_type(types: &[String]) -> String {
    match types.first() {
        None => "[]".to_owned(),
        Some(first)
            if !first.ends_with(']') && first != "other" && types.iter().all(|t| t == first) =>
        {
            format!("{first}[]")
        }
        Some(_) => "other".to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jaeger_answers_are_read_with_hex_or_base64_ids_and_named_or_numbered_enums() {
        let answer = json!({ "result": { "resourceSpans": [{
            "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "checkout-server" } }] },
            "scopeSpans": [{ "spans": [
                { "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7", "parentSpanId": "",
                  "name": "POST /api/checkout", "kind": "SPAN_KIND_SERVER", "startTimeUnixNano": "1700000000000000000",
                  "endTimeUnixNano": 1700000000250000000_u64, "status": { "code": "STATUS_CODE_ERROR" },
                  "attributes": [{ "key": "http.response.status_code", "value": { "intValue": "502" } }] },
                { "traceId": "S/kvNXezTaajzpKdDg5HNg==", "spanId": "AAAAAAAAAAE=", "parentSpanId": "APBnqgupArc=",
                  "name": "payment.charge", "kind": 1, "status": { "code": 0 } }
            ] }]
        }] } });
        let spans = Span::from_jaeger_json(&answer);
        assert_eq!(spans.len(), 2);
        let (server, child) = (&spans[0], &spans[1]);
        assert_eq!(server.service, "checkout-server");
        assert_eq!(server.kind, SpanKind::Server);
        assert!(server.is_error);
        assert!(server.parent_id.is_empty());
        assert_eq!(server.end_ns - server.start_ns, 250_000_000);
        assert_eq!(server.attr("http.response.status_code"), "502");
        assert_eq!(
            child.trace_id, server.trace_id,
            "base64 ids decode to the same hex"
        );
        assert_eq!(child.parent_id, server.span_id);
        assert_eq!(child.span_id, "0000000000000001");
        assert_eq!(child.kind, SpanKind::Internal);
        assert!(!child.is_error);
    }

    #[test]
    fn an_array_jaeger_stored_as_its_json_text_is_read_as_that_array() {
        let answer = json!({ "result": { "resourceSpans": [{
            "scopeSpans": [{ "spans": [{ "name": "product.lookup", "attributes": [
                { "key": "product.ids", "value": { "stringValue": "[1,3]" } },
                { "key": "tags", "value": { "stringValue": "[\"a\",\"b\"]" } },
                { "key": "mixed", "value": { "stringValue": "[1,\"a\"]" } },
                { "key": "note", "value": { "stringValue": "[not json" } },
                { "key": "real", "value": { "arrayValue": { "values": [{ "intValue": "2" }] } } }
            ] }] }]
        }] } });
        let span = &Span::from_jaeger_json(&answer)[0];
        let types: Vec<&str> = ["product.ids", "tags", "mixed", "note", "real"]
            .iter()
            .map(|k| span.types[*k].as_str())
            .collect();
        assert_eq!(types, ["int[]", "string[]", "other", "string", "int[]"]);
    }
}
