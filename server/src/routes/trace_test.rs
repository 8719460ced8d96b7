//! `POST /test`: the W3C Trace Context conformance endpoint (`TRACE_CONTEXT_TEST_ENDPOINT=1` only).
//!
//! The test harness posts `[{"url": …, "arguments": […]}, …]`; for each element, in order, this
//! server POSTs `arguments` to `url` from a CLIENT span of its own, carrying that span's context, and
//! answers only when all calls have returned. It calls any URL it is given, so it must stay off in
//! production.

use axum::{extract::State, http::StatusCode};
use opentelemetry::{
    KeyValue,
    trace::{SpanKind, Status, TraceContextExt},
};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, SERVER_ADDRESS, SERVER_PORT,
    URL_FULL,
};
use serde::Deserialize;

use super::AppState;
use crate::{
    extract::JsonBody,
    telemetry::{self, propagation},
};

/// One call the harness asks for.
#[derive(Debug, Deserialize)]
pub struct TestCall {
    /// Where to POST.
    pub url: String,
    /// The JSON body to send.
    pub arguments: serde_json::Value,
}

/// Makes the calls in order, then answers 200.
pub async fn run(
    State(state): State<AppState>,
    JsonBody(calls): JsonBody<Vec<TestCall>>,
) -> StatusCode {
    for call in calls {
        post_traced(&state, &call).await;
    }
    StatusCode::OK
}

async fn post_traced(state: &AppState, call: &TestCall) {
    let mut attributes = vec![
        KeyValue::new(HTTP_REQUEST_METHOD, "POST"),
        KeyValue::new(URL_FULL, call.url.clone()),
    ];
    if let Ok(url) = reqwest::Url::parse(&call.url) {
        if let Some(host) = url.host_str() {
            attributes.push(KeyValue::new(SERVER_ADDRESS, host.to_owned()));
        }
        if let Some(port) = url.port_or_known_default() {
            attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
        }
    }
    let cx = telemetry::start_span(&state.tracer, "POST", SpanKind::Client, attributes);
    let mut headers = axum::http::HeaderMap::new();
    propagation::inject(&cx, &mut headers);
    let result = state
        .http
        .post(&call.url)
        .headers(headers)
        .json(&call.arguments)
        .send()
        .await;
    let span = cx.span();
    match result {
        Ok(response) => {
            let status = response.status();
            span.set_attribute(KeyValue::new(
                HTTP_RESPONSE_STATUS_CODE,
                i64::from(status.as_u16()),
            ));
            if status.is_client_error() || status.is_server_error() {
                span.set_attribute(KeyValue::new(ERROR_TYPE, status.as_str().to_owned()));
                span.set_status(Status::error(status.to_string()));
            }
        }
        Err(error) => {
            let kind = if error.is_timeout() {
                "timeout"
            } else {
                "connection_error"
            };
            span.set_attribute(KeyValue::new(ERROR_TYPE, kind));
            span.set_status(Status::error(kind));
        }
    }
    span.end();
}
