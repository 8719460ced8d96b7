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
    (decoded().await.into_iter())
        .map(|(i, _, span)| (i, span))
        .collect()
}

/// The spans the receiver got from tracers of the instrumentation scope `scope`.
pub async fn exported_in_scope(scope: &str) -> Vec<ExportedSpan> {
    (decoded().await.into_iter())
        .filter(|(_, name, _)| name == scope)
        .map(|(_, _, span)| span)
        .collect()
}

/// Every exported span: its export's index, its scope's name, the span.
async fn decoded() -> Vec<(usize, String, ExportedSpan)> {
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
            for scope_spans in resource_spans.scope_spans {
                let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                spans.extend(scope_spans.spans.into_iter().map(|s| (i, scope.clone(), s)));
            }
        }
    }
    spans
}
