//! Web Vitals in headless Chromium (`wasm-bindgen-test`), checked on what reaches the real local
//! receiver (test-support's `test-receiver`) from each test's own service: TTFB, FCP, LCP and CLS as `browser.web_vital` events on
//! a `pageView` span that a `pagehide` ends in time for the SDK's keepalive flush, a later report
//! on a new `pageView` with its delta, and nothing heard once `WebVitals` is dropped.
//! (INP needs trusted input, which a test page cannot make: its rules are tested natively.)
#![cfg(target_arch = "wasm32")]

use common::Service;
use otel_browser::web_vitals::{Metric, Rating, WebVitals};
use test_support::trace::{Event, Span, SpanKind};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

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

fn vital(event: &Event) -> Vital {
    assert_eq!(event.name, "browser.web_vital");
    let key = |key: &str| ["browser.web_vital.", key].concat();
    let text = |name: &str| {
        let value = event.attributes.string(&key(name));
        value
            .unwrap_or_else(|| panic!("{name}, a string, in {event:?}"))
            .to_owned()
    };
    let double = |name: &str| {
        let value = event.attributes.double(&key(name));
        value.unwrap_or_else(|| panic!("{name}, a double, in {event:?}"))
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

fn vitals(span: &Span) -> Vec<Vital> {
    span.wire.events.iter().map(vital).collect()
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
async fn page_views(service: &Service, count: usize) -> Vec<Span> {
    let what = format!("{count} pageView spans of {}", service.name());
    common::wait_for(&what, || async {
        let spans: Vec<_> = (service.spans().await.into_iter())
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
fn check_first_page_view(span: &Span) -> f64 {
    assert!(span.parent_id.is_empty(), "a root");
    assert_eq!(span.kind, SpanKind::Internal);
    let origin_nanos = (time_origin() * 1e6) as u64;
    assert!(
        span.start_ns.abs_diff(origin_nanos) < 1_000,
        "starts at timeOrigin"
    );
    assert!(span.end_ns > span.start_ns);
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
    for event in &span.wire.events {
        assert!((span.start_ns..=span.end_ns).contains(&event.time_ns));
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
    let service = Service::new("web-vitals.pagehide");
    let telemetry = service.install();
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
    assert_eq!(service.spans().await.len(), 2, "{spans:?}");
    let second = &spans[1];
    assert_eq!(spans[0].span_id, first.span_id);

    // The page was "shown again" and CLS grew: a new pageView, linked to the first, with the
    // CLS report's delta under the same id.
    assert!(second.parent_id.is_empty());
    assert_ne!(second.trace_id, first.trace_id, "a trace of its own");
    assert_eq!(second.wire.links.len(), 1);
    assert_eq!(second.wire.links[0].span_id, first.span_id);
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
    let service = Service::new("web-vitals.dropped");
    let telemetry = service.install();
    drop(WebVitals::install(&telemetry.tracer("web-vitals")));
    dispatch_pagehide();
    let spans = page_views(&service, 1).await;
    telemetry.flush().await;
    let spans_after = service.spans().await;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans_after.len(), 1, "nothing more: {spans_after:?}");
    let names: Vec<String> = vitals(&spans[0]).into_iter().map(|v| v.name).collect();
    assert_eq!(
        names,
        ["ttfb"],
        "reported at install; no LCP, as the pagehide went unheard"
    );
}
