//! The instrumentations in headless Chromium (`wasm-bindgen-test`), checked on what a real local
//! receiver (test-support's `test-receiver`, another origin than the test page) gets: traced fetch
//! and its CORS allow-list, the propagators, uncaught errors and rejections, sessions,
//! interactions. Each test reads only its own service's spans and its own requests.
#![cfg(target_arch = "wasm32")]

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime},
};

use common::{RECEIVER, Service};
use opentelemetry::{
    Context,
    trace::{Span as _, TraceContextExt as _, Tracer as _},
};
use otel_browser::{
    errors::Errors,
    fetch::FetchInstrumentation,
    session::{Session, SessionConfig},
};
use test_support::trace::{self, Span, SpanKind};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

/// The text attribute `key` of `span`'s first event named `event`.
fn event_attr<'a>(span: &'a Span, event: &str, key: &str) -> Option<&'a str> {
    span.event(event)?.attributes.string(key)
}

/// The `traceparent` a request sent in `span`'s context carries.
fn traceparent_of(span: &Span) -> String {
    format!("00-{}-{}-03", span.trace_id, span.span_id)
}

async fn sleep(ms: u64) {
    gloo_timers::future::sleep(Duration::from_millis(ms)).await;
}

#[wasm_bindgen_test]
async fn a_traced_fetch_is_a_client_span_with_the_http_conventions() {
    let service = Service::new("fetch.client");
    let telemetry = service.install();
    let fetch = FetchInstrumentation::new(telemetry.tracer("fetch")).propagate_to(RECEIVER);
    let root = telemetry
        .tracer("fetch")
        .start_with_context("fetch-root", &Context::new());
    let cx = Context::new().with_span(root);
    let url = service.url("/api/products");
    let request = web_sys::Request::new_with_str(&url).expect("request");
    let response = fetch.fetch(&request, &cx).await.expect("fetched");
    assert_eq!(response.status(), 200);
    cx.span().end();

    let spans = service.flushed(&telemetry).await;
    let span = trace::one(&spans, "GET");
    let root_id = cx.span().span_context().span_id().to_string();
    assert_eq!(
        span.parent_id, root_id,
        "the CLIENT span, child of the root"
    );
    assert_eq!(span.kind, SpanKind::Client);
    let attributes = &span.wire.attributes;
    assert_eq!(attributes.string("http.request.method"), Some("GET"));
    assert_eq!(attributes.string("url.full"), Some(url.as_str()));
    assert_eq!(attributes.string("server.address"), Some("127.0.0.1"));
    let port: i64 = RECEIVER
        .rsplit(':')
        .next()
        .expect("port")
        .parse()
        .expect("a port");
    assert_eq!(attributes.int("server.port"), Some(port));
    assert_eq!(attributes.int("http.response.status_code"), Some(200));
    // The exporter's own requests (to the same receiver) are never traced: after the flush's
    // request, a second flush finds nothing new.
    let every = service.flushed(&telemetry).await;
    let names: Vec<&str> = every.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["GET", "fetch-root"], "an export request was traced");
    // The allow-listed receiver got this span's context.
    let sent = service.request("/api/products").await;
    assert_eq!(sent.traceparent, traceparent_of(span));
}

#[wasm_bindgen_test]
async fn a_cross_origin_url_off_the_allow_list_gets_no_trace_headers_and_succeeds() {
    let service = Service::new("fetch.cors");
    let telemetry = service.install();
    // The receiver is another origin, and not on this allow-list.
    let fetch =
        FetchInstrumentation::new(telemetry.tracer("cors")).propagate_to("https://api.example.com");
    let url = service.url("/strict/products");
    let request = web_sys::Request::new_with_str(&url).expect("request");
    let response = fetch.fetch(&request, &Context::new()).await;
    assert_eq!(
        response.expect("no preflight to fail").status(),
        200,
        "the request succeeds"
    );
    assert_eq!(service.request("/strict/products").await.traceparent, "");

    // Allowed there, the same request sends `traceparent`, which that server's CORS policy does
    // not allow: its preflight fails, and the span says so.
    let fetch = FetchInstrumentation::new(telemetry.tracer("cors")).propagate_to(RECEIVER);
    let request = web_sys::Request::new_with_str(&url).expect("request");
    let error = fetch
        .fetch(&request, &Context::new())
        .await
        .expect_err("the preflight refuses traceparent");
    assert!(error.is_instance_of::<js_sys::TypeError>());
    // Both requests' spans, the first a success, the second the failure (the preflight's request
    // never reached the receiver: the one request it recorded above is the first).
    let spans = service.flushed(&telemetry).await;
    let names: Vec<(&str, &str, bool)> = (spans.iter())
        .map(|s| (s.name.as_str(), s.attr("url.full"), s.is_error))
        .collect();
    assert_eq!(names, [("GET", &*url, false), ("GET", &*url, true)]);
    assert_eq!(spans[1].attr("error.type"), "TypeError");
}

#[wasm_bindgen_test]
async fn an_error_status_is_an_error_span() {
    let service = Service::new("fetch.status");
    let telemetry = service.install();
    let fetch = FetchInstrumentation::new(telemetry.tracer("status")).propagate_to(RECEIVER);
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let url = service.url("/api/checkout");
    let request = web_sys::Request::new_with_str_and_init(&url, &init).expect("request");
    let response = fetch
        .fetch(&request, &Context::new())
        .await
        .expect("answered");
    assert_eq!(response.status(), 402);
    let span = service.the_span(&telemetry, "POST").await;
    assert_eq!(span.attr("url.full"), url);
    assert_eq!(span.attr("error.type"), "402");
    assert!(span.is_error);
}

#[wasm_bindgen_test]
async fn uncaught_errors_and_unhandled_rejections_become_exception_events() {
    let service = Service::new("errors.uncaught");
    let telemetry = service.install();
    let _errors = Errors::install(&telemetry.tracer("errors-test"), |_| {});
    // Thrown from a timer, with no Rust frame between: the window's `error` event.
    let throw = js_sys::Function::new_no_args("throw new RangeError('boom from a timer')");
    web_sys::window()
        .expect("window")
        .set_timeout_with_callback(&throw)
        .expect("timer");
    // A promise rejected with no handler: `unhandledrejection`.
    let _ = js_sys::Function::new_no_args("Promise.reject(new TypeError('refused on purpose'))")
        .call0(&JsValue::UNDEFINED);

    // Sent at once, with keepalive: no flush here.
    let spans = common::wait_for("both exceptions exported", || async {
        let spans = service.spans().await;
        (spans.len() >= 2).then_some(spans)
    })
    .await;
    assert!(spans.iter().all(|s| s.name == "exception"), "{spans:?}");
    let of = |message: &str| {
        let mut found = (spans.iter())
            .filter(|s| event_attr(s, "exception", "exception.message") == Some(message));
        let span = (found.next())
            .unwrap_or_else(|| panic!("an exception span for {message:?}: {spans:?}"));
        assert!(found.next().is_none(), "one exception span for {message:?}");
        span
    };
    let thrown = of("boom from a timer");
    assert_eq!(
        event_attr(thrown, "exception", "exception.type"),
        Some("RangeError")
    );
    let stack = event_attr(thrown, "exception", "exception.stacktrace").expect("a stack");
    assert!(stack.contains("RangeError"), "{stack}");
    assert!(thrown.is_error);
    assert_eq!(thrown.attr("error.type"), "RangeError");
    let rejected = of("refused on purpose");
    assert_eq!(
        event_attr(rejected, "exception", "exception.type"),
        Some("TypeError")
    );
    assert_eq!(rejected.attr("error.type"), "TypeError");
}

/// The controlled clock of the session tests, in milliseconds since the epoch.
static NOW_MS: AtomicU64 = AtomicU64::new(1_800_000_000_000);

fn controlled_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(NOW_MS.load(Ordering::SeqCst))
}

fn advance_minutes(minutes: u64) {
    NOW_MS.fetch_add(minutes * 60_000, Ordering::SeqCst);
}

#[wasm_bindgen_test]
async fn sessions_rotate_after_15_idle_minutes_and_after_4_hours_with_the_previous_id() {
    let service = Service::new("session.rotation");
    let telemetry = service.install();
    let key = "otel-browser.session.test";
    let storage = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .expect("localStorage");
    storage.remove_item(key).expect("clean storage");
    // The only test of this binary that installs the page's session.
    let session = Session::install(SessionConfig {
        storage_key: key.into(),
        clock: controlled_now,
        ..Default::default()
    });
    let tracer = telemetry.tracer("session");
    let first = session.id();
    assert_eq!(first.len(), 32);
    let stored = storage.get_item(key).expect("read").expect("stored");
    assert!(
        stored.starts_with(&first),
        "shared through localStorage: {stored}"
    );
    let ids = rotate_idle_then_at_four_hours(&tracer, &session, first);
    let other = join_another_tabs_session(&tracer, &session, &storage, key, &ids[2]);
    let spans = service.flushed(&telemetry).await;
    assert_each_span_carries_its_session_and_each_rotation_its_events(&spans, &ids);
    // And the session goes out as baggage, here through the global propagators.
    opentelemetry::global::set_text_map_propagator(otel_browser::propagation::W3c);
    let fetch = FetchInstrumentation::new(tracer)
        .with_global_propagators()
        .propagate_to(RECEIVER);
    let request = web_sys::Request::new_with_str(&service.url("/api/products")).expect("request");
    fetch
        .fetch(&request, &Context::new())
        .await
        .expect("fetched");
    let sent = service.request("/api/products").await;
    assert_eq!(sent.baggage, format!("session.id={other}"));
}

/// Spans `session-a` and `-b` 14 idle minutes apart (one session), `-c` 16 minutes later (a new
/// one), then a span every 10 minutes until `-d`, 4 hours after the second began (a third): the
/// three ids.
fn rotate_idle_then_at_four_hours(
    tracer: &otel_browser::Tracer,
    session: &Session,
    first: String,
) -> [String; 3] {
    let span = |name: &'static str| tracer.start_with_context(name, &Context::new()).end();
    span("session-a");
    advance_minutes(14);
    span("session-b");
    advance_minutes(16);
    span("session-c");
    let second = session.id();
    assert_ne!(second, first, "rotated after 16 idle minutes");
    // Active every 10 minutes, the session still ends 4 hours after it began.
    for _ in 0..23 {
        advance_minutes(10);
        span("session-kept");
    }
    assert_eq!(session.id(), second, "kept alive for 230 minutes");
    advance_minutes(10);
    span("session-d");
    let third = session.id();
    assert_ne!(third, second, "rotated at 4 hours");
    [first, second, third]
}

/// Another tab's session, as it would store it: this tab goes by its own copy (`current`) for a
/// second, then reads storage and joins the other tab's live session, whose id it returns.
fn join_another_tabs_session(
    tracer: &otel_browser::Tracer,
    session: &Session,
    storage: &web_sys::Storage,
    key: &str,
    current: &str,
) -> String {
    let now = NOW_MS.load(Ordering::SeqCst);
    let other = "0123456789abcdef0123456789abcdef";
    storage
        .set_item(key, &format!("{other}.{now:016x}.{now:016x}"))
        .expect("another tab's session");
    tracer
        .start_with_context("session-e", &Context::new())
        .end();
    assert_eq!(session.id(), current, "within the second: this tab's copy");
    advance_minutes(1);
    assert_eq!(
        session.id(),
        other,
        "after it: the other tab's session, still alive"
    );
    other.to_owned()
}

/// Each span has the id of the session it ran in; the first span of a new session carries
/// `session.end` of the old one and `session.start` of the new, with the previous id.
fn assert_each_span_carries_its_session_and_each_rotation_its_events(
    spans: &[Span],
    [first, second, third]: &[String; 3],
) {
    let named = |name: &str| trace::one(spans, name);
    for (name, id) in [
        ("session-a", first),
        ("session-b", first),
        ("session-c", second),
        ("session-d", third),
    ] {
        assert_eq!(named(name).attr("session.id"), id.as_str(), "{name}");
    }
    let c = named("session-c");
    assert_eq!(event_attr(c, "session.end", "session.id"), Some(&**first));
    assert_eq!(
        event_attr(c, "session.start", "session.id"),
        Some(&**second)
    );
    assert_eq!(
        event_attr(c, "session.start", "session.previous_id"),
        Some(&**first)
    );
    let d = named("session-d");
    assert_eq!(
        event_attr(d, "session.start", "session.previous_id"),
        Some(&**second)
    );
    assert!(
        named("session-b").wire.events.is_empty(),
        "no event while the session lasts"
    );
}

#[wasm_bindgen_test]
async fn an_interaction_span_parents_what_its_handler_does() {
    let service = Service::new("interaction.click");
    let telemetry = service.install();
    let tracer = telemetry.tracer("interaction");
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let button = document.create_element("button").expect("button");
    button
        .set_attribute("data-testid", "buy-now")
        .expect("attribute");
    document
        .body()
        .expect("body")
        .append_child(&button)
        .expect("appended");
    let child_tracer = tracer.clone();
    let on_click = otel_browser::interaction::traced(&tracer, move |_event, cx| {
        let tracer = child_tracer.clone();
        async move {
            sleep(20).await;
            // The handler's context is the current one while its future runs.
            assert_eq!(
                Context::current().span().span_context().span_id(),
                cx.span().span_context().span_id()
            );
            tracer.start_with_context("interaction-child", &cx).end();
        }
    });
    button
        .add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref())
        .expect("listener");
    button.unchecked_ref::<web_sys::HtmlElement>().click();

    // The handler's future ends after its own 20 ms; the child is exported once it has.
    let spans = common::wait_for("the handler's child span", || async {
        let spans = service.flushed(&telemetry).await;
        spans
            .iter()
            .any(|s| s.name == "interaction-child")
            .then_some(spans)
    })
    .await;
    let click = trace::one(&spans, "click buy-now");
    assert!(click.parent_id.is_empty(), "a root");
    let child = trace::one(&spans, "interaction-child");
    assert_eq!(child.parent_id, click.span_id);
    assert!(child.end_ns <= click.end_ns, "ends after its work");
    drop(on_click);
}

#[cfg(feature = "gloo-net")]
#[wasm_bindgen_test]
async fn a_gloo_net_request_is_traced_the_same_way() {
    let service = Service::new("fetch.gloo-net");
    let telemetry = service.install();
    let fetch = FetchInstrumentation::new(telemetry.tracer("gloo")).propagate_to(RECEIVER);
    let url = service.url("/api/products");
    let response = fetch
        .send(gloo_net::http::Request::get(&url), &Context::new())
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "[]");
    let span = service.the_span(&telemetry, "GET").await;
    let sent = service.request("/api/products").await;
    assert_eq!(
        sent.traceparent,
        traceparent_of(&span),
        "the request carried its span's context"
    );
    assert_eq!(span.attr("url.full"), url);
    assert_eq!(
        span.wire.attributes.int("http.response.status_code"),
        Some(200)
    );
}
