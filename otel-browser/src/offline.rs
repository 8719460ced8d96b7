//! The offline queue: batches the exporter could not deliver, kept in the browser's IndexedDB as
//! the encoded OTLP bodies they are, and sent at the next load of any page of the origin that
//! installs it, when the browser is back `online`, and when an export of the page's works again
//! (the collector is back). Installed explicitly, as the
//! instrumentations are: a page that does not install it ships none of its code.
//!
//! - Stored: a batch whose attempts ran out, one the page could not send with `keepalive` as it
//!   went away (the browser's 64 KiB or 15 requests were taken) or whose retry was waiting then,
//!   and every batch while `navigator.onLine` is false. Its spans keep their own times.
//! - Bounded by bytes ([`OfflineConfig::max_bytes`], default 1 MiB) and by age
//!   ([`OfflineConfig::max_age`], default 24 h); past either the oldest go first, counted
//!   ([`Dropped::offline_full`](crate::Dropped::offline_full),
//!   [`Dropped::offline_expired`](crate::Dropped::offline_expired)).
//! - Sent one batch at a time under a Web Lock, so two tabs never send the same batch, and
//!   deleted only after the collector's 2xx (or its refusal, which is final and counted), so none
//!   is sent twice.
//! - Without IndexedDB (private mode, quota, blocked) there is no offline queue: the exporter
//!   counts its losses as it does without one, and nothing breaks.
//!
//! ```no_run
//! # let telemetry = otel_browser::BrowserTelemetry::install(Default::default());
//! // Not awaited: the queue works from now on, and sends what earlier pages stored.
//! let _ = otel_browser::offline::install(&telemetry, Default::default());
//! ```

use std::time::Duration;

use wasm_bindgen::{JsValue, closure::Closure, prelude::wasm_bindgen};
use wasm_bindgen_futures::JsFuture;

use crate::BrowserTelemetry;

// The store, in a snippet of its own (only a page that installs the queue ships it).
// Readable in `otel-browser/js/offline.js`; the literal is its minification (scripts/snippets.py).
#[wasm_bindgen(
    inline_js = r#"const c=s=>new Promise((i,l)=>{s.onsuccess=()=>i(s.result),s.onerror=()=>l(s.error)});export async function install(s,i,l,h,u){let f;try{const t=indexedDB.open("otel-browser",1);t.onupgradeneeded=()=>t.result.createObjectStore("batches",{autoIncrement:!0}),f=await c(t)}catch{return}const w=t=>f.transaction("batches",t).objectStore("batches"),b=async t=>{const n=[];let a=0;for(let e=await c(t.openCursor());e;e=await c((e.continue(),e.request))){const{at:r,body:o,spans:p}=e.value;r<Date.now()-h?(u(5,p),e.delete()):(n.push([e.primaryKey,o.length,p]),a+=o.length)}for(const[e,r,o]of n){if(a<=l)break;a-=r,u(4,o),t.delete(e)}},m=async(t,n)=>{try{const a=w("readwrite");return a.add({at:Date.now(),body:t,spans:n}),await b(a),await new Promise((e,r)=>{a.transaction.oncomplete=e,a.transaction.onerror=a.transaction.onabort=r}),!0}catch{return!1}};let d=!1;const g=i(m,()=>d||y()),y=async()=>{d=!0;try{await navigator.locks.request("otel-browser-offline",async()=>{for(;;){const t=w("readwrite");await b(t);const n=await c(t.openCursor());if(!n)return;const a=n.primaryKey,{body:e,spans:r}=n.value,o=await g(s,e,!1,5e3,1,0)%4;if(o>1)return;o&&u(2,r),await c(w("readwrite").delete(a))}})}catch{}d=!1};addEventListener("online",y),await y()}"#
)]
extern "C" {
    /// Opens the store, hands the transport its spill and sends what is stored.
    #[wasm_bindgen(js_name = install)]
    fn open(
        url: &str,
        spill_to: &JsValue,
        max_bytes: f64,
        max_age_ms: f64,
        dropped: &JsValue,
    ) -> js_sys::Promise;
}

/// The offline queue's bounds. `Default` gives the values the field docs name.
#[derive(Debug, Clone, Copy)]
pub struct OfflineConfig {
    /// The most bytes of stored bodies (default 1 MiB).
    pub max_bytes: usize,
    /// How long a stored batch is kept (default 24 h).
    pub max_age: Duration,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Installs the offline queue for `telemetry`'s exporter, for the page's life: stored batches
/// of earlier pages are sent now, on `online`, and after an export that worked. The queue works whether or not the future is
/// awaited; it resolves once the store is open and what it held is sent (or still failing).
pub fn install(telemetry: &BrowserTelemetry, config: OfflineConfig) -> JsFuture {
    let exporter = telemetry.provider().exporter().clone();
    // What the bounds evict and what the collector refuses, counted by reason as the exporter
    // counts its own (the reasons are the transport's outcomes and the store's).
    let dropped = Closure::<dyn FnMut(u32, u32)>::new(move |reason: u32, spans: u32| {
        let spans = u64::from(spans);
        exporter.count(|dropped| match reason {
            2 => dropped.refused += spans,
            4 => dropped.offline_full += spans,
            _ => dropped.offline_expired += spans,
        });
    });
    let endpoint = telemetry.provider().exporter().endpoint();
    JsFuture::from(open(
        endpoint,
        &crate::transport::SPILL_TO.with(JsValue::clone),
        config.max_bytes as f64,
        config.max_age.as_millis() as f64,
        // The store calls it for the page's life.
        &dropped.into_js_value(),
    ))
}
