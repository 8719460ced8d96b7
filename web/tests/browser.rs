//! The page's fetches, in headless Chromium (`wasm-bindgen-test`) against a real local HTTP
//! receiver (`scripts/test-receiver.py`, started by `scripts/test.sh`).
#![cfg(target_arch = "wasm32")]

use opentelemetry::{
    Context,
    trace::{SpanKind, Status, TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use wasm_bindgen_test::*;
use web::api::Api;

wasm_bindgen_test_configure!(run_in_browser);

const RECEIVER: &str = env!("TEST_RECEIVER_URL");

#[wasm_bindgen_test]
async fn every_fetch_carries_its_client_spans_traceparent_and_the_session_baggage() {
    // The SDK's simple processor works in the browser with an exporter that never awaits JS.
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let api = Api::new(provider.tracer("test"), "session-7".into(), RECEIVER.into());

    let products = api
        .products(&Context::new())
        .await
        .expect("the receiver answers");
    assert!(products.is_empty());

    let received: serde_json::Value = gloo_net::http::Request::get(&format!("{RECEIVER}/received"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let request = received["requests"]
        .as_array()
        .and_then(|r| r.last())
        .expect("the fetch arrived")
        .clone();
    let spans = exporter.get_finished_spans().expect("spans");
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("a CLIENT span");
    let expected = format!(
        "00-{}-{}-01",
        client.span_context.trace_id(),
        client.span_context.span_id()
    );
    assert_eq!(request["traceparent"], expected.as_str());
    assert_eq!(request["baggage"], "session.id=session-7");
    assert_eq!(client.name, "GET");
    assert_eq!(client.status, Status::Unset);
    let attr = |k: &str| {
        client
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attr("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attr("url.full"), Some(format!("{RECEIVER}/api/products")));
    assert_eq!(attr("server.address").as_deref(), Some("127.0.0.1"));
}

#[wasm_bindgen_test]
async fn a_failed_fetch_marks_its_client_span_as_an_error() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let api = Api::new(
        provider.tracer("test"),
        "s".into(),
        "http://127.0.0.1:9".into(),
    );
    let root = Context::new();
    assert!(api.products(&root).await.is_err());
    let spans = exporter.get_finished_spans().expect("spans");
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("a CLIENT span");
    assert!(matches!(client.status, Status::Error { .. }));
    assert!(!root.has_active_span());
}
