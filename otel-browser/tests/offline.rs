//! The offline queue (`otel_browser::offline`) in headless Chromium, on the real IndexedDB and the
//! receiver: a test binary of its own, since the queue, once installed, is the page's for its life
//! (every later failure would be stored). One test, in order: without IndexedDB, then with it.
#![cfg(target_arch = "wasm32")]

use common::Service;
use js_sys::{Object, Reflect};
use opentelemetry::{
    KeyValue,
    trace::{Span as _, Tracer as _},
};
use otel_browser::{
    BrowserTelemetry, Config, Dropped, clock,
    offline::{self, OfflineConfig},
};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens on port 9 (and Chromium refuses it outright): the collector is down.
const DOWN: &str = "http://127.0.0.1:9/v1/traces";

/// Telemetry of `service` exporting to the down collector, each batch tried once.
fn down(service: &Service) -> BrowserTelemetry {
    BrowserTelemetry::install(Config {
        endpoint: DOWN.into(),
        max_export_attempts: 1,
        ..service.config()
    })
}

/// Sets `target[name]` to `value`, over the browser's own property, until the returned guard
/// puts that back. (The window's own attributes, `indexedDB` among them, are on the window
/// itself: WebIDL's `[Global]`; the navigator's are on its prototype.)
fn shadow(target: &JsValue, name: &str, value: &JsValue) -> Restore {
    let target: Object = target.clone().unchecked_into();
    let own = Object::get_own_property_descriptor(&target, &name.into());
    let descriptor = Object::new();
    Reflect::set(&descriptor, &"value".into(), value).expect("descriptor");
    Reflect::set(&descriptor, &"configurable".into(), &true.into()).expect("descriptor");
    Object::define_property(&target, &name.into(), &descriptor);
    Restore {
        target,
        name: name.to_owned(),
        own,
    }
}

/// Puts back what [`shadow`] covered.
struct Restore {
    target: Object,
    name: String,
    own: JsValue,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let name: JsValue = self.name.as_str().into();
        if self.own.is_undefined() {
            Reflect::delete_property(&self.target, &name).expect("deleted");
        } else {
            Object::define_property(&self.target, &name, self.own.unchecked_ref());
        }
    }
}

#[wasm_bindgen_test]
async fn undelivered_batches_wait_in_indexeddb_for_the_next_load_or_online() {
    let global = js_sys::global();

    // Without IndexedDB (private mode, blocked): no queue, the loss counted, nothing broken.
    let unavailable = shadow(&global, "indexedDB", &JsValue::UNDEFINED);
    let service = Service::new("offline.unavailable");
    let telemetry = down(&service);
    offline::install(&telemetry, OfflineConfig::default())
        .await
        .expect("never rejects");
    telemetry.tracer("test").start("lost").end();
    telemetry.flush().await;
    let lost = Dropped {
        retries_exhausted: 1,
        ..Default::default()
    };
    assert_eq!(telemetry.dropped(), lost);
    drop(unavailable);

    // A batch whose attempts ran out is stored, not lost…
    let earlier = Service::new("offline.stored");
    let telemetry = down(&earlier);
    offline::install(&telemetry, OfflineConfig::default())
        .await
        .expect("never rejects");
    let tracer = telemetry.tracer("test");
    tracer.start("kept-while-down").end();
    telemetry.flush().await;
    assert_eq!(telemetry.failed_exports(), 1);
    assert_eq!(
        telemetry.dropped(),
        Dropped::default(),
        "stored, not dropped"
    );
    let stored_at = clock::unix_millis(clock::now());
    drop(telemetry);

    // …and sent by the next page that installs the queue, with its own times, once.
    let next = Service::new("offline.next-load");
    let telemetry = next.install();
    offline::install(&telemetry, OfflineConfig::default())
        .await
        .expect("never rejects");
    let span = common::wait_for("the stored span", || async {
        let spans = earlier.spans().await;
        (!spans.is_empty()).then_some(spans)
    })
    .await;
    let names: Vec<&str> = span.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["kept-while-down"]);
    assert!(
        (span[0].end_ns as f64) / 1e6 <= stored_at,
        "it keeps the time it ended"
    );
    // Another load (or tab) finds nothing left to send.
    offline::install(&telemetry, OfflineConfig::default())
        .await
        .expect("never rejects");
    assert_eq!(earlier.exports().await.len(), 1, "sent once");

    // While the browser is offline nothing is tried: the batch is stored, and sent on `online`.
    let navigator = Reflect::get(&global, &"navigator".into()).expect("navigator");
    let offline_now = shadow(&navigator, "onLine", &false.into());
    let offline = Service::new("offline.navigator");
    let telemetry = offline.install();
    offline::install(&telemetry, OfflineConfig::default())
        .await
        .expect("never rejects");
    telemetry.tracer("test").start("ended-offline").end();
    telemetry.flush().await;
    assert_eq!(telemetry.failed_exports(), 0, "not even tried");
    assert!(offline.spans().await.is_empty());
    drop(offline_now);
    let window = web_sys::window().expect("window");
    window
        .dispatch_event(&web_sys::Event::new("online").expect("event"))
        .expect("dispatched");
    let spans = common::wait_for("the span sent on online", || async {
        let spans = offline.spans().await;
        (!spans.is_empty()).then_some(spans)
    })
    .await;
    assert_eq!(spans[0].name, "ended-offline");

    // The store's bounds: one batch (about 1.4 KB) fits 1,800 bytes, so the second evicts the first, counted.
    let bounded = Service::new("offline.bounded");
    let telemetry = down(&bounded);
    let config = OfflineConfig {
        max_bytes: 1_800,
        ..Default::default()
    };
    offline::install(&telemetry, config)
        .await
        .expect("never rejects");
    let tracer = telemetry.tracer("test");
    for name in ["evicted", "kept"] {
        let mut span = tracer.start(name);
        span.set_attribute(KeyValue::new("padding", "x".repeat(1_000)));
        span.end();
        telemetry.flush().await;
    }
    let evicted = Dropped {
        offline_full: 1,
        ..Default::default()
    };
    assert_eq!(telemetry.dropped(), evicted);
    // And past its age every batch is deleted unsent, counted.
    let config = OfflineConfig {
        max_age: std::time::Duration::ZERO,
        ..Default::default()
    };
    let telemetry_later = bounded.install();
    offline::install(&telemetry_later, config)
        .await
        .expect("never rejects");
    assert_eq!(
        telemetry_later.dropped(),
        Dropped {
            offline_expired: 1,
            ..Default::default()
        },
        "the kept batch, expired"
    );
    assert!(bounded.spans().await.is_empty(), "nothing sent");
}
