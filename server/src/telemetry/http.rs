//! The HTTP middleware that opens one SERVER span per request and answers with `traceresponse` and
//! `Server-Timing`.

use std::{borrow::Cow, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use opentelemetry::{
    Context, KeyValue,
    baggage::{BaggageExt, KeyValueMetadata},
    context::FutureExt as _,
    trace::{Link, SpanKind, SpanRef, Status, TraceContextExt, Tracer as _},
};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, SERVER_ADDRESS,
    SERVER_PORT, URL_PATH, URL_SCHEME, USER_AGENT_ORIGINAL,
};
use tracing::Instrument as _;

use super::{
    Tracer, propagation,
    timing::{self, ServerTiming},
};

/// The baggage key the page uses for its session id; copied onto the server span.
pub const SESSION_ID_BAGGAGE: &str = "session.id";

/// What the server does with the trace context a request brings (`TRACE_PARENT_POLICY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParentPolicy {
    /// Continue the caller's trace: the SERVER span is a child of its span. For callers you trust
    /// (your own page, your own services).
    #[default]
    Continue,
    /// Start a new trace at this edge and link it to the caller's span: for a public API whose
    /// callers you do not trust to choose your trace ids and sampling decisions. The caller's
    /// trace is still one click away (the link), and `traceresponse` tells it the new trace id.
    Link,
}

/// The state of [`server_span`]: the tracer, and what to do with incoming trace context.
#[derive(Clone)]
pub struct Edge {
    /// The tracer of the SERVER spans.
    pub tracer: Tracer,
    /// Continue or link incoming traces.
    pub policy: ParentPolicy,
}

/// Wraps a request in a SERVER span named `{METHOD} {route}` that continues the caller's trace
/// (or, with [`ParentPolicy::Link`], starts a new one linked to it).
///
/// The route is the matched template (`/api/orders/{id}`), never the raw path, so span names stay
/// low-cardinality. A 5xx marks the span as an error; a 4xx is the client's fault and leaves the status
/// unset, as the HTTP semantic conventions say for servers.
pub async fn server_span(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let tracer = edge.tracer;
    let (parent, links) = parent_and_links(propagation::extract(request.headers()), edge.policy);
    let method = known_method(request.method().as_str());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let span = tracer
        .span_builder(span_name(method, route.as_deref()))
        .with_kind(SpanKind::Server)
        .with_attributes(request_attributes(
            &request,
            method,
            route.as_deref(),
            &parent,
        ))
        .with_links(links)
        .start_with_context(&tracer, &parent);
    let timing = ServerTiming::default();
    let cx = parent.with_span(span).with_value(timing.clone());
    let log_span = log_span(&cx);
    let mut response = next
        .run(request)
        .with_context(cx.clone())
        .instrument(log_span.clone())
        .await;

    let status = response.status();
    record_status(&cx.span(), status);
    answer_headers(&mut response, &cx, &timing, started);
    cx.span().end();

    log_span.in_scope(|| {
        tracing::info!(
            method,
            route = route.as_deref().unwrap_or("-"),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "served"
        );
    });
    response
}

/// The SERVER span's parent and links from the incoming context: the caller's span as the parent
/// ([`ParentPolicy::Continue`]), or, with [`ParentPolicy::Link`] and a valid caller, a new trace
/// linked to it that keeps only the incoming baggage.
fn parent_and_links(incoming: Context, policy: ParentPolicy) -> (Context, Vec<Link>) {
    let remote = incoming.span().span_context().clone();
    match policy {
        ParentPolicy::Link if remote.is_valid() => (
            // Baggage stays (session.id is still checked below); nothing of the remote trace does.
            Context::new().with_baggage(
                incoming
                    .baggage()
                    .iter()
                    .map(|(k, (v, m))| KeyValueMetadata::new(k.clone(), v.clone(), m.clone())),
            ),
            vec![Link::with_context(remote)],
        ),
        _ => (incoming, Vec::new()),
    }
}

/// `{METHOD} {route}`, or the method alone when no route matched; unknown methods are `HTTP` in
/// span names (and `_OTHER` in attributes), as the conventions say.
fn span_name(method: &'static str, route: Option<&str>) -> Cow<'static, str> {
    let name_method = if method == "_OTHER" { "HTTP" } else { method };
    // The one name formatted per request: the route is the router's, known only at run time.
    match route {
        Some(route) => format!("{name_method} {route}").into(),
        None => name_method.into(),
    }
}

/// The request's attributes by the HTTP server conventions, and the caller's `session.id` when
/// its baggage carries a plausible one.
fn request_attributes(
    request: &Request,
    method: &'static str,
    route: Option<&str>,
    parent: &Context,
) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new(HTTP_REQUEST_METHOD, method),
        KeyValue::new(URL_PATH, request.uri().path().to_owned()),
        KeyValue::new(
            URL_SCHEME,
            match request.uri().scheme_str() {
                // Origin-form requests (all of a server's, behind nginx or not) carry no scheme.
                None | Some("http") => Cow::Borrowed("http"),
                Some("https") => Cow::Borrowed("https"),
                Some(other) => Cow::Owned(other.to_owned()),
            },
        ),
    ];
    if let Some(route) = route {
        attributes.push(KeyValue::new(HTTP_ROUTE, route.to_owned()));
    }
    if let Some((host, port)) = host_and_port(request) {
        attributes.push(KeyValue::new(SERVER_ADDRESS, host));
        attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
    }
    if let Some(agent) = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new(USER_AGENT_ORIGINAL, agent.to_owned()));
    }
    if let Some(session) = parent
        .baggage()
        .get(SESSION_ID_BAGGAGE)
        .map(|v| v.as_str().to_owned())
        && is_plausible_session_id(&session)
    {
        attributes.push(KeyValue::new("session.id", session));
    }
    attributes
}

/// The log span of the request: every log line written while the request runs names its trace
/// and span, so a line leads to its trace (the fmt layer prints the fields of the spans a line is
/// written in).
fn log_span(cx: &Context) -> tracing::Span {
    let span_context = cx.span().span_context().clone();
    tracing::info_span!(
        "request",
        trace_id = %span_context.trace_id(),
        span_id = %span_context.span_id()
    )
}

/// The response's status on the span: `http.response.status_code`, and for a 5xx `error.type`
/// and Error status (a 4xx is the client's fault: the status stays unset).
fn record_status(span: &SpanRef<'_>, status: StatusCode) {
    span.set_attribute(KeyValue::new(
        HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_attribute(KeyValue::new(ERROR_TYPE, status.as_str().to_owned()));
        span.set_status(Status::error(
            status.canonical_reason().unwrap_or("server error"),
        ));
    }
}

/// `traceresponse` (the span's context, for the caller to find its trace) and `Server-Timing`
/// (what `timing` collected, and the time since `started`) on the response.
fn answer_headers(response: &mut Response, cx: &Context, timing: &ServerTiming, started: Instant) {
    if let Ok(value) = HeaderValue::from_str(&propagation::traceparent(cx)) {
        response.headers_mut().insert("traceresponse", value);
    }
    if let Ok(value) = HeaderValue::from_str(&timing.header_value(started.elapsed())) {
        response.headers_mut().insert(timing::HEADER, value);
    }
}

/// The method as the semantic conventions record it: a known method, or `_OTHER`.
fn known_method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("_OTHER")
}

/// `server.address` and `server.port` from the `Host` header (or the URI's authority); without a
/// port, the scheme's (HTTP server semantic conventions, `server.port`: 443 for `https`, else 80).
fn host_and_port(request: &Request) -> Option<(String, u16)> {
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)?
                .to_str()
                .ok()
                .map(str::to_owned)
        })?;
    let authority: axum::http::uri::Authority = authority.parse().ok()?;
    let default_port = if request.uri().scheme_str() == Some("https") {
        443
    } else {
        80
    };
    Some((
        authority.host().to_owned(),
        authority.port_u16().unwrap_or(default_port),
    ))
}

/// Baggage comes from the client: only short, plain ids become attributes.
fn is_plausible_session_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, host: Option<&str>) -> Request {
        let mut builder = Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn the_port_is_the_authoritys_else_the_schemes() {
        let cases = [
            (
                "/api/products",
                Some("shop.example:8080"),
                ("shop.example", 8080),
            ),
            ("/api/products", Some("shop.example"), ("shop.example", 80)),
            (
                "http://shop.example/api/products",
                None,
                ("shop.example", 80),
            ),
            (
                "https://shop.example/api/products",
                None,
                ("shop.example", 443),
            ),
            (
                "https://shop.example:8443/api/products",
                None,
                ("shop.example", 8443),
            ),
        ];
        for (uri, host, (address, port)) in cases {
            assert_eq!(
                host_and_port(&request(uri, host)),
                Some((address.to_owned(), port)),
                "{uri} {host:?}"
            );
        }
        assert_eq!(host_and_port(&request("/api/products", None)), None);
    }
}
