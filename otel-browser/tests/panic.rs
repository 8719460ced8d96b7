//! A Rust panic in headless Chromium (`wasm-bindgen-test`) reaches a real local receiver as an
//! `exception` event, sent by the panic hook itself: under `panic = "abort"` nothing in the module
//! runs after it. Its own test binary: a panic leaves the module's state as it was at the trap.
#![cfg(target_arch = "wasm32")]

use std::{cell::Cell, rc::Rc};

use common::Service;
use otel_browser::errors::Errors;
use wasm_bindgen::{JsCast as _, closure::Closure};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

/// Listens for the trap that follows a panic (`WebAssembly.RuntimeError: unreachable`) at the
/// window, after every listener added before it; `seen` says when it has come.
struct Trap {
    seen: Rc<Cell<bool>>,
    listener: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

impl Trap {
    fn listen() -> Self {
        let seen = Rc::new(Cell::new(false));
        let listener = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new({
            let seen = seen.clone();
            move |event: web_sys::ErrorEvent| {
                if event
                    .error()
                    .is_instance_of::<js_sys::WebAssembly::RuntimeError>()
                {
                    seen.set(true);
                }
            }
        });
        web_sys::window()
            .expect("window")
            .add_event_listener_with_callback("error", listener.as_ref().unchecked_ref())
            .expect("listener");
        Self { seen, listener }
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        let window = web_sys::window().expect("window");
        let _ = window
            .remove_event_listener_with_callback("error", self.listener.as_ref().unchecked_ref());
    }
}

#[wasm_bindgen_test]
async fn a_panic_is_sent_at_once_as_an_exception_event() {
    // Nothing after the record: the harness's own hook, which fails whichever test runs when a
    // panic happens, is replaced (this panic is the point).
    let service = Service::new("errors.panic");
    let telemetry = service.install();
    let errors = Errors::install(&telemetry.tracer("errors-test"), |_| {});
    // Added after the errors' listener, so it hears the trap after that listener has.
    let trap = Trap::listen();
    // The panic happens in a timer's callback: the trap ends that call, and this test's future,
    // driven by its own tasks, lives on to look at the receiver.
    let nonce = otel_browser::text::hex(&otel_browser::ids::new_span_id().to_bytes());
    let expected = format!("panicked on purpose {nonce}");
    let boom = Closure::once_into_js(move || -> () { panic!("panicked on purpose {nonce}") });
    web_sys::window()
        .expect("window")
        .set_timeout_with_callback(boom.unchecked_ref())
        .expect("timer");

    // Once the trap has reached the window, the errors' listener has had it too: had it recorded
    // the trap, that span would have ended there, and be among the finished ones.
    common::wait_for("the trap at the window", || async {
        trap.seen.get().then_some(())
    })
    .await;
    let finished: Vec<String> = (telemetry.finished_spans().into_iter())
        .map(|s| s.name.into_owned())
        .collect();
    assert_eq!(
        finished,
        ["exception"],
        "the panic once, not its trap again"
    );
    let exceptions = common::wait_for("the panic's exception at the receiver", || async {
        let spans = service.spans().await;
        (!spans.is_empty()).then_some(spans)
    })
    .await;
    assert_eq!(exceptions.len(), 1, "{exceptions:?}");
    let exception = &exceptions[0];
    assert_eq!(exception.name, "exception");
    let event = exception.event("exception").expect("the exception event");
    let get = |key: &str| (event.attributes.string(key)).unwrap_or_else(|| panic!("{key}"));
    assert_eq!(get("exception.type"), "panic");
    assert_eq!(exception.attr("error.type"), "panic");
    let message = get("exception.message");
    assert!(
        message.starts_with(&[&expected, " at "].concat()) && message.contains("panic.rs:"),
        "{message}"
    );
    assert!(!get("exception.stacktrace").is_empty());
    drop(trap);
    drop(errors);
}
