//! Browser-only behaviour, in headless Chromium (`wasm-bindgen-test`): the clock, the ids, the
//! exporter's batching and flushing, and the SDK's span rules (limits, attributes, end, status,
//! parents, sampling) as they arrive, OTLP-encoded, at a real local HTTP receiver
//! (`scripts/test-receiver.py`, started by `scripts/test.sh`, its URL baked in at compile time).
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use common::{RECEIVER, exported};
use opentelemetry::trace::{Span as _, Tracer as _};
use otel_browser::{BrowserTelemetry, Config, clock, ids};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

/// Telemetry exporting to `endpoint`, sending `schedule_delay` after the first waiting span.
fn install(endpoint: &str, schedule_delay: Duration) -> BrowserTelemetry {
    BrowserTelemetry::install(Config {
        endpoint: endpoint.to_owned().into(),
        schedule_delay,
        ..Default::default()
    })
}

/// The spans of every export the receiver got: (export index, span name).
async fn exported_spans() -> Vec<(usize, String)> {
    exported()
        .await
        .into_iter()
        .map(|(i, span)| (i, span.name))
        .collect()
}

/// Waits (bounded) until `done` holds for the exported spans.
async fn wait_for_export(
    what: &str,
    done: impl Fn(&[(usize, String)]) -> bool,
) -> Vec<(usize, String)> {
    common::wait_for(what, || async {
        let spans = exported_spans().await;
        done(&spans).then_some(spans)
    })
    .await
}

#[wasm_bindgen_test]
fn the_clock_is_wall_time_with_sub_millisecond_resolution() {
    let date_now = js_sys::Date::now();
    let readings: Vec<f64> = (0..200).map(|_| clock::unix_millis(clock::now())).collect();
    assert!(
        (readings[0] - date_now).abs() < 50.0,
        "{} vs Date.now() {date_now}",
        readings[0]
    );
    assert!(readings.windows(2).all(|w| w[1] >= w[0]), "monotonic");
    assert!(
        readings
            .windows(2)
            .any(|w| w[1] > w[0] && w[1] - w[0] < 1.0),
        "two readings less than a millisecond apart are told apart"
    );
}

#[wasm_bindgen_test]
fn ids_come_from_crypto_and_are_distinct() {
    let ids: std::collections::HashSet<String> =
        (0..200).map(|_| ids::new_trace_id().to_string()).collect();
    assert_eq!(ids.len(), 200);
    assert!(!ids.contains("00000000000000000000000000000000"));
}

#[wasm_bindgen_test]
async fn spans_are_batched_into_one_request_after_the_schedule_delay() {
    let telemetry = BrowserTelemetry::install(Config {
        service_name: "browser-test".into(),
        endpoint: format!("{RECEIVER}/v1/traces").into(),
        schedule_delay: Duration::from_millis(200),
        ..Default::default()
    });
    let tracer = telemetry.tracer("test");
    for name in ["batch-a", "batch-b", "batch-c"] {
        tracer.start(name).end();
    }
    let spans = wait_for_export("the scheduled batch", |spans| {
        ["batch-a", "batch-b", "batch-c"]
            .iter()
            .all(|n| spans.iter().any(|(_, s)| s == n))
    })
    .await;
    let requests: std::collections::HashSet<usize> = spans
        .iter()
        .filter(|(_, s)| s.starts_with("batch-"))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(
        requests.len(),
        1,
        "three spans ended together go out in one request"
    );
    assert_eq!(telemetry.dropped_spans(), 0);
}

#[wasm_bindgen_test]
async fn flush_sends_what_waits_without_waiting_for_the_schedule() {
    let telemetry = install(&format!("{RECEIVER}/v1/traces"), Duration::from_secs(3600));
    let mut span = telemetry.tracer("test").start("flushed-now");
    span.end();
    telemetry.flush().await;
    let spans = exported_spans().await;
    assert!(
        spans.iter().any(|(_, s)| s == "flushed-now"),
        "flush must have sent the span already"
    );
    assert_eq!(telemetry.failed_exports(), 0);
}

#[wasm_bindgen_test]
async fn a_collector_that_is_down_costs_a_counted_failure_and_nothing_else() {
    // Nothing listens on port 9 here (and Chromium refuses it outright): the fetch fails at once, as
    // it does when the collector is down.
    let telemetry = install("http://127.0.0.1:9/v1/traces", Duration::from_secs(3600));
    telemetry.tracer("test").start("lost").end();
    telemetry.flush().await;
    assert_eq!(telemetry.failed_exports(), 1);
}

#[wasm_bindgen_test]
fn the_queue_drops_and_counts_beyond_its_bound() {
    let telemetry = BrowserTelemetry::install(Config {
        endpoint: format!("{RECEIVER}/v1/traces").into(),
        max_queue_size: 10,
        max_batch_size: 1000,
        schedule_delay: Duration::from_secs(3600),
        ..Default::default()
    });
    let tracer = telemetry.tracer("test");
    for _ in 0..15 {
        tracer.start("bounded").end();
    }
    assert_eq!(telemetry.dropped_spans(), 5);
}

#[wasm_bindgen_test]
async fn pagehide_sends_what_waits_at_once() {
    let telemetry = install(&format!("{RECEIVER}/v1/traces"), Duration::from_secs(3600));
    telemetry.tracer("test").start("sent-on-pagehide").end();
    let window = web_sys::window().expect("window");
    window
        .dispatch_event(&web_sys::Event::new("pagehide").expect("event"))
        .expect("dispatched");
    wait_for_export("the pagehide flush", |spans| {
        spans.iter().any(|(_, s)| s == "sent-on-pagehide")
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_collector_that_never_answers_is_given_up_on_and_counted() {
    let telemetry = install(
        &format!("{RECEIVER}/hang/v1/traces"),
        Duration::from_secs(3600),
    );
    telemetry.tracer("test").start("never-answered").end();
    // The send is abandoned after its 5 s timeout rather than held for the collector's 20 s.
    telemetry.flush().await;
    assert_eq!(telemetry.failed_exports(), 1);
}

#[wasm_bindgen_test]
async fn full_batches_go_at_once_and_flush_sends_the_rest() {
    let telemetry = BrowserTelemetry::install(Config {
        endpoint: format!("{RECEIVER}/v1/traces").into(),
        max_batch_size: 2,
        schedule_delay: Duration::from_secs(3600),
        ..Default::default()
    });
    let tracer = telemetry.tracer("test");
    let names = ["full-1", "full-2", "full-3", "full-4", "full-5"];
    for name in names {
        tracer.start(name).end();
    }
    telemetry.flush().await;
    let spans = wait_for_export("all five spans", |spans| {
        names.iter().all(|n| spans.iter().any(|(_, s)| s == n))
    })
    .await;
    let requests: std::collections::HashSet<usize> = spans
        .iter()
        .filter(|(_, s)| s.starts_with("full-"))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(requests.len(), 3, "two full batches and the rest");
    assert_eq!(telemetry.failed_exports(), 0);
}
