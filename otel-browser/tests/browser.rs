//! Browser-only behaviour, in headless Chromium (`wasm-bindgen-test`): the clock, the ids, and the
//! exporter's batching, flushing and failures, checked on what arrives, OTLP-encoded, at a real
//! local HTTP receiver (test-support's `test-receiver`, started by `scripts/test.sh`, its URL
//! baked in at compile time). Each test reads only the spans of its own service.
#![cfg(target_arch = "wasm32")]

use std::{collections::HashSet, time::Duration};

use common::{RECEIVER, Service};
use opentelemetry::trace::{Span as _, Tracer as _};
use otel_browser::{BrowserTelemetry, Config, clock, ids};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

/// The exports `service` has sent, once `done` holds for them (waiting, bounded): the names of
/// each one's spans.
async fn exports_once(
    service: &Service,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<Vec<String>> {
    common::wait_for(what, || async {
        let exports: Vec<Vec<String>> = (service.exports().await.into_iter())
            .map(|spans| spans.into_iter().map(|s| s.name).collect())
            .collect();
        let names: Vec<String> = exports.concat();
        done(&names).then_some(exports)
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
    let ids: HashSet<String> = (0..200).map(|_| ids::new_trace_id().to_string()).collect();
    assert_eq!(ids.len(), 200);
    assert!(!ids.contains("00000000000000000000000000000000"));
}

#[wasm_bindgen_test]
async fn spans_are_batched_into_one_request_after_the_schedule_delay() {
    let service = Service::new("browser.schedule");
    let telemetry = BrowserTelemetry::install(Config {
        schedule_delay: Duration::from_millis(200),
        ..service.config()
    });
    let tracer = telemetry.tracer("test");
    let names = ["batch-a", "batch-b", "batch-c"];
    for name in names {
        tracer.start(name).end();
    }
    let exports = exports_once(&service, "the scheduled batch", |sent| {
        names.iter().all(|n| sent.iter().any(|s| s == n))
    })
    .await;
    assert_eq!(
        exports,
        [names.map(String::from)],
        "three spans ended together go out in one request"
    );
    assert_eq!(telemetry.dropped_spans(), 0);
}

#[wasm_bindgen_test]
async fn flush_sends_what_waits_without_waiting_for_the_schedule() {
    let service = Service::new("browser.flush");
    let telemetry = service.install();
    let mut span = telemetry.tracer("test").start("flushed-now");
    span.end();
    telemetry.flush().await;
    let spans = service.spans().await;
    assert!(
        spans.iter().any(|s| s.name == "flushed-now"),
        "flush must have sent the span already"
    );
    assert_eq!(telemetry.failed_exports(), 0);
}

#[wasm_bindgen_test]
async fn a_collector_that_is_down_costs_a_counted_failure_and_nothing_else() {
    // Nothing listens on port 9 here (and Chromium refuses it outright): the fetch fails at once, as
    // it does when the collector is down.
    let telemetry = BrowserTelemetry::install(Config {
        endpoint: "http://127.0.0.1:9/v1/traces".into(),
        ..Service::new("browser.down").config()
    });
    telemetry.tracer("test").start("lost").end();
    telemetry.flush().await;
    assert_eq!(telemetry.failed_exports(), 1);
}

#[wasm_bindgen_test]
fn the_queue_drops_and_counts_beyond_its_bound() {
    let telemetry = BrowserTelemetry::install(Config {
        max_queue_size: 10,
        max_batch_size: 1000,
        ..Service::new("browser.bounded").config()
    });
    let tracer = telemetry.tracer("test");
    for _ in 0..15 {
        tracer.start("bounded").end();
    }
    assert_eq!(telemetry.dropped_spans(), 5);
}

#[wasm_bindgen_test]
async fn pagehide_sends_what_waits_at_once() {
    let service = Service::new("browser.pagehide");
    let telemetry = service.install();
    telemetry.tracer("test").start("sent-on-pagehide").end();
    let window = web_sys::window().expect("window");
    window
        .dispatch_event(&web_sys::Event::new("pagehide").expect("event"))
        .expect("dispatched");
    exports_once(&service, "the pagehide flush", |sent| {
        sent.iter().any(|s| s == "sent-on-pagehide")
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_collector_that_never_answers_is_given_up_on_and_counted() {
    let telemetry = BrowserTelemetry::install(Config {
        endpoint: format!("{RECEIVER}/hang/v1/traces").into(),
        ..Service::new("browser.hang").config()
    });
    telemetry.tracer("test").start("never-answered").end();
    // The send is abandoned after its 5 s timeout rather than held as long as the collector
    // holds it (forever).
    telemetry.flush().await;
    assert_eq!(telemetry.failed_exports(), 1);
}

#[wasm_bindgen_test]
async fn full_batches_go_at_once_and_flush_sends_the_rest() {
    let service = Service::new("browser.full-batches");
    let telemetry = BrowserTelemetry::install(Config {
        max_batch_size: 2,
        ..service.config()
    });
    let tracer = telemetry.tracer("test");
    let names = ["full-1", "full-2", "full-3", "full-4", "full-5"];
    for name in names {
        tracer.start(name).end();
    }
    telemetry.flush().await;
    let exports = exports_once(&service, "all five spans", |sent| {
        names.iter().all(|n| sent.iter().any(|s| s == n))
    })
    .await;
    assert_eq!(
        exports.len(),
        3,
        "two full batches and the rest: {exports:?}"
    );
    let mut sizes: Vec<usize> = exports.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2, 2], "{exports:?}");
    assert_eq!(telemetry.failed_exports(), 0);
}
