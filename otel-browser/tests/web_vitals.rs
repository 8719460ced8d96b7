//! Web Vitals in headless Chromium (`wasm-bindgen-test`), checked on what reaches the real local
//! receiver (`scripts/test-receiver.py`): TTFB, FCP, LCP and CLS as `browser.web_vital` events on
//! a `pageView` span that a `pagehide` ends in time for the SDK's keepalive flush, a later report
//! on a new `pageView` with its delta, and nothing heard once `WebVitals` is dropped.
//! (INP needs trusted input, which a test page cannot make: its rules are tested natively.)
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use common::{RECEIVER, exported_by};
use opentelemetry_proto::tonic::{
    common::v1::any_value,
    trace::v1::{Span as ExportedSpan, span::Event as ExportedEvent, span::SpanKind},
};
use otel_browser::{
    BrowserTelemetry, Config,
    web_vitals::{Metric, Rating, WebVitals},
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

/// Telemetry named `service` and this page's time origin (the receiver may keep the spans of
/// earlier runs), which sends nothing by its schedule: only a flush sends.
fn install(service: &str) -> (BrowserTelemetry, String) {
    let service = [service, "-", &(time_origin() as u64).to_string()].concat();
    let telemetry = BrowserTelemetry::install(Config {
        service_name: service.clone().into(),
        endpoint: format!("{RECEIVER}/v1/traces").into(),
        schedule_delay: Duration::from_secs(3600),
        ..Default::default()
    });
    (telemetry, service)
}

/// One `browser.web_vital` event, read back.
#[derive(Debug)]
struct Vital {
    name: String,
    value: f64,
    delta: f64,
    id: String,
    rating: String,
    navigation_type: String,
}

fn vital(event: &ExportedEvent) -> Vital {
    assert_eq!(event.name, "browser.web_vital");
    let value = |key: &str| {
        let kv = (event.attributes.iter())
            .find(|kv| kv.key == ["browser.web_vital.", key].concat())
            .unwrap_or_else(|| panic!("{key} in {event:?}"));
        kv.value
            .as_ref()
            .and_then(|v| v.value.clone())
            .expect("a value")
    };
    let text = |key: &str| match value(key) {
        any_value::Value::StringValue(s) => s,
        other => panic!("{key} is a string, not {other:?}"),
    };
    let double = |key: &str| match value(key) {
        any_value::Value::DoubleValue(d) => d,
        other => panic!("{key} is a double, not {other:?}"),
    };
    Vital {
        name: text("name"),
        value: double("value"),
        delta: double("delta"),
        id: text("id"),
        rating: text("rating"),
        navigation_type: text("navigation_type"),
    }
}

fn vitals(span: &ExportedSpan) -> Vec<Vital> {
    span.events.iter().map(vital).collect()
}

/// The next animation frame.
async fn next_frame() {
    let frame = js_sys::Promise::new(&mut |resolve, _| {
        let window = web_sys::window().expect("window");
        window
            .request_animation_frame(&resolve)
            .expect("requestAnimationFrame");
    });
    JsFuture::from(frame).await.expect("a frame");
}

/// Waits (bounded, frame by frame) until the page has its first contentful paint.
async fn first_contentful_paint() {
    let painted = || {
        let performance =
            js_sys::Reflect::get(&js_sys::global(), &"performance".into()).expect("performance");
        let by_type = js_sys::Reflect::get(&performance, &"getEntriesByType".into())
            .expect("getEntriesByType")
            .unchecked_into::<js_sys::Function>();
        let paints = by_type
            .call1(&performance, &"paint".into())
            .expect("paint entries")
            .unchecked_into::<js_sys::Array>();
        paints.iter().any(|p| {
            js_sys::Reflect::get(&p, &"name".into()).ok()
                == Some(JsValue::from_str("first-contentful-paint"))
        })
    };
    for _ in 0..300 {
        if painted() {
            return;
        }
        next_frame().await;
    }
    panic!("no first-contentful-paint");
}

/// Text at the top of the page, painted.
async fn render_text() -> web_sys::Element {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let body = document.body().expect("body");
    let text = document.create_element("p").expect("p");
    text.set_text_content(Some("Web Vitals under test: contentful text."));
    body.insert_before(&text, body.first_child().as_ref())
        .expect("inserted");
    first_contentful_paint().await;
    next_frame().await;
    text
}

/// Pushes `element` down by a block of `height` px put before it: a layout shift, once painted.
async fn shift(element: &web_sys::Element, height: u32) {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let block = document.create_element("div").expect("div");
    block
        .set_attribute("style", &["height:", &height.to_string(), "px"].concat())
        .expect("style");
    let parent = element.parent_node().expect("in the page");
    parent
        .insert_before(&block, Some(element))
        .expect("inserted");
    for _ in 0..3 {
        next_frame().await;
    }
}

fn dispatch_pagehide() {
    let event = web_sys::Event::new("pagehide").expect("event");
    web_sys::window()
        .expect("window")
        .dispatch_event(&event)
        .expect("dispatched");
}

/// Waits (bounded) until the receiver has `count` `pageView` spans from `service`; flushing
/// nothing, so that only the SDK's own `pagehide` flush can have sent them.
async fn page_views(service: &str, count: usize) -> Vec<ExportedSpan> {
    common::wait_for(&format!("{count} pageView spans of {service}"), || async {
        let spans: Vec<_> = (exported_by(service).await.into_iter())
            .filter(|s| s.name == "pageView")
            .collect();
        (spans.len() >= count).then_some(spans)
    })
    .await
}

fn metric(name: &str) -> Metric {
    (Metric::ALL.into_iter())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("a known metric, not {name}"))
}

/// The first report of each metric: its delta is its value, its rating the published thresholds'
/// and its id `web-vitals`' form, its own.
fn check_first_reports(vitals: &[Vital]) {
    for vital in vitals {
        let rating = Rating::of(vital.value, metric(&vital.name).thresholds());
        assert_eq!(vital.rating, rating.as_str(), "{vital:?}");
        assert_eq!(
            vital.delta, vital.value,
            "a first report's delta is its value"
        );
        let parts: Vec<&str> = vital.id.split('-').collect();
        assert_eq!(parts.len(), 3, "{vital:?}");
        assert_eq!(parts[0], "v5");
        assert!(parts[1].len() == 13 && parts[2].len() == 13, "{vital:?}");
        assert!(
            ["navigate", "reload"].contains(&vital.navigation_type.as_str()),
            "{vital:?}"
        );
    }
    let mut ids: Vec<&str> = vitals.iter().map(|v| v.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), vitals.len(), "one id per metric");
}

/// The first `pageView`: a root INTERNAL span from the navigation's start, with TTFB, FCP, LCP and
/// CLS (the shift made), each once, in sane ranges.
fn check_first_page_view(span: &ExportedSpan) -> f64 {
    assert!(span.parent_span_id.is_empty(), "a root");
    assert_eq!(span.kind, SpanKind::Internal as i32);
    let origin_nanos = (time_origin() * 1e6) as u64;
    assert!(
        span.start_time_unix_nano.abs_diff(origin_nanos) < 1_000,
        "starts at timeOrigin"
    );
    assert!(span.end_time_unix_nano > span.start_time_unix_nano);
    let vitals = vitals(span);
    let names: Vec<&str> = vitals.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["ttfb", "fcp", "lcp", "cls"], "{vitals:?}");
    let [ttfb, fcp, lcp, cls] = [0, 1, 2, 3].map(|i| vitals[i].value);
    let page_age = otel_browser::clock::unix_millis(otel_browser::clock::now()) - time_origin();
    assert!((0.0..page_age).contains(&ttfb), "{ttfb}");
    assert!(ttfb <= fcp && fcp < page_age, "{fcp}");
    assert!(fcp <= lcp && lcp < page_age, "{lcp}");
    assert!(cls > 0.0 && cls < 10.0, "{cls}");
    check_first_reports(&vitals);
    for event in &span.events {
        assert!(
            (span.start_time_unix_nano..=span.end_time_unix_nano).contains(&event.time_unix_nano)
        );
    }
    cls
}

/// `performance.timeOrigin`, in milliseconds since the epoch.
fn time_origin() -> f64 {
    let performance =
        js_sys::Reflect::get(&js_sys::global(), &"performance".into()).expect("performance");
    (js_sys::Reflect::get(&performance, &"timeOrigin".into()).ok())
        .and_then(|t| t.as_f64())
        .expect("timeOrigin")
}

#[wasm_bindgen_test]
async fn vitals_ride_on_page_views_that_pagehide_ends_in_time_for_the_keepalive_flush() {
    let (telemetry, service) = install("web-vitals-pagehide");
    let web_vitals = WebVitals::install(&telemetry.tracer("web-vitals"));
    let text = render_text().await;
    shift(&text, 120).await;
    dispatch_pagehide();
    // Nothing else sends: the span ended before the SDK's flush of this same `pagehide` ran.
    let first = page_views(&service, 1).await.remove(0);
    let first_cls = check_first_page_view(&first);

    // Farther than the first: CLS grows whether this shift joins the first one's session window
    // or opens a larger one.
    shift(&text, 300).await;
    dispatch_pagehide();
    // Nothing changed since: no report, so no third `pageView`.
    dispatch_pagehide();
    let spans = page_views(&service, 2).await;
    telemetry.flush().await;
    assert_eq!(exported_by(&service).await.len(), 2, "{spans:?}");
    let second = &spans[1];
    assert_eq!(spans[0].span_id, first.span_id);

    // The page was "shown again" and CLS grew: a new pageView, linked to the first, with the
    // CLS report's delta under the same id.
    assert!(second.parent_span_id.is_empty());
    assert_ne!(second.trace_id, first.trace_id, "a trace of its own");
    assert_eq!(second.links.len(), 1);
    assert_eq!(second.links[0].span_id, first.span_id);
    let again = vitals(second);
    assert_eq!(again.len(), 1, "{again:?}");
    let cls = &again[0];
    assert_eq!(cls.name, "cls");
    assert!(cls.value > first_cls, "{cls:?}");
    assert!(
        (cls.delta - (cls.value - first_cls)).abs() < 1e-9,
        "{cls:?}"
    );
    assert_eq!(
        cls.id,
        vitals(&first)[3].id,
        "one id per metric per page view"
    );
    drop(web_vitals);
}

#[wasm_bindgen_test]
async fn dropped_web_vitals_end_their_page_view_and_hear_nothing_more() {
    let (telemetry, service) = install("web-vitals-dropped");
    drop(WebVitals::install(&telemetry.tracer("web-vitals")));
    dispatch_pagehide();
    let spans = page_views(&service, 1).await;
    telemetry.flush().await;
    let spans_after = exported_by(&service).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans_after.len(), 1, "nothing more: {spans_after:?}");
    let names: Vec<String> = vitals(&spans[0]).into_iter().map(|v| v.name).collect();
    assert_eq!(
        names,
        ["ttfb"],
        "reported at install; no LCP, as the pagehide went unheard"
    );
}
