//! `POST /test`: the W3C trace-context conformance endpoint.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, http::HeaderMap, routing::post};
use opentelemetry::trace::SpanKind;
use serde_json::json;

use crate::helpers::*;

/// What the receiver saw of one call: (traceparent, tracestate, body).
type Seen = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A harness-side receiver that records each call's trace headers and body, slowly, so that a
/// `/test` answering before its calls returned would be caught.
async fn spawn_receiver() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let router = Router::new().route(
        "/callback",
        post(
            move |headers: HeaderMap, Json(body): Json<serde_json::Value>| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let header = |name| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                record.lock().expect("lock").push((
                    header("traceparent"),
                    header("tracestate"),
                    body,
                ));
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, seen)
}

#[tokio::test]
async fn the_test_endpoint_calls_each_url_in_order_from_its_own_client_span() {
    let app = spawn_app_with(|c| c.trace_context_test_endpoint = true).await;
    let (receiver, seen) = spawn_receiver().await;
    let url = format!("http://{receiver}/callback");
    let response = app
        .client
        .post(app.url("/test"))
        .header("traceparent", "00-12345678901234567890123456789012-1234567890123456-03")
        .header("tracestate", "foo=1,bar=2")
        .json(&json!([{ "url": url, "arguments": ["first"] }, { "url": url, "arguments": ["second"] }]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);

    let seen = seen.lock().expect("lock").clone();
    let bodies: Vec<_> = seen.iter().map(|(.., body)| body.clone()).collect();
    assert_eq!(
        bodies,
        [json!(["first"]), json!(["second"])],
        "both calls, in order, before the 200"
    );
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    let mut parents = Vec::new();
    for (traceparent, tracestate, _) in &seen {
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts[0], "00");
        assert_eq!(
            parts[1], "12345678901234567890123456789012",
            "same trace id"
        );
        assert_eq!(parts[3], "03", "sampled and random flags propagated");
        let client = spans
            .0
            .iter()
            .find(|s| s.span_context.span_id().to_string() == parts[2])
            .unwrap_or_else(|| panic!("parent id {} is no span of the server", parts[2]));
        assert_eq!(client.span_kind, SpanKind::Client);
        assert_eq!(
            client.parent_span_id,
            server.span_context.span_id(),
            "a child of the SERVER span"
        );
        assert_eq!(tracestate, "foo=1,bar=2");
        parents.push(parts[2].to_owned());
    }
    parents.dedup();
    assert_eq!(parents.len(), 2, "each call has a CLIENT span of its own");
}

#[tokio::test]
async fn after_an_invalid_traceparent_the_calls_carry_a_new_trace_and_no_tracestate() {
    let app = spawn_app_with(|c| c.trace_context_test_endpoint = true).await;
    let (receiver, seen) = spawn_receiver().await;
    let response = app
        .client
        .post(app.url("/test"))
        .header(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-1",
        )
        .header("tracestate", "foo=1")
        .json(&json!([{ "url": format!("http://{receiver}/callback"), "arguments": [] }]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let seen = seen.lock().expect("lock").clone();
    let (traceparent, tracestate, _) = &seen[0];
    assert!(
        !traceparent.contains("12345678901234567890123456789012"),
        "{traceparent}"
    );
    assert_eq!(
        tracestate, "",
        "tracestate goes with the invalid traceparent"
    );
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

#[tokio::test]
async fn the_random_flag_and_a_current_grammar_tracestate_go_on_to_the_calls() {
    let app = spawn_app_with(|c| c.trace_context_test_endpoint = true).await;
    let (receiver, seen) = spawn_receiver().await;
    let url = format!("http://{receiver}/callback");
    // Random, not sampled: the SDK drops the span and its flags, the random one included; keys
    // with `@` beyond the old tenant@vendor form, which the SDK's TraceState refuses; a duplicate.
    let tracestate = "foo@bar@baz=1,foo@=2,foo@bar@baz=3";
    let response = app
        .client
        .post(app.url("/test"))
        .header(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-02",
        )
        .header("tracestate", tracestate)
        .json(&json!([{ "url": url, "arguments": [] }]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let calls = seen.lock().expect("lock").clone();
    let (traceparent, state, _) = &calls[0];
    assert!(
        traceparent.starts_with("00-12345678901234567890123456789012-"),
        "{traceparent}"
    );
    assert!(
        traceparent.ends_with("-02"),
        "random flag carried, sampled flag not set: {traceparent}"
    );
    assert_eq!(
        state, "foo@bar@baz=1,foo@=2",
        "inherited, the duplicate dropped"
    );
}
