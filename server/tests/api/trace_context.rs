//! `POST /test`: the W3C trace-context conformance endpoint.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, http::HeaderMap, routing::post};
use opentelemetry::trace::SpanKind;
use serde_json::json;

use crate::helpers::*;

/// A harness-side receiver that records the trace headers of each call, slowly.
async fn spawn_receiver() -> (SocketAddr, Arc<Mutex<Vec<(String, String)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let router = Router::new().route(
        "/callback",
        post(move |headers: HeaderMap| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let header = |name| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            record
                .lock()
                .expect("lock")
                .push((header("traceparent"), header("tracestate")));
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, seen)
}

#[tokio::test]
async fn the_test_endpoint_calls_each_url_in_order_with_the_propagated_context() {
    let app = spawn_app_with(|c| c.trace_context_test_endpoint = true).await;
    let (receiver, seen) = spawn_receiver().await;
    let url = format!("http://{receiver}/callback");
    let response = app
        .client
        .post(app.url("/test"))
        .header("traceparent", "00-12345678901234567890123456789012-1234567890123456-03")
        .header("tracestate", "foo=1,bar=2")
        .json(&json!([{ "url": url, "arguments": [] }, { "url": url, "arguments": [{ "url": url, "arguments": [] }] }]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "both calls returned before the 200");
    let client_spans: Vec<_> = app
        .spans()
        .0
        .into_iter()
        .filter(|s| s.span_kind == SpanKind::Client && s.name == "POST")
        .collect();
    for (traceparent, tracestate) in &seen {
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts[0], "00");
        assert_eq!(
            parts[1], "12345678901234567890123456789012",
            "same trace id"
        );
        assert_eq!(parts[3], "03", "sampled and random flags propagated");
        assert!(
            client_spans
                .iter()
                .any(|s| s.span_context.span_id().to_string() == parts[2]),
            "parent id {} must be a CLIENT span of the server",
            parts[2]
        );
        assert_eq!(tracestate, "foo=1,bar=2");
    }
}

#[tokio::test]
async fn the_test_endpoint_is_off_unless_enabled() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/test"))
        .json(&json!([]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 404);
}
