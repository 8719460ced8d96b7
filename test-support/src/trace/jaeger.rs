//! Spans read from Jaeger's query API (`GET /api/v3/traces/{id}`), an OTLP/JSON rendering that
//! differs from the protobuf in ways the reader forgives.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::{Span, SpanKind, Wire, hex, value::array_type};

/// The spans of Jaeger's answer: `{"result": {"resourceSpans": …}}`, read leniently: ids in hex or
/// base64, enums as numbers or names (`SPAN_KIND_SERVER`), 64-bit numbers as strings or numbers.
pub(super) fn spans(answer: &serde_json::Value) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource_spans in answer["result"]["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let resource = json_attributes(&resource_spans["resource"]["attributes"]);
        let scopes = resource_spans["scopeSpans"]
            .as_array()
            .or(resource_spans["instrumentationLibrarySpans"].as_array());
        for scope in scopes.into_iter().flatten() {
            let scope_name = scope["scope"]["name"].as_str().unwrap_or_default();
            for span in scope["spans"].as_array().into_iter().flatten() {
                spans.push(one_span(resource_spans, &resource, scope_name, span));
            }
        }
    }
    spans
}

/// One span of Jaeger's answer, of the resource `resource_spans` (whose attributes are
/// `resource`) and the scope named `scope`.
fn one_span(
    resource_spans: &serde_json::Value,
    resource: &BTreeMap<String, String>,
    scope: &str,
    span: &serde_json::Value,
) -> Span {
    let status = json_enum(&span["status"]["code"], "STATUS_CODE_", |name| {
        StatusCode::from_str_name(name)
    })
    .and_then(|code| StatusCode::try_from(code).ok())
    .unwrap_or(StatusCode::Unset);
    let kind = json_enum(&span["kind"], "SPAN_KIND_", |name| {
        SpanKind::from_str_name(name)
    })
    .and_then(|k| SpanKind::try_from(k).ok())
    .unwrap_or(SpanKind::Unspecified);
    Span {
        service: resource.get("service.name").cloned().unwrap_or_default(),
        resource: resource.clone(),
        trace_id: json_id(&span["traceId"]),
        span_id: json_id(&span["spanId"]),
        parent_id: json_id(&span["parentSpanId"]),
        name: span["name"].as_str().unwrap_or_default().to_owned(),
        kind,
        start_ns: json_u64(&span["startTimeUnixNano"]),
        end_ns: json_u64(&span["endTimeUnixNano"]),
        scope: scope.to_owned(),
        status,
        is_error: status == StatusCode::Error,
        attributes: json_attributes(&span["attributes"]),
        jaeger_warnings: jaeger_warnings(span),
        events: (span["events"].as_array().into_iter().flatten())
            .map(|e| {
                let name = e["name"].as_str().unwrap_or_default().to_owned();
                (name, json_attributes(&e["attributes"]))
            })
            .collect(),
        status_message: (span["status"]["message"].as_str())
            .unwrap_or_default()
            .to_owned(),
        types: attribute_types(resource_spans, span),
        // Of the wire's fields, the trace state alone comes back through Jaeger's model (as its
        // `w3c.tracestate` tag).
        wire: Wire {
            trace_state: span["traceState"].as_str().unwrap_or_default().to_owned(),
            ..Wire::default()
        },
    }
}

/// What Jaeger added as `@jaeger@warnings` (a parent missing from the trace, …).
fn jaeger_warnings(span: &serde_json::Value) -> Vec<String> {
    (span["attributes"].as_array().into_iter().flatten())
        .filter(|kv| kv["key"] == JAEGER_WARNINGS)
        .flat_map(|kv| {
            kv["value"]["arrayValue"]["values"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(|v| v["stringValue"].as_str().map(str::to_owned))
        .collect()
}

/// The value type of every attribute of the span, its events and its resource.
fn attribute_types(
    resource_spans: &serde_json::Value,
    span: &serde_json::Value,
) -> BTreeMap<String, String> {
    let events = span["events"].as_array().into_iter().flatten();
    [
        &resource_spans["resource"]["attributes"],
        &span["attributes"],
    ]
    .into_iter()
    .chain(events.map(|e| &e["attributes"]))
    .flat_map(json_types)
    .collect()
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
