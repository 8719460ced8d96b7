//! The page's calls to the server. Every fetch runs in a CLIENT span whose context goes out as
//! `traceparent` (with the session id as `baggage`), and the server's `traceresponse` is checked.
//!
//! Bodies are the typed `checkout-api` values, turned into and out of JSON by the browser's own
//! `JSON` (`json.rs` maps them to its values): no JSON library is shipped in the page.

use std::time::SystemTime;

use checkout_api::{CheckoutRequest, ErrorBody, OrderPlaced, Product};
use js_sys::JSON;
use opentelemetry::{
    Context, KeyValue,
    trace::{SpanKind, Status, TraceContextExt, Tracer as _},
};
use otel_browser::{Tracer, clock};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};

use crate::{
    json::{self, FromJson},
    waterfall::Exchange,
};

/// Why a call did not give the answer asked for.
#[derive(Debug)]
pub enum ApiError {
    /// The server could not be reached at all (the browser's message).
    Network(String),
    /// The server answered with an error status, and its error body when it sent one.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The server's `{ "error": … }`, if the body was one.
        body: Option<ErrorBody>,
    },
    /// A success status whose body is not what the contract says.
    Unexpected(u16),
    /// The request body could not be put into JSON (nothing was sent).
    Encode,
}

/// The server, as the page calls it.
pub struct Api {
    tracer: Tracer,
    baggage: String,
    base: String,
}

impl Api {
    /// Calls to `base` (empty: the page's own origin) made with `tracer`, carrying `session_id` as
    /// baggage.
    pub fn new(tracer: Tracer, session_id: &str, base: String) -> Self {
        Self {
            tracer,
            baggage: ["session.id=", session_id].concat(),
            base,
        }
    }

    /// `GET /api/products`.
    pub async fn products(&self, parent: &Context) -> Result<Vec<Product>, ApiError> {
        let (answer, _) = self.fetch(parent, "GET", "/api/products", None).await;
        answer.and_then(decode)
    }

    /// `POST /api/checkout`, and how the call went (for the page's waterfall; `None` when
    /// nothing was sent).
    pub async fn checkout(
        &self,
        parent: &Context,
        request: &CheckoutRequest,
    ) -> (Result<OrderPlaced, ApiError>, Option<Exchange>) {
        let Ok(body) = json::checkout_request(request).and_then(|v| JSON::stringify(&v)) else {
            return (Err(ApiError::Encode), None);
        };
        let (answer, exchange) = self
            .fetch(parent, "POST", "/api/checkout", Some(body.into()))
            .await;
        (answer.and_then(decode), Some(exchange))
    }

    /// One call in its CLIENT span: the status and the parsed JSON body (`undefined` without one),
    /// with when it ran and the server's `Server-Timing`. Error statuses come back as
    /// [`ApiError::Rejected`].
    async fn fetch(
        &self,
        parent: &Context,
        method: &'static str,
        path: &str,
        body: Option<JsValue>,
    ) -> (Result<(u16, JsValue), ApiError>, Exchange) {
        let url = [self.base.as_str(), path].concat();
        let mut exchange = Exchange {
            request: [method, " ", path].concat(),
            started: clock::now(),
            ended: SystemTime::UNIX_EPOCH,
            status: None,
            server_timing: None,
        };
        let span = self
            .tracer
            .span_builder(method)
            .with_kind(SpanKind::Client)
            .with_start_time(exchange.started)
            .with_attributes(request_attributes(method, &url))
            .start_with_context(&self.tracer, parent);
        let cx = parent.with_span(span);
        let span = cx.span();
        let outcome = match send(
            method,
            &url,
            &otel_browser::traceparent(span.span_context()),
            &self.baggage,
            body,
        )
        .await
        {
            Err(error) => {
                span.set_attribute(KeyValue::new("error.type", "fetch_error"));
                span.set_status(Status::error("network error"));
                Err(ApiError::Network(error))
            }
            Ok(response) => {
                let status = response.status();
                exchange.status = Some(status);
                exchange.server_timing = response.headers().get("server-timing").ok().flatten();
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                check_traceresponse(response.headers().get("traceresponse").ok().flatten(), &cx);
                let json = read_json(&response).await;
                if status >= 400 {
                    let status_text = status.to_string();
                    span.set_status(Status::error(["HTTP ", &status_text].concat()));
                    span.set_attribute(KeyValue::new("error.type", status_text));
                    let body = ErrorBody::from_json(&json);
                    Err(ApiError::Rejected { status, body })
                } else {
                    Ok((status, json))
                }
            }
        };
        exchange.ended = clock::now();
        span.end_with_timestamp(exchange.ended);
        (outcome, exchange)
    }
}

/// The HTTP client attributes known before the call: `http.request.method`, and `url.full`,
/// `server.address`, `server.port` of the URL resolved against the page.
fn request_attributes(method: &'static str, url: &str) -> Vec<KeyValue> {
    let mut attributes = vec![KeyValue::new("http.request.method", method)];
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    if let Ok(full) = web_sys::Url::new_with_base(url, &origin) {
        let default_port = if full.protocol() == "https:" { 443 } else { 80 };
        let port = full.port().parse::<i64>().unwrap_or(default_port);
        attributes.push(KeyValue::new("url.full", full.href()));
        attributes.push(KeyValue::new("server.address", full.hostname()));
        attributes.push(KeyValue::new("server.port", port));
    }
    attributes
}

/// `fetch` with the trace headers and, when given, a JSON body.
async fn send(
    method: &str,
    url: &str,
    traceparent: &str,
    baggage: &str,
    body: Option<JsValue>,
) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let headers = Headers::new().map_err(message)?;
    headers.set("traceparent", traceparent).map_err(message)?;
    headers.set("baggage", baggage).map_err(message)?;
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        headers
            .set("content-type", "application/json")
            .map_err(message)?;
        init.set_body(&body);
    }
    init.set_headers(&headers);
    let response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(message)?;
    response.dyn_into().map_err(message)
}

/// The body parsed as JSON, or `undefined` when it is empty or not JSON.
async fn read_json(response: &Response) -> JsValue {
    let parsed = response.json().map(JsFuture::from);
    match parsed {
        Ok(future) => future.await.unwrap_or(JsValue::UNDEFINED),
        Err(_) => JsValue::UNDEFINED,
    }
}

fn decode<T: FromJson>((status, json): (u16, JsValue)) -> Result<T, ApiError> {
    T::from_json(&json).ok_or(ApiError::Unexpected(status))
}

/// The message of a JS error (a `TypeError` from `fetch`, most often).
fn message(error: JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}

/// The server answers with the context of its span; its trace must be ours. A mismatch means the
/// propagation is broken somewhere between here and the server: report it as the bug it is.
fn check_traceresponse(traceresponse: Option<String>, cx: &Context) {
    let ours = otel_browser::hex(&cx.span().span_context().trace_id().to_bytes());
    match traceresponse.as_deref().and_then(otel_browser::trace_id_of) {
        Some(theirs) if theirs == ours => {}
        Some(theirs) => web_sys::console::error_1(
            &[
                "BUG: traceresponse trace id ",
                theirs,
                " does not match the request's trace id ",
                &ours,
            ]
            .concat()
            .into(),
        ),
        None => web_sys::console::warn_1(
            &"no traceresponse header: is the server exposing it through CORS?".into(),
        ),
    }
}
