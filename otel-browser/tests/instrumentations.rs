//! The instrumentations in headless Chromium (`wasm-bindgen-test`), checked on what a real local
//! receiver (`scripts/test-receiver.py`, another origin than the test page) gets: traced fetch and
//! its CORS allow-list, the propagators, uncaught errors and rejections, sessions, interactions.
#![cfg(target_arch = "wasm32")]

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime},
};

use common::{RECEIVER, attr, exported_named, install, received};
use opentelemetry::{
    Context,
    trace::{Span as _, TraceContextExt as _, Tracer as _},
};
use opentelemetry_proto::tonic::trace::v1::{Span as ExportedSpan, status::StatusCode};
use otel_browser::{
    Config,
    errors::Errors,
    fetch::FetchInstrumentation,
    session::{Session, SessionConfig},
};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

/// The last request to `path` the receiver recorded, with its trace headers.
async fn recorded_request(path: &str) -> serde_json::Value {
    let received = received().await;
    (received["requests"].as_array().expect("requests").iter())
        .rfind(|r| r["path"] == path)
        .cloned()
        .expect("the request reached the receiver")
}

fn hex_trace_id(span: &ExportedSpan) -> String {
    otel_browser::text::hex(&span.trace_id)
}

fn event_attr(span: &ExportedSpan, event: &str, key: &str) -> Option<String> {
    let event = span.events.iter().find(|e| e.name == event)?;
    let kv = event.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

async fn sleep(ms: u64) {
    gloo_timers::future::sleep(Duration::from_millis(ms)).await;
}

#[wasm_bindgen_test]
async fn a_traced_fetch_is_a_client_span_with_the_http_conventions() {
    let telemetry = install(Config::default());
    let fetch = FetchInstrumentation::new(telemetry.tracer("fetch")).propagate_to(RECEIVER);
    let root = telemetry
        .tracer("fetch")
        .start_with_context("fetch-root", &Context::new());
    let cx = Context::new().with_span(root);
    let url = format!("{RECEIVER}/api/products");
    let request = web_sys::Request::new_with_str(&url).expect("request");
    let response = fetch.fetch(&request, &cx).await.expect("fetched");
    assert_eq!(response.status(), 200);
    cx.span().end();

    let spans = exported_named(&telemetry, "GET").await;
    let root_id = cx.span().span_context().span_id().to_bytes();
    let span = spans
        .iter()
        .find(|s| s.parent_span_id == root_id)
        .expect("the CLIENT span, child of the root");
    assert_eq!(span.kind, 3, "CLIENT");
    assert_eq!(attr(span, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr(span, "url.full").as_deref(), Some(url.as_str()));
    assert_eq!(attr(span, "server.address").as_deref(), Some("127.0.0.1"));
    let port = RECEIVER.rsplit(':').next().expect("port");
    assert_eq!(attr(span, "server.port").as_deref(), Some(port));
    assert_eq!(
        attr(span, "http.response.status_code").as_deref(),
        Some("200")
    );
    // The exporter's own requests (to the same receiver) are never traced.
    let every = exported_named(&telemetry, "").await;
    assert!(
        every
            .iter()
            .all(|s| !attr(s, "url.full").is_some_and(|u| u.ends_with("/v1/traces"))),
        "an export request was traced"
    );
    // The allow-listed receiver got this span's context.
    let sent = recorded_request("/api/products").await;
    assert_eq!(
        sent["traceparent"],
        format!(
            "00-{}-{}-03",
            hex_trace_id(span),
            otel_browser::text::hex(&span.span_id)
        )
    );
}

#[wasm_bindgen_test]
async fn a_cross_origin_url_off_the_allow_list_gets_no_trace_headers_and_succeeds() {
    let telemetry = install(Config::default());
    // The receiver is another origin, and not on this allow-list.
    let fetch =
        FetchInstrumentation::new(telemetry.tracer("cors")).propagate_to("https://api.example.com");
    let url = format!("{RECEIVER}/strict/products");
    let request = web_sys::Request::new_with_str(&url).expect("request");
    let response = fetch.fetch(&request, &Context::new()).await;
    assert_eq!(
        response.expect("no preflight to fail").status(),
        200,
        "the request succeeds"
    );
    assert_eq!(
        recorded_request("/strict/products").await["traceparent"],
        ""
    );

    // Allowed there, the same request sends `traceparent`, which that server's CORS policy does
    // not allow: its preflight fails, and the span says so.
    let fetch = FetchInstrumentation::new(telemetry.tracer("cors")).propagate_to(RECEIVER);
    let request = web_sys::Request::new_with_str(&url).expect("request");
    let error = fetch
        .fetch(&request, &Context::new())
        .await
        .expect_err("the preflight refuses traceparent");
    assert!(error.is_instance_of::<js_sys::TypeError>());
    let spans = exported_named(&telemetry, "GET").await;
    let failed = spans
        .iter()
        .rfind(|s| attr(s, "url.full").as_deref() == Some(url.as_str()) && s.status.is_some())
        .filter(|s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.code == StatusCode::Error as i32)
        })
        .expect("the failed request's span, with Error status");
    assert_eq!(attr(failed, "error.type").as_deref(), Some("TypeError"));
}

#[wasm_bindgen_test]
async fn an_error_status_is_an_error_span() {
    let telemetry = install(Config::default());
    let fetch = FetchInstrumentation::new(telemetry.tracer("status")).propagate_to(RECEIVER);
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let url = format!("{RECEIVER}/api/checkout");
    let request = web_sys::Request::new_with_str_and_init(&url, &init).expect("request");
    let response = fetch
        .fetch(&request, &Context::new())
        .await
        .expect("answered");
    assert_eq!(response.status(), 402);
    let spans = exported_named(&telemetry, "POST").await;
    let span = spans
        .iter()
        .rfind(|s| attr(s, "url.full").as_deref() == Some(url.as_str()))
        .expect("span");
    assert_eq!(attr(span, "error.type").as_deref(), Some("402"));
    assert_eq!(
        span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
}

#[wasm_bindgen_test]
async fn uncaught_errors_and_unhandled_rejections_become_exception_events() {
    let telemetry = install(Config::default());
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
        let spans: Vec<_> = (common::exported().await.into_iter())
            .map(|(_, s)| s)
            .filter(|s| s.name == "exception")
            .collect();
        let has = |message: &str| {
            (spans.iter()).any(|s| {
                event_attr(s, "exception", "exception.message").as_deref() == Some(message)
            })
        };
        (has("boom from a timer") && has("refused on purpose")).then_some(spans)
    })
    .await;
    let of = |message: &str| {
        spans
            .iter()
            .find(|s| event_attr(s, "exception", "exception.message").as_deref() == Some(message))
            .unwrap_or_else(|| panic!("an exception span for {message:?}: {spans:?}"))
    };
    let thrown = of("boom from a timer");
    assert_eq!(
        event_attr(thrown, "exception", "exception.type").as_deref(),
        Some("RangeError")
    );
    let stack = event_attr(thrown, "exception", "exception.stacktrace").expect("a stack");
    assert!(stack.contains("RangeError"), "{stack}");
    assert_eq!(
        thrown.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert_eq!(attr(thrown, "error.type").as_deref(), Some("RangeError"));
    let rejected = of("refused on purpose");
    assert_eq!(
        event_attr(rejected, "exception", "exception.type").as_deref(),
        Some("TypeError")
    );
    assert_eq!(attr(rejected, "error.type").as_deref(), Some("TypeError"));
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
    let telemetry = install(Config::default());
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

    tracer
        .start_with_context("session-a", &Context::new())
        .end();
    advance_minutes(14);
    tracer
        .start_with_context("session-b", &Context::new())
        .end();
    advance_minutes(16);
    tracer
        .start_with_context("session-c", &Context::new())
        .end();
    let second = session.id();
    assert_ne!(second, first, "rotated after 16 idle minutes");
    // Active every 10 minutes, the session still ends 4 hours after it began.
    for _ in 0..23 {
        advance_minutes(10);
        tracer
            .start_with_context("session-kept", &Context::new())
            .end();
    }
    assert_eq!(session.id(), second, "kept alive for 230 minutes");
    advance_minutes(10);
    tracer
        .start_with_context("session-d", &Context::new())
        .end();
    let third = session.id();
    assert_ne!(third, second, "rotated at 4 hours");
    // Another tab's session, as it would store it: this tab goes by its own copy for a second,
    // then reads storage and joins the other tab's live session.
    let now = NOW_MS.load(Ordering::SeqCst);
    let other = "0123456789abcdef0123456789abcdef";
    storage
        .set_item(key, &format!("{other}.{now:016x}.{now:016x}"))
        .expect("another tab's session");
    tracer
        .start_with_context("session-e", &Context::new())
        .end();
    assert_eq!(session.id(), third, "within the second: this tab's copy");
    advance_minutes(1);
    assert_eq!(
        session.id(),
        other,
        "after it: the other tab's session, still alive"
    );

    let spans = exported_named(&telemetry, "session-").await;
    let named = |name: &str| {
        spans
            .iter()
            .rfind(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    for (name, id) in [
        ("session-a", &first),
        ("session-b", &first),
        ("session-c", &second),
        ("session-d", &third),
    ] {
        assert_eq!(attr(named(name), "session.id").as_ref(), Some(id), "{name}");
    }
    let c = named("session-c");
    assert_eq!(
        event_attr(c, "session.end", "session.id"),
        Some(first.clone())
    );
    assert_eq!(
        event_attr(c, "session.start", "session.id"),
        Some(second.clone())
    );
    assert_eq!(
        event_attr(c, "session.start", "session.previous_id"),
        Some(first)
    );
    let d = named("session-d");
    assert_eq!(
        event_attr(d, "session.start", "session.previous_id"),
        Some(second)
    );
    assert!(
        named("session-b").events.is_empty(),
        "no event while the session lasts"
    );
    // And the session goes out as baggage, here through the global propagators.
    opentelemetry::global::set_text_map_propagator(otel_browser::propagation::W3c);
    let fetch = FetchInstrumentation::new(tracer)
        .with_global_propagators()
        .propagate_to(RECEIVER);
    let request =
        web_sys::Request::new_with_str(&format!("{RECEIVER}/api/products")).expect("request");
    fetch
        .fetch(&request, &Context::new())
        .await
        .expect("fetched");
    let sent = recorded_request("/api/products").await;
    assert_eq!(sent["baggage"], format!("session.id={other}"));
}

#[wasm_bindgen_test]
async fn an_interaction_span_parents_what_its_handler_does() {
    let telemetry = install(Config::default());
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
        let spans = exported_named(&telemetry, "").await;
        spans
            .iter()
            .any(|s| s.name == "interaction-child")
            .then_some(spans)
    })
    .await;
    let click = spans
        .iter()
        .rfind(|s| s.name == "click buy-now")
        .expect("the interaction span");
    assert!(click.parent_span_id.is_empty(), "a root");
    let child = spans
        .iter()
        .rfind(|s| s.name == "interaction-child")
        .expect("child");
    assert_eq!(child.parent_span_id, click.span_id);
    assert!(
        child.end_time_unix_nano <= click.end_time_unix_nano,
        "ends after its work"
    );
    drop(on_click);
}

#[cfg(feature = "gloo-net")]
#[wasm_bindgen_test]
async fn a_gloo_net_request_is_traced_the_same_way() {
    let telemetry = install(Config::default());
    let fetch = FetchInstrumentation::new(telemetry.tracer("gloo")).propagate_to(RECEIVER);
    let url = format!("{RECEIVER}/api/products");
    let response = fetch
        .send(gloo_net::http::Request::get(&url), &Context::new())
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "[]");
    let spans = exported_named(&telemetry, "GET").await;
    let sent = recorded_request("/api/products").await;
    let span = spans
        .iter()
        .rfind(|s| {
            sent["traceparent"].as_str()
                == Some(&format!(
                    "00-{}-{}-03",
                    hex_trace_id(s),
                    otel_browser::text::hex(&s.span_id)
                ))
        })
        .expect("the span whose context the request carried");
    assert_eq!(attr(span, "url.full").as_deref(), Some(url.as_str()));
    assert_eq!(
        attr(span, "http.response.status_code").as_deref(),
        Some("200")
    );
}
