//! The offline queue: batches the exporter could not deliver, kept in the browser's IndexedDB as
//! the encoded OTLP bodies they are, and sent at the next load of any page of the origin that
//! installs it, and when the browser is back `online`. Installed explicitly, as the
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
    inline_js = r#"const c=s=>new Promise((i,l)=>{s.onsuccess=()=>i(s.result),s.onerror=()=>l(s.error)});export async function install(s,i,l,p,u){let d;try{const t=indexedDB.open("otel-browser",1);t.onupgradeneeded=()=>t.result.createObjectStore("batches",{autoIncrement:!0}),d=await c(t)}catch{return}const w=t=>d.transaction("batches",t).objectStore("batches"),y=async t=>{const a=[];let n=0;for(let e=await c(t.openCursor());e;e=await c((e.continue(),e.request))){const{at:o,body:r,spans:f}=e.value;o<Date.now()-p?(u(5,f),e.delete()):(a.push([e.primaryKey,r.length,f]),n+=r.length)}for(const[e,o,r]of a){if(n<=l)break;n-=o,u(4,r),t.delete(e)}},h=i(async(t,a)=>{try{const n=w("readwrite");return n.add({at:Date.now(),body:t,spans:a}),await y(n),await new Promise((e,o)=>{n.transaction.oncomplete=e,n.transaction.onerror=n.transaction.onabort=o}),!0}catch{return!1}}),b=async()=>{try{await navigator.locks.request("otel-browser-offline",async()=>{for(;;){const t=w("readwrite");await y(t);const a=await c(t.openCursor());if(!a)return;const n=a.primaryKey,{body:e,spans:o}=a.value,r=await h(s,e,!1,5e3,1,0)%4;if(r>1)return;r&&u(2,o),await c(w("readwrite").delete(n))}})}catch{}};addEventListener("online",b),await b()}"#
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
/// of earlier pages are sent now, and on `online`. The queue works whether or not the future is
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
