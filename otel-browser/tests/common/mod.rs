//! What the browser tests share: the receiver's address and what it recorded, decoded.
#![cfg(target_arch = "wasm32")]
#![allow(dead_code, missing_docs)]

use base64::Engine as _;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, trace::v1::Span as ExportedSpan,
};
use prost::Message as _;

/// The local receiver (`scripts/test-receiver.py`), baked in at compile time.
pub const RECEIVER: &str = env!("TEST_RECEIVER_URL");

/// Everything the receiver recorded.
pub async fn received() -> serde_json::Value {
    gloo_net::http::Request::get(&format!("{RECEIVER}/received"))
        .send()
        .await
        .expect("receiver reachable")
        .json()
        .await
        .expect("json")
}

/// The spans of every export the receiver got, decoded, with the index of their export.
pub async fn exported() -> Vec<(usize, ExportedSpan)> {
    let received = received().await;
    let mut spans = Vec::new();
    for (i, export) in received["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .enumerate()
    {
        assert_eq!(export["content_type"], "application/x-protobuf");
        let body = base64::engine::general_purpose::STANDARD
            .decode(export["body"].as_str().expect("body"))
            .expect("base64");
        let request =
            ExportTraceServiceRequest::decode(body.as_slice()).expect("valid OTLP protobuf");
        for resource_spans in request.resource_spans {
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (i, s)));
            }
        }
    }
    spans
}

/// The spans of every export the receiver got from the service named `service` (tests that share
/// the receiver give their telemetry a service name of their own).
pub async fn exported_by(service: &str) -> Vec<ExportedSpan> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let received = received().await;
    let mut spans = Vec::new();
    for export in received["exports"].as_array().expect("exports") {
        let body = base64::engine::general_purpose::STANDARD
            .decode(export["body"].as_str().expect("body"))
            .expect("base64");
        let request =
            ExportTraceServiceRequest::decode(body.as_slice()).expect("valid OTLP protobuf");
        for resource_spans in request.resource_spans {
            let ours = (resource_spans.resource.iter())
                .flat_map(|r| &r.attributes)
                .any(|kv| {
                    kv.key == "service.name"
                        && matches!(
                            kv.value.as_ref().and_then(|v| v.value.as_ref()),
                            Some(Value::StringValue(s)) if s == service
                        )
                });
            if ours {
                for scope in resource_spans.scope_spans {
                    spans.extend(scope.spans);
                }
            }
        }
    }
    spans
}
