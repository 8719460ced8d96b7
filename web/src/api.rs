//! The page's calls to the server, each through `otel-browser`'s traced fetch: a CLIENT span
//! whose context goes out as `traceparent` (with the session id as `baggage`: the fetch
//! instrumentation's W3C propagator, fed by the session instrumentation); the server's
//! `traceresponse` is checked.
//!
//! Bodies are the typed `checkout-api` values, turned into and out of JSON by the browser's own
//! `JSON` (`json.rs` maps them to its values): no JSON library is shipped in the page.

use std::time::SystemTime;

use checkout_api::{CheckoutRequest, ErrorBody, OrderPlaced, Product};
use js_sys::JSON;
use opentelemetry::{Context, trace::TraceContextExt};
use otel_browser::{clock, fetch::FetchInstrumentation};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

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

impl ApiError {
    /// The failure's `error.type`: low-cardinality, never a message (the status code of a
    /// refusal, as the fetch span has it).
    pub fn error_type(&self) -> String {
        match self {
            ApiError::Network(_) => "network".to_owned(),
            ApiError::Rejected { status, .. } => otel_browser::text::decimal((*status).into()),
            ApiError::Unexpected(_) => "unexpected_response".to_owned(),
            ApiError::Encode => "encode".to_owned(),
        }
    }
}

/// The server, as the page calls it.
pub struct Api {
    fetch: FetchInstrumentation,
    base: String,
}

impl Api {
    /// Calls to `base` (empty: the page's own origin) made through `fetch`.
    pub fn new(fetch: FetchInstrumentation, base: String) -> Self {
        Self { fetch, base }
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

    /// One call, traced: the status and the parsed JSON body (`undefined` without one),
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
        let outcome = match request(method, &url, body) {
            Err(error) => Err(error),
            Ok(request) => self.fetch.fetch(&request, parent).await.map_err(message),
        };
        let outcome = match outcome {
            Err(error) => Err(ApiError::Network(error)),
            Ok(response) => {
                let status = response.status();
                exchange.status = Some(status);
                exchange.server_timing = response.headers().get("server-timing").ok().flatten();
                check_traceresponse(
                    response.headers().get("traceresponse").ok().flatten(),
                    parent,
                );
                let json = read_json(&response).await;
                if status >= 400 {
                    let body = ErrorBody::from_json(&json);
                    Err(ApiError::Rejected { status, body })
                } else {
                    Ok((status, json))
                }
            }
        };
        exchange.ended = clock::now();
        (outcome, exchange)
    }
}

/// The request, with a JSON body when given one.
fn request(method: &str, url: &str, body: Option<JsValue>) -> Result<Request, String> {
    let init = RequestInit::new();
    init.set_method(method);
    let json = body.is_some();
    if let Some(body) = body {
        init.set_body(&body);
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(message)?;
    if json {
        (request.headers())
            .set("content-type", "application/json")
            .map_err(message)?;
    }
    Ok(request)
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

/// The server answers with the context of its span; its trace must be ours (the trace of `cx`,
/// the call's parent). A mismatch means the propagation is broken somewhere between here and the
/// server: report it as the bug it is.
fn check_traceresponse(traceresponse: Option<String>, cx: &Context) {
    let ours = cx.span().span_context().trace_id();
    let header = traceresponse.as_deref().unwrap_or_default();
    // Read by the strict parser: a malformed header is as good as none.
    match trace_context::parse_traceparent(header) {
        Some((theirs, _, _)) if theirs == ours => {}
        Some(_) => web_sys::console::error_2(
            &"BUG: this traceresponse is not of the request's trace:".into(),
            &header.into(),
        ),
        None => web_sys::console::warn_1(
            &"no valid traceresponse: does the server expose it through CORS?".into(),
        ),
    }
}
