//! A Rust panic in headless Chromium (`wasm-bindgen-test`) reaches a real local receiver as an
//! `exception` event, sent by the panic hook itself: under `panic = "abort"` nothing in the module
//! runs after it. Its own test binary: a panic leaves the module's state as it was at the trap.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use common::install;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otel_browser::{Config, errors::Errors};
use wasm_bindgen::{JsCast as _, closure::Closure};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_panic_is_sent_at_once_as_an_exception_event() {
    // Nothing after the record: the harness's own hook, which fails whichever test runs when a
    // panic happens, is replaced (this panic is the point).
    let telemetry = install(Config::default());
    let errors = Errors::install(&telemetry.tracer("errors-test"), |_| {});
    // The panic happens in a timer's callback: the trap ends that call, and this test's future,
    // driven by its own tasks, lives on to look at the receiver.
    let nonce = otel_browser::text::hex(&otel_browser::ids::new_span_id().to_bytes());
    let expected = format!("panicked on purpose {nonce}");
    let started = otel_browser::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    let boom = Closure::once_into_js(move || -> () { panic!("panicked on purpose {nonce}") });
    web_sys::window()
        .expect("window")
        .set_timeout_with_callback(boom.unchecked_ref())
        .expect("timer");
    gloo_timers::future::sleep(Duration::from_millis(500)).await;

    let exceptions: Vec<_> = common::exported()
        .await
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == "exception" && s.start_time_unix_nano >= started)
        .collect();
    // The receiver serves every test binary: only this test's exceptions count.
    assert_eq!(
        exceptions.len(),
        1,
        "the panic once, not its trap again: {exceptions:?}"
    );
    let event = exceptions[0]
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("the exception event");
    let get = |key: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{key}"))
    };
    assert_eq!(get("exception.type"), "panic");
    assert_eq!(
        common::attr(&exceptions[0], "error.type").as_deref(),
        Some("panic")
    );
    let message = get("exception.message");
    assert!(
        message.starts_with(&[&expected, " at "].concat()) && message.contains("panic.rs:"),
        "{message}"
    );
    assert!(!get("exception.stacktrace").is_empty());
    drop(errors);
}
