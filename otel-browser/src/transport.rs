//! The browser side: `fetch` for sends, timers for the schedule, page-lifecycle listeners for the
//! last flush. Nothing here throws into the page or blocks it: a failed send is counted and dropped.

use gloo_timers::future::TimeoutFuture;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{AbortSignal, Event, Headers, RequestInit, Response, VisibilityState};

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The global `fetch` (a window's or a worker's), without looking up `window` first.
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_with_init(url: &str, init: &RequestInit) -> js_sys::Promise;
}

use crate::processor::{Batch, Queue, Wake};

/// Acts on what a queued span asked for.
pub(crate) fn wake(queue: &Queue, wake: Wake) {
    match wake {
        Wake::Nothing | Wake::Dropped => {}
        Wake::After(delay) => {
            let queue = queue.clone();
            spawn_local(async move {
                TimeoutFuture::new(u32::try_from(delay.as_millis()).unwrap_or(u32::MAX)).await;
                flush_all(&queue, false).await;
            });
        }
        Wake::Now => {
            let queue = queue.clone();
            spawn_local(async move {
                if let Some(batch) = queue.take_batch(false) {
                    send(&queue, batch, false).await;
                }
            });
        }
    }
}

/// Sends batches until the queue is empty, one request at a time.
pub(crate) async fn flush_all(queue: &Queue, keepalive: bool) {
    while let Some(batch) = queue.take_batch(keepalive) {
        send(queue, batch, keepalive).await;
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
        let queue = queue.clone();
        spawn_local(async move { send(&queue, batch, keepalive).await });
    }
}

/// One `POST` of an OTLP body. Deliberately not traced: the exporter must not feed itself.
async fn send(queue: &Queue, batch: Batch, keepalive: bool) {
    if !post(&batch, keepalive).await {
        queue.record_failed_export();
    }
}

async fn post(batch: &Batch, keepalive: bool) -> bool {
    let Ok(headers) = Headers::new() else {
        return false;
    };
    if headers
        .set("content-type", otlp_wire::CONTENT_TYPE)
        .is_err()
    {
        return false;
    }
    let init = RequestInit::new();
    init.set_method("POST");
    // A collector that accepts and never answers must not hold a send (and the queue) forever.
    init.set_signal(Some(&AbortSignal::timeout_with_u32(SEND_TIMEOUT_MS)));
    init.set_headers(&headers);
    init.set_body(&Uint8Array::from(batch.body.as_slice()));
    // web-sys has no binding for `keepalive`; it is a plain RequestInit member.
    if keepalive && Reflect::set(&init, &JsValue::from_str("keepalive"), &JsValue::TRUE).is_err() {
        return false;
    }
    match JsFuture::from(fetch_with_init(&batch.endpoint, &init)).await {
        Ok(response) => response.dyn_into::<Response>().is_ok_and(|r| r.ok()),
        Err(_) => false,
    }
}

/// `navigator.userAgent`, for the resource.
pub(crate) fn user_agent() -> Option<String> {
    web_sys::window()?.navigator().user_agent().ok()
}

/// The `pagehide` and `visibilitychange` listeners; removed when dropped.
pub(crate) struct LifecycleListeners {
    pagehide: Closure<dyn FnMut(Event)>,
    visibility: Closure<dyn FnMut(Event)>,
}

impl LifecycleListeners {
    pub(crate) fn attach(queue: Queue) -> Self {
        let on_pagehide = {
            let queue = queue.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| send_all_keepalive(&queue))
        };
        let on_visibility = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let hidden = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.visibility_state() == VisibilityState::Hidden);
            if hidden {
                send_all_keepalive(&queue);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window
                .add_event_listener_with_callback("pagehide", on_pagehide.as_ref().unchecked_ref());
            if let Some(document) = window.document() {
                let _ = document.add_event_listener_with_callback(
                    "visibilitychange",
                    on_visibility.as_ref().unchecked_ref(),
                );
            }
        }
        Self {
            pagehide: on_pagehide,
            visibility: on_visibility,
        }
    }
}

impl Drop for LifecycleListeners {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            let _ = window.remove_event_listener_with_callback(
                "pagehide",
                self.pagehide.as_ref().unchecked_ref(),
            );
            if let Some(document) = window.document() {
                let _ = document.remove_event_listener_with_callback(
                    "visibilitychange",
                    self.visibility.as_ref().unchecked_ref(),
                );
            }
        }
    }
}
