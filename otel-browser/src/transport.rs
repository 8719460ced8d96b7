//! The browser's side of the export, as JavaScript functions and nothing more: the `POST`, the
//! timer, the page-lifecycle listeners and the user agent. The exporter (`exporter.rs`) decides
//! what to send and when; nothing here throws into the page or blocks it.

use wasm_bindgen::JsValue;

// The globals a window and a worker both have, imported directly: no `window` lookup, and less
// glue than web-sys's typed paths (BENCHMARKS.md, "Page size").
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `setTimeout(handler, delay)`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub(crate) fn set_timeout(handler: &JsValue, delay: u32) -> JsValue;
    /// `navigator.userAgent`.
    #[wasm_bindgen(thread_local_v2, js_namespace = navigator, js_name = userAgent)]
    static USER_AGENT: JsValue;
}

// The export request, in a snippet (shipped beside the glue as `snippets/otel-browser-…/`): its
// options are a literal there, where from Rust each option, the headers object, the body's copy,
// the signal and `Response.ok` took glue of their own (BENCHMARKS.md, "Page size"). It copies the
// body out of the module's memory before it returns (the view is not valid after), resolves when
// the collector accepted the body, and rejects on a network error, an error status or the timeout
// (an `async` function: it never throws). `application/x-protobuf` is `otlp_wire::CONTENT_TYPE`.
// Readable in `otel-browser/js/transport.js`; the literal is its minification (scripts/snippets.py).
#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = r#"export async function post(e,t,n,i){if(!(await fetch(e,{method:"POST",headers:{"content-type":"application/x-protobuf"},body:t.slice(),keepalive:n,signal:AbortSignal.timeout(i)})).ok)throw 0}export function listen(e){if(typeof document>"u")return()=>{};const t=document,n=i=>{t.hidden&&e(i)};return addEventListener("pagehide",e),t.addEventListener("visibilitychange",n),()=>{removeEventListener("pagehide",e),t.removeEventListener("visibilitychange",n)}}export function unlisten(e){e()}"#
)]
extern "C" {
    /// `POST`s `body` to `url`; the promise resolves when the answer is a success.
    pub(crate) fn post(url: &str, body: &[u8], keepalive: bool, timeout_ms: u32)
    -> js_sys::Promise;
    /// Calls `on_hide` on `pagehide` and when the document becomes hidden (nothing in a worker);
    /// returns what [`unlisten`] takes to remove both listeners.
    pub(crate) fn listen(on_hide: &JsValue) -> JsValue;
    /// Removes the listeners [`listen`] added.
    pub(crate) fn unlisten(remove: &JsValue);
}

/// `navigator.userAgent`, for the resource.
pub(crate) fn user_agent() -> Option<String> {
    USER_AGENT.with(|agent| agent.as_string())
}
