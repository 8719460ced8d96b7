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
#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = r#"export async function post(u,b,k,t){if(!(await fetch(u,{method:"POST",headers:{"content-type":"application/x-protobuf"},body:b.slice(),keepalive:k,signal:AbortSignal.timeout(t)})).ok)throw 0}
export function listen(f){if(typeof document>"u")return()=>{};const d=document,v=e=>{d.hidden&&f(e)};addEventListener("pagehide",f);d.addEventListener("visibilitychange",v);return()=>{removeEventListener("pagehide",f);d.removeEventListener("visibilitychange",v)}}
export function unlisten(r){r()}"#
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
