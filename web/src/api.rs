//! The page's calls to the server. Every fetch runs in a CLIENT span whose context goes out as
//! `traceparent` (with the session id as `baggage`), and the server's `traceresponse` is checked.

use gloo_net::http::{Request, RequestBuilder};
use opentelemetry::{
    Context, KeyValue,
    trace::{SpanKind, Status, TraceContextExt, Tracer as _},
};
use opentelemetry_sdk::trace::SdkTracer;
use otel_browser::clock;
use serde_json::Value;

use crate::cart::Product;

/// The answer to a call: its status and JSON body (`null` if it had none).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

/// The server could not be reached at all.
#[derive(Debug)]
pub struct NetworkError(pub String);

/// The server, as the page calls it.
pub struct Api {
    tracer: SdkTracer,
    session_id: String,
    base: String,
}

impl Api {
    /// Calls to `base` (empty: the page's own origin) made with `tracer`, carrying `session_id` as
    /// baggage.
    pub fn new(tracer: SdkTracer, session_id: String, base: String) -> Self {
        Self {
            tracer,
            session_id,
            base,
        }
    }

    /// `GET /api/products`.
    pub async fn products(&self, parent: &Context) -> Result<Vec<Product>, NetworkError> {
        let answer = self.fetch(parent, "GET", "/api/products", None).await?;
        serde_json::from_value(answer.body)
            .map_err(|e| NetworkError(format!("unexpected catalog: {e}")))
    }

    /// `POST /api/checkout` with `body`.
    pub async fn checkout(&self, parent: &Context, body: Value) -> Result<Answer, NetworkError> {
        self.fetch(parent, "POST", "/api/checkout", Some(body))
            .await
    }

    async fn fetch(
        &self,
        parent: &Context,
        method: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, NetworkError> {
        let origin = web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default();
        let url = format!("{}{path}", self.base);
        let mut attributes = vec![KeyValue::new("http.request.method", method)];
        // Resolve against the page, so url.full and server.* hold the real target.
        if let Ok(full) = web_sys::Url::new_with_base(&url, &origin) {
            attributes.push(KeyValue::new("url.full", full.href()));
            attributes.push(KeyValue::new("server.address", full.hostname()));
            let default_port = if full.protocol() == "https:" { 443 } else { 80 };
            attributes.push(KeyValue::new(
                "server.port",
                full.port().parse::<i64>().unwrap_or(default_port),
            ));
        }
        let span = self
            .tracer
            .span_builder(method)
            .with_kind(SpanKind::Client)
            .with_start_time(clock::now())
            .with_attributes(attributes)
            .start_with_context(&self.tracer, parent);
        let cx = parent.with_span(span);
        let traceparent = otel_browser::traceparent(cx.span().span_context());
        let builder = match method {
            "POST" => Request::post(&url),
            _ => Request::get(&url),
        };
        let builder: RequestBuilder = builder
            .header("traceparent", &traceparent)
            .header("baggage", &format!("session.id={}", self.session_id));
        let sent = match body {
            Some(body) => match builder.json(&body) {
                Ok(request) => request.send().await,
                Err(error) => Err(error),
            },
            None => builder.send().await,
        };

        let span = cx.span();
        let outcome = match sent {
            Err(error) => {
                span.set_attribute(KeyValue::new("error.type", "fetch_error"));
                span.set_status(Status::error("network error"));
                Err(NetworkError(error.to_string()))
            }
            Ok(response) => {
                let status = response.status();
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 400 {
                    span.set_attribute(KeyValue::new("error.type", status.to_string()));
                    span.set_status(Status::error(format!("HTTP {status}")));
                }
                check_traceresponse(response.headers().get("traceresponse").as_deref(), &cx);
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                Ok(Answer { status, body })
            }
        };
        span.end_with_timestamp(clock::now());
        outcome
    }
}

/// The server answers with the context of its span; its trace must be ours. A mismatch means the
/// propagation is broken somewhere between here and the server: report it as the bug it is.
fn check_traceresponse(traceresponse: Option<&str>, cx: &Context) {
    let ours = cx.span().span_context().trace_id().to_string();
    match traceresponse.and_then(otel_browser::trace_id_of) {
        Some(theirs) if theirs == ours => {}
        Some(theirs) => web_sys::console::error_1(
            &format!(
                "BUG: traceresponse trace id {theirs} does not match the request's trace id {ours}"
            )
            .into(),
        ),
        None => web_sys::console::warn_1(
            &"no traceresponse header: is the server exposing it through CORS?".into(),
        ),
    }
}
