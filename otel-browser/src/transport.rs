//! The browser side: `fetch` for sends, timers for the schedule, page-lifecycle listeners for the
//! last flush. Nothing here throws into the page or blocks it: a failed send is counted and dropped.

use wasm_bindgen::{JsValue, closure::Closure};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::Event;

use crate::processor::{Batch, Queue, Wake};

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
    #[wasm_bindgen(js_name = post)]
    fn post_js(url: &str, body: &[u8], keepalive: bool, timeout_ms: u32) -> js_sys::Promise;
    /// Calls `on_hide` on `pagehide` and when the document becomes hidden (nothing in a worker);
    /// returns what [`unlisten`] takes to remove both listeners.
    fn listen(on_hide: &JsValue) -> JsValue;
    /// Removes the listeners [`listen`] added.
    fn unlisten(remove: &JsValue);
}

/// Acts on what a queued span asked for.
pub(crate) fn wake(queue: &Queue, wake: Wake) {
    match wake {
        Wake::Nothing | Wake::Dropped => {}
        Wake::After(delay) => {
            let queue = queue.clone();
            // An event listener's closure type, though a timer calls it: the page then carries
            // one closure shim, the listeners', not a second one for `FnOnce` (BENCHMARKS.md).
            let flush = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                send_next(&queue, SendMode::ThenTheRest);
            });
            set_timeout(
                &flush.into_js_value(),
                // Not `as_millis`, a u128.
                u32::try_from(delay.as_secs())
                    .unwrap_or(u32::MAX / 1000)
                    .saturating_mul(1000)
                    .saturating_add(delay.subsec_millis()),
            );
        }
        Wake::Now => send_next(queue, SendMode::One),
    }
}

/// Starts sending the next batch, if one waits. Out of line: one copy of the batch's take and
/// of the send's spawn for the timer and for a full batch.
#[inline(never)]
fn send_next(queue: &Queue, how: SendMode) {
    if let Some(batch) = queue.take_batch(false) {
        spawn_local(send(queue.clone(), batch, how));
    }
}

/// How [`send`] goes about its batch. (Every send is one future type, so the page carries one
/// copy of the task machinery, not one per call site.)
#[derive(Clone, Copy, PartialEq, Eq)]
enum SendMode {
    /// This batch only.
    One,
    /// This batch with `keepalive`, so that it outlives the page.
    Keepalive,
    /// This batch, then every batch still waiting, one request at a time.
    ThenTheRest,
}

/// Sends batches until the queue is empty, one request at a time.
pub(crate) async fn flush_all(queue: &Queue) {
    if let Some(batch) = queue.take_batch(false) {
        send(queue.clone(), batch, SendMode::ThenTheRest).await;
    }
}

/// Browsers allow this many bytes of `keepalive` bodies in flight at once (64 KiB, less headroom).
const KEEPALIVE_BUDGET: usize = 60 * 1024;
/// How long one export may take before it is abandoned (and counted as failed).
const SEND_TIMEOUT_MS: u32 = 5_000;

/// The page is going away or being hidden: start every send now. The first ~60 KiB go with
/// `keepalive`, so they outlive the page; the rest as plain requests, which complete when the page
/// was only hidden and may be cut off when it unloads.
pub(crate) fn send_all_keepalive(queue: &Queue) {
    let mut budget = KEEPALIVE_BUDGET;
    while let Some(batch) = queue.take_batch(true) {
        let keepalive = batch.body.len() <= budget;
        if keepalive {
            budget -= batch.body.len();
        }
        let how = if keepalive {
            SendMode::Keepalive
        } else {
            SendMode::One
        };
        spawn_local(send(queue.clone(), batch, how));
    }
}

/// `POST`s of OTLP bodies, `batch` first. Deliberately not traced: the exporter must not feed
/// itself.
async fn send(queue: Queue, mut batch: Batch, how: SendMode) {
    loop {
        if !post(&batch, how == SendMode::Keepalive).await {
            queue.record_failed_export();
        }
        if how != SendMode::ThenTheRest {
            return;
        }
        match queue.take_batch(false) {
            Some(next) => batch = next,
            None => return,
        }
    }
}

async fn post(batch: &Batch, keepalive: bool) -> bool {
    // A collector that accepts and never answers must not hold a send (and the queue) forever:
    // the request is aborted after `SEND_TIMEOUT_MS`.
    JsFuture::from(post_js(
        &batch.endpoint,
        &batch.body,
        keepalive,
        SEND_TIMEOUT_MS,
    ))
    .await
    .is_ok()
}

/// `navigator.userAgent`, for the resource.
pub(crate) fn user_agent() -> Option<String> {
    USER_AGENT.with(|agent| agent.as_string())
}

/// The `pagehide` and `visibilitychange` listeners; removed when dropped. One closure for both,
/// added by the snippet (which reads `document.hidden`): no `window`/`document` glue here.
pub(crate) struct LifecycleListeners {
    remove: JsValue,
    _on_hide: Closure<dyn FnMut(Event)>,
}

impl LifecycleListeners {
    pub(crate) fn attach(queue: Queue) -> Self {
        let on_hide = Closure::<dyn FnMut(Event)>::new(move |_: Event| send_all_keepalive(&queue));
        Self {
            remove: listen(on_hide.as_ref()),
            _on_hide: on_hide,
        }
    }
}

impl Drop for LifecycleListeners {
    fn drop(&mut self) {
        unlisten(&self.remove);
    }
}
