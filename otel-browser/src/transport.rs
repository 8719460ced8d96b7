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

// The export request with its retries, in a snippet (shipped beside the glue as
// `snippets/otel-browser-…/`): its options are a literal there, where from Rust each option, the
// headers object, the body's copy, the signal and the answer's reads took glue of their own, and
// its waits are timers and promises, which are JavaScript's (BENCHMARKS.md, "Page size").
// Readable in `otel-browser/js/transport.js`; the literal is its minification (scripts/snippets.py).
#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = r#"let u=0;const h=new Set;let p=0,g=0;const v=i=>new Promise(e=>{const t=s=>{h.delete(t),e(s)};h.add(t),setTimeout(t,i)});export async function post(i,e,t,s,c){e=e.slice();const d=Date.now()+6e4;for(let a=0;;){const m=u-Date.now();m>0&&!t&&(t=await v(m));const f=t&&g<15&&p+e.length<=65536;f&&(g++,p+=e.length);let n=0,o;try{const w=await fetch(i,{method:"POST",headers:{"content-type":"application/x-protobuf"},body:e,keepalive:f,signal:AbortSignal.timeout(s)});n=w.status,o=w.headers.get("retry-after")}catch{}if(f&&(g--,p-=e.length),n>199&&n<300)return a*4;if(a++,n&&n!=429&&(n<502||n>504))return 1+a*4;const l=Date.now();let r=o>=0?l+o*1e3:Date.parse(/GMT/.test(o)?o:o+" GMT");if(r>l?(n==429||n==503)&&r>u&&(u=r):r=l+Math.min(1e3*1.5**(a-1),5e3)*(.8+.4*Math.random()),t||a>=c||r>d)return 2+a*4;t=await v(r-l)}}export function listen(i){if(typeof document>"u")return()=>{};const e=document,t=c=>{h.forEach(d=>d(!0)),i(c)},s=c=>{e.hidden&&t(c)};return addEventListener("pagehide",t),e.addEventListener("visibilitychange",s),()=>{removeEventListener("pagehide",t),e.removeEventListener("visibilitychange",s)}}export function unlisten(i){i()}"#
)]
extern "C" {
    /// `POST`s `body` to `url` until it is delivered or dropped, each attempt aborted after
    /// `timeout_ms`, retrying on the backoff or `Retry-After` up to `max_attempts` attempts
    /// (`js/transport.js` has the rules). Resolves to `outcome + 4 × failed attempts` (outcome
    /// 0 delivered, 1 refused, 2 out of attempts or time); never rejects.
    pub(crate) fn post(
        url: &str,
        body: &[u8],
        keepalive: bool,
        timeout_ms: u32,
        max_attempts: u32,
    ) -> js_sys::Promise;
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
