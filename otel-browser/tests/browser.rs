//! Browser-only behaviour, in headless Chromium (`wasm-bindgen-test`): the clock, the ids, and the
//! exporter's batching, flushing and failures, checked on what arrives, OTLP-encoded, at a real
//! local HTTP receiver (test-support's `test-receiver`, started by `scripts/test.sh`, its URL
//! baked in at compile time). Each test reads only the spans of its own service.
#![cfg(target_arch = "wasm32")]

use std::{collections::HashSet, future::Future as _, time::Duration};

use common::{RECEIVER, Service};
use opentelemetry::trace::{Span as _, Tracer as _};
use otel_browser::{BrowserTelemetry, Config, Dropped, clock, ids};
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
    assert_eq!(telemetry.dropped(), Dropped::default());
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
async fn a_collector_that_is_down_is_tried_again_on_the_backoff_then_the_loss_is_counted() {
    // Nothing listens on port 9 here (and Chromium refuses it outright): the fetch fails at once, as
    // it does when the collector is down. Two attempts, 1 s apart (±20 %), then the batch is lost.
    let telemetry = BrowserTelemetry::install(Config {
        endpoint: "http://127.0.0.1:9/v1/traces".into(),
        max_export_attempts: 2,
        ..Service::new("browser.down").config()
    });
    telemetry.tracer("test").start("lost").end();
    let started = clock::unix_millis(clock::now());
    telemetry.flush().await;
    let took = clock::unix_millis(clock::now()) - started;
    assert_eq!(telemetry.failed_exports(), 2);
    assert!(
        (800.0..2_000.0).contains(&took),
        "{took} ms for two attempts"
    );
    assert_eq!(
        telemetry.dropped(),
        Dropped {
            retries_exhausted: 1,
            ..Default::default()
        }
    );
}

#[wasm_bindgen_test]
async fn a_throttled_export_waits_for_retry_after_then_arrives() {
    // The receiver's /throttled answers 503 with `Retry-After: 1` twice, then accepts.
    let service = Service::new("browser.throttled");
    let telemetry = BrowserTelemetry::install(Config {
        endpoint: format!("{RECEIVER}/throttled/v1/traces").into(),
        ..service.config()
    });
    telemetry.tracer("test").start("throttled").end();
    let started = clock::unix_millis(clock::now());
    let spans = service.flushed(&telemetry).await;
    let took = clock::unix_millis(clock::now()) - started;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["throttled"]);
    assert_eq!(telemetry.failed_exports(), 2);
    // Two waits of `Retry-After: 1` (whole seconds: the header's unit), not the backoff's jitter.
    assert!(took >= 1_900.0, "sent again before Retry-After: {took} ms");
    assert_eq!(telemetry.dropped(), Dropped::default());
}

#[wasm_bindgen_test]
async fn a_refused_export_is_dropped_at_once_and_the_next_span_reports_it() {
    // The receiver's /refusing-once answers its first export 400, then accepts: a retry of the
    // first batch would be accepted, so its absence shows there was none.
    let service = Service::new("browser.refused");
    let telemetry = BrowserTelemetry::install(Config {
        endpoint: format!("{RECEIVER}/refusing-once/v1/traces").into(),
        ..service.config()
    });
    let tracer = telemetry.tracer("test");
    tracer.start("refused").end();
    tracer.start("refused").end();
    telemetry.flush().await;
    assert_eq!(telemetry.failed_exports(), 1);
    let refused = Dropped {
        refused: 2,
        ..Default::default()
    };
    assert_eq!(telemetry.dropped(), refused);
    tracer.start("accepted").end();
    let spans = service.flushed(&telemetry).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["accepted"], "the refused batch was not sent again");
    let report = (spans[0].event("otel_browser.dropped")).expect("the loss reported");
    let count = |reason: &str| {
        report
            .attributes
            .int(&format!("otel_browser.dropped.{reason}"))
    };
    assert_eq!(count("refused"), Some(2));
    assert_eq!(count("queue_full"), Some(0));
    assert_eq!(count("retries_exhausted"), Some(0));
}

#[wasm_bindgen_test]
async fn a_flush_the_page_stops_awaiting_leaves_the_exporter_sending() {
    let service = Service::new("browser.abandoned-flush");
    let telemetry = BrowserTelemetry::install(Config {
        max_batch_size: 2,
        ..service.config()
    });
    let tracer = telemetry.tracer("test");
    tracer.start("before").end();
    // The flush starts its send, then is dropped unfinished.
    let mut flush = Box::pin(telemetry.flush());
    let waker = std::task::Waker::noop();
    let started = flush
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker));
    assert!(started.is_pending(), "its send is on its way");
    drop(flush);
    // A full batch still starts a send of its own.
    tracer.start("full-1").end();
    tracer.start("full-2").end();
    exports_once(&service, "the full batch, unflushed", |sent| {
        ["full-1", "full-2"]
            .iter()
            .all(|n| sent.iter().any(|s| s == n))
    })
    .await;
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
    assert_eq!(telemetry.dropped().queue_full, 5);
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
        max_export_attempts: 1,
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
