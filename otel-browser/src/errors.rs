//! Errors: Rust panics, uncaught JavaScript errors and unhandled promise rejections become
//! `exception` events (`exception.type`, `exception.message`, `exception.stacktrace`; semantic
//! conventions, "Exceptions", recorded on spans), with Error status.
//!
//! - A JavaScript error goes on the active span (`Context::current()`, which
//!   [`crate::interaction`] sets while its handler's future runs) when there is a recording one;
//!   else on a short `exception` span of its own (which carries the session, when
//!   [`crate::session`] runs).
//! - A panic ends the active span with the event (a wasm module is dead after a panic under
//!   `panic = "abort"`, so that span would never end), or records a short `exception` span, as a
//!   child of the active context so it stays in its trace.
//!
//! Either way what is queued is sent at once, with `keepalive`: the page may be about to die.
//! The panic hook also logs the panic to the console with its stack (as `console_error_panic_hook`
//! does, so a page needs no other hook), then calls the page's `next` (a message to the user).
//! `next` is given rather than taken with `std::panic::take_hook`, which would link std's default
//! hook and its formatting (1.6 KB of wasm) into every page.
//!
//! ```no_run
//! # let telemetry = otel_browser::BrowserTelemetry::install(Default::default());
//! # fn show_a_message() {}
//! let errors = otel_browser::errors::Errors::install(&telemetry.tracer("my-app"), |_info| {
//!     show_a_message()
//! });
//! // Keep `errors` for the page's life: it owns the window's listeners.
//! ```

use std::{
    panic::PanicHookInfo,
    sync::atomic::{AtomicBool, Ordering},
};

use js_sys::{Array, Function};
use opentelemetry::{
    Context, KeyValue,
    trace::{TraceContextExt as _, Tracer as _},
};
use wasm_bindgen::{JsCast as _, JsValue, closure::Closure, prelude::wasm_bindgen};
use web_sys::Event;

use crate::{Tracer, clock, trace::set_error};

// The window's side, in a snippet (bundled into the page's one script, `otel-browser/bundle.py`): it
// reads what was thrown where the browser gives it and calls back with `[type, message, stack]`,
// one import instead of a dozen `Reflect` reads. An `ErrorEvent` carries `error` (and `message`,
// all a cross-origin script's error gives: "Script error."), a `PromiseRejectionEvent` `reason`,
// which may be any value.
// Readable in `otel-browser/js/errors.js`; the literal is its minification (scripts/snippets.py).
#[wasm_bindgen(
    inline_js = r#"const s=["error","unhandledrejection"];export function listen(o){const e=r=>{const n=r.type=="error"?r.error:r.reason,t=n instanceof Error;o([t?n.name:"Error",t?n.message:typeof n=="string"?n:r.message||JSON.stringify(n)||String(n),t&&n.stack||""])};return s.forEach(r=>addEventListener(r,e)),()=>s.forEach(r=>removeEventListener(r,e))}export function panicked(o){const e=new Error().stack||"";return console.error("panicked: "+o+`

`+e),e}"#
)]
extern "C" {
    /// Listens for errors and rejections; returns what stops it.
    fn listen(on_error: &Closure<dyn FnMut(Event)>) -> Function;
    /// Logs a panic's message to the console with the JavaScript stack here (what
    /// `console_error_panic_hook` does, so a page needs no other hook), and returns the stack.
    fn panicked(message: &str) -> String;
}

/// The window's `error` and `unhandledrejection` listener; removed when dropped (the panic hook
/// stays).
#[must_use = "dropping it removes the listener: keep it for the page's life"]
pub struct Errors {
    _on_error: Closure<dyn FnMut(Event)>,
    stop: Function,
}

impl std::fmt::Debug for Errors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Errors")
    }
}

impl Errors {
    /// Sets the panic hook (which records the panic, then calls `next`) and listens for
    /// uncaught errors and unhandled rejections.
    pub fn install(tracer: &Tracer, next: fn(&PanicHookInfo<'_>)) -> Self {
        {
            let tracer = tracer.clone();
            std::panic::set_hook(Box::new(move |info| {
                record(&tracer, panic_of(info), true);
                next(info);
            }));
        }
        // `FnMut(Event)`, though it gets an array: the closure type the SDK's listeners have, so
        // the page carries one closure shim for both.
        let tracer = tracer.clone();
        let on_error = Closure::<dyn FnMut(Event)>::new(move |thrown: Event| {
            let thrown: Array = thrown.unchecked_into();
            let text = |i| crate::text::text_at(&thrown, i);
            let error = [text(0), text(1), text(2)];
            // The trap that follows a recorded panic is the same failure, not a second one.
            if error[0] == "RuntimeError" && PANICKED.swap(false, Ordering::Relaxed) {
                return;
            }
            record(&tracer, error, false);
        });
        let stop = listen(&on_error);
        Self {
            _on_error: on_error,
            stop,
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        let _ = self.stop.call0(&JsValue::UNDEFINED);
    }
}

/// A panic was recorded and its trap (`RuntimeError: unreachable`) has not reached the window
/// yet.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// A panic as the exception event records it (`[type, message, stack]`): its message and where,
/// and the JavaScript stack at the hook (the wasm frames that panicked, below the hook's own).
fn panic_of(info: &PanicHookInfo<'_>) -> [String; 3] {
    PANICKED.store(true, Ordering::Relaxed);
    // What `PanicHookInfo::payload_as_str` does, which is newer (1.91) than the crate's 1.88.
    let payload = info.payload();
    let mut message = (payload.downcast_ref::<&str>().copied())
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
        .to_owned();
    if let Some(at) = info.location() {
        message.push_str(" at ");
        message.push_str(at.file());
        message.push(':');
        message.push_str(&crate::text::decimal(at.line().into()));
    }
    let stack = panicked(&message);
    ["panic".to_owned(), message, stack]
}

/// Records `[type, message, stack]` (no stacktrace attribute for an empty stack) on the active
/// span when one records (ending it when `end_active`: after a panic nothing else will), else on
/// an `exception` span, child of the active context; then sends what is queued with `keepalive`.
fn record(tracer: &Tracer, [kind, message, stack]: [String; 3], end_active: bool) {
    let at = clock::now();
    let description = message.clone();
    let mut attributes = vec![
        KeyValue::new("exception.type", kind.clone()),
        KeyValue::new("exception.message", message),
    ];
    if !stack.is_empty() {
        attributes.push(KeyValue::new("exception.stacktrace", stack));
    }
    let mut cx = Context::current();
    let recording = cx.span().is_recording();
    if !recording {
        cx = cx.with_span(tracer.start_with_context("exception", &cx));
    }
    let span = cx.span();
    set_error(&span, kind, description.into());
    span.add_event_with_timestamp("exception", at, attributes);
    if end_active || !recording {
        span.end_with_timestamp(at);
    }
    tracer.send_keepalive();
}
