//! The browser's side of the export, as JavaScript functions and nothing more: the `POST`, the
//! timer, the page-lifecycle listeners, the user agent and the clock. The exporter (`exporter.rs`) decides
//! what to send and when; nothing here throws into the page or blocks it.

use wasm_bindgen::JsValue;

// The globals a window and a worker both have, imported directly: no `window` lookup, and less
// glue than web-sys's typed paths (BENCHMARKS.md, "Page size").
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `setTimeout(handler, delay)`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub(crate) fn set_timeout(handler: &JsValue, delay: u32) -> JsValue;
    /// The `navigator` global, for the getter below.
    type Navigator;
    /// `navigator.userAgent`, through a getter import rather than a `thread_local_v2` static,
    /// whose lazy cell's checks came with it: 100 B gzipped of the minimal page (as
    /// `clock::time_origin_millis`; BENCHMARKS.md, "Page size").
    #[wasm_bindgen(static_method_of = Navigator, js_class = "navigator", getter = userAgent)]
    fn user_agent_value() -> JsValue;
}

// The export request with its retries, in a snippet (bundled into the page's one script by
// `otel-browser/bundle.py`, trunk's post_build hook): its options are a literal there, where from Rust each option, the
// headers object, the body's copy, the signal and the answer's reads took glue of their own, and
// its waits are timers and promises, which are JavaScript's (BENCHMARKS.md, "Page size").
// Readable in `otel-browser/js/transport.js`; the literal is its minification (scripts/snippets.py).
#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = r#"export const now=performance.now.bind(performance);let h=0;const w=new Set;let p=0,m=0,g,v;export function spillTo(n,t){return g=n,v=t,post}const E=n=>new Promise(t=>{const e=r=>{w.delete(e),t(r)};w.add(e),setTimeout(e,n)});export async function post(n,t,e,r,c,f){t=t.slice();const L=Date.now()+6e4,l=async()=>g&&f&&await g(t,f);for(let i=0;;){if(!navigator.onLine&&await l())return 3+i*4;const x=h-Date.now();x>0&&!e&&(e=await E(x));const u=e&&m<15&&p+t.length<=65536;if(e&&!u&&await l())return 3+i*4;u&&(m++,p+=t.length);let a=0,o;try{const y=await fetch(n,{method:"POST",headers:{"content-type":"application/x-protobuf"},body:t,keepalive:u,signal:AbortSignal.timeout(r)});a=y.status,o=y.headers.get("retry-after")}catch{}if(u&&(m--,p-=t.length),a>199&&a<300)return f&&v&&v(),i*4;if(i++,a&&a!=429&&(a<502||a>504))return 1+i*4;const d=Date.now();let s=o>=0?d+o*1e3:Date.parse(/GMT/.test(o)?o:o+" GMT");if(s>d?(a==429||a==503)&&s>h&&(h=s):s=d+Math.min(1e3*1.5**(i-1),5e3)*(.8+.4*Math.random()),e||i>=c||s>L)return(await l()?3:2)+i*4;if((e=await E(s-d))&&await l())return 3+i*4}}export function listen(n){if(typeof document>"u")return()=>{};const t=document,e=c=>{w.forEach(f=>f(!0)),n(c)},r=c=>{t.hidden&&e(c)};return addEventListener("pagehide",e),t.addEventListener("visibilitychange",r),()=>{removeEventListener("pagehide",e),t.removeEventListener("visibilitychange",r)}}export function unlisten(n){n()}"#
)]
extern "C" {
    /// `POST`s `body` to `url` until it is delivered or dropped, each attempt aborted after
    /// `timeout_ms`, retrying on the backoff or `Retry-After` up to `max_attempts` attempts
    /// (`js/transport.js` has the rules); with the offline queue installed, its `spans` spans are
    /// stored rather than lost. Resolves to `outcome + 4 × failed attempts` (outcome 0 delivered,
    /// 1 refused, 2 out of attempts or time, 3 stored); never rejects.
    pub(crate) fn post(
        url: &str,
        body: &[u8],
        keepalive: bool,
        timeout_ms: u32,
        max_attempts: u32,
        spans: usize,
    ) -> js_sys::Promise;
    /// `spillTo`, which the offline queue (`offline.rs`) calls with its store.
    #[wasm_bindgen(thread_local_v2, js_name = spillTo)]
    pub(crate) static SPILL_TO: JsValue;
    /// Calls `on_hide` on `pagehide` and when the document becomes hidden (nothing in a worker);
    /// returns what [`unlisten`] takes to remove both listeners.
    pub(crate) fn listen(on_hide: &JsValue) -> JsValue;
    /// Removes the listeners [`listen`] added.
    pub(crate) fn unlisten(remove: &JsValue);
    /// `performance.now()`: the browser's own function, bound once (`clock::performance_now`).
    pub(crate) fn now() -> f64;
}

/// `navigator.userAgent`, for the resource.
pub(crate) fn user_agent() -> Option<String> {
    Navigator::user_agent_value().as_string()
}
