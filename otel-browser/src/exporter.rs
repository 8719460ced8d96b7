//! The exporter: the one owner of the queue and of the sends. A span that ends is queued
//! ([`Exporter::export`]); a timer, a full batch, `pagehide` or an explicit flush sends what waits
//! as OTLP/HTTP protobuf with `fetch` (`transport.rs`), one batch at a time, and never traces its
//! own requests (the exporter must not feed itself). A batch that fails retryably is sent again,
//! on the backoff or when the collector's `Retry-After` says (the transport's JavaScript does the
//! attempts and the waits), while new spans queue within the queue's bounds; one the collector
//! refuses, or that runs out of attempts, is dropped and counted (the next span reports it).
//!
//! Concrete, not a `dyn SpanExporter`: the page links one exporter and no vtable.

use std::{borrow::Cow, sync::Arc};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::closure::Closure;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::{
    queue::{BatchConfig, Dropped, Queue},
    span_data::SpanData,
};

/// The most spans in a `keepalive` request: browsers cap the keepalive bodies in flight at 64 KiB
/// in all (the transport keeps to it, and sends what does not fit without `keepalive`).
const KEEPALIVE_BATCH: usize = 64;
/// How long one export attempt may take before it is abandoned (and counted as failed).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
const SEND_TIMEOUT_MS: u32 = 5_000;

/// The queue, where it sends to and with what resource. Cloning it is cheap: every clone sends
/// the same queue.
#[derive(Debug, Clone)]
pub(crate) struct Exporter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: Queue,
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    endpoint: Cow<'static, str>,
    resource: otlp_wire::Resource,
    /// The most attempts of one batch.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    max_attempts: u32,
    /// Whether the send loop runs: one does at a time, so that batches wait for the collector
    /// in the queue, within its bounds.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    sending: std::sync::atomic::AtomicBool,
    failed_exports: std::sync::atomic::AtomicU64,
}

/// One encoded export request: the queue's batch (`queue::Batch`) with the resource around it.
/// (Natively, only the tests send, by hand.)
#[derive(Debug)]
#[cfg_attr(not(any(target_arch = "wasm32", test)), allow(dead_code))]
pub(crate) struct Request {
    /// The OTLP protobuf body.
    pub(crate) body: Vec<u8>,
    /// How many spans it holds.
    #[cfg_attr(not(any(target_arch = "wasm32", test)), allow(dead_code))]
    pub(crate) spans: usize,
}

impl Exporter {
    pub(crate) fn new(
        batch: BatchConfig,
        max_attempts: u32,
        endpoint: Cow<'static, str>,
        resource: otlp_wire::Resource,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Queue::new(batch),
                endpoint,
                resource,
                max_attempts,
                sending: Default::default(),
                failed_exports: Default::default(),
            }),
        }
    }

    /// Queues an ended span (with the loss report when it carries one: `Queue::push`) and starts
    /// what it asks for: a timer, or a send now.
    pub(crate) fn export(&self, span: &mut SpanData) {
        let wake = self.shared.queue.push(span);
        #[cfg(target_arch = "wasm32")]
        self.wake(wake);
        #[cfg(not(target_arch = "wasm32"))]
        let _ = wake;
    }

    /// The next request's body, or `None` when nothing waits; `keepalive` ones stay small.
    #[cfg_attr(not(any(target_arch = "wasm32", test)), allow(dead_code))]
    pub(crate) fn next_batch(&self, keepalive: bool) -> Option<Request> {
        let max = if keepalive {
            KEEPALIVE_BATCH
        } else {
            usize::MAX
        };
        let taken = self.shared.queue.take(max)?;
        Some(Request {
            body: taken.to_request(&self.shared.resource),
            spans: taken.len(),
        })
    }

    /// What was dropped since the install, by reason.
    pub(crate) fn dropped(&self) -> Dropped {
        self.shared.queue.dropped()
    }

    /// Counts a loss.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn count(&self, dropped: impl FnOnce(&mut Dropped)) {
        self.shared.queue.count(dropped);
    }

    /// Where the batches go (for the offline queue).
    #[cfg(all(feature = "offline", target_arch = "wasm32"))]
    pub(crate) fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// How many export attempts failed, retried or not.
    pub(crate) fn failed_exports(&self) -> u64 {
        self.shared
            .failed_exports
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every span that has ended so far.
    #[cfg(feature = "testing")]
    pub(crate) fn finished(&self) -> Vec<SpanData> {
        self.shared.queue.finished()
    }
}

#[cfg(target_arch = "wasm32")]
impl Exporter {
    /// Acts on what a queued span asked for.
    fn wake(&self, wake: crate::queue::Wake) {
        use crate::queue::Wake;
        match wake {
            Wake::Nothing | Wake::Dropped => {}
            Wake::After(delay) => {
                let exporter = self.clone();
                // An event listener's closure type, though a timer calls it: the page then carries
                // one closure shim, the listeners', not a second one for `FnOnce` (BENCHMARKS.md).
                let flush = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
                    exporter.send_next();
                });
                crate::transport::set_timeout(
                    &flush.into_js_value(),
                    // Not `as_millis`, a u128.
                    u32::try_from(delay.as_secs())
                        .unwrap_or(u32::MAX / 1000)
                        .saturating_mul(1000)
                        .saturating_add(delay.subsec_millis()),
                );
            }
            Wake::Now => self.send_next(),
        }
    }

    /// Starts the send loop, unless it runs (it takes what waits when its batch is done). Out of
    /// line: one copy for the timer and for a full batch.
    #[inline(never)]
    fn send_next(&self) {
        if !self
            .shared
            .sending
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            spawn_local(self.clone().send_all(true));
        }
    }

    /// Sends what waits, as the send loop does; the future ends when the queue is empty. One
    /// started while the loop runs sends beside it.
    pub(crate) fn flush(self) -> impl std::future::Future<Output = ()> {
        self.send_all(false)
    }

    /// The send loop: sends batches until the queue is empty, one at a time, each until it is
    /// delivered or dropped (the transport's JavaScript makes the attempts and the waits), and
    /// counts what became of each. Deliberately not traced: the exporter must not feed itself.
    /// `claimed`: the caller set the `sending` flag for it (else it sets it, unless another loop
    /// has); the loop that set the flag clears it when it ends or is dropped.
    async fn send_all(self, claimed: bool) {
        use std::sync::atomic::Ordering;
        let shared = &self.shared;
        let owns = claimed || !shared.sending.swap(true, Ordering::Relaxed);
        let _sending = SendLoop(owns.then_some(&shared.sending));
        while let Some(request) = self.next_batch(false) {
            // A collector that accepts and never answers must not hold a send (and the queue)
            // forever: each attempt is aborted after `SEND_TIMEOUT_MS`.
            let answer = JsFuture::from(crate::transport::post(
                &shared.endpoint,
                &request.body,
                false,
                SEND_TIMEOUT_MS,
                shared.max_attempts,
                request.spans,
            ))
            .await;
            // `outcome + 4 × failed attempts`; the promise never rejects.
            let answer = answer.ok().and_then(|a| a.as_f64()).unwrap_or(2.0) as u64;
            (shared.failed_exports).fetch_add(answer / 4, Ordering::Relaxed);
            let spans = request.spans as u64;
            match answer % 4 {
                1 => self.count(|dropped| dropped.refused += spans),
                2 => self.count(|dropped| dropped.retries_exhausted += spans),
                _ => {} // delivered, or stored by the offline queue
            }
        }
    }

    /// The page is going away or being hidden: start every send now, in batches of at most
    /// [`KEEPALIVE_BATCH`] spans. Those that fit the browser's `keepalive` budget (64 KiB, 15
    /// requests) go with `keepalive`, so they outlive the page; the rest as plain requests, which
    /// complete when the page was only hidden and may be cut off when it unloads. (A batch
    /// waiting for a retry is sent at once too: the transport ends its wait.) Also for an instrumentation that
    /// ends spans in a `pagehide` listener of its own, which runs after the SDK's (listeners at
    /// the event's target run in the order they were added), and for a crash's last words.
    pub(crate) fn send_keepalive(&self) {
        while let Some(request) = self.next_batch(true) {
            // Not awaited, nor counted: its one attempt ends after the page, or with nothing left
            // to report it.
            let _ = crate::transport::post(
                &self.shared.endpoint,
                &request.body,
                true,
                SEND_TIMEOUT_MS,
                1,
                request.spans,
            );
        }
    }
}

/// The send loop's hold on the `sending` flag (when it set it): cleared when the loop ends, or
/// when its future is dropped unfinished (a flush the page stopped awaiting), so that the timer
/// and full batches start sends again.
#[cfg(target_arch = "wasm32")]
struct SendLoop<'a>(Option<&'a std::sync::atomic::AtomicBool>);

#[cfg(target_arch = "wasm32")]
impl Drop for SendLoop<'_> {
    fn drop(&mut self) {
        if let Some(sending) = self.0 {
            sending.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The `pagehide` and `visibilitychange` listeners, which send what waits with `keepalive`;
/// removed when dropped. One closure for both, added by the snippet (which reads
/// `document.hidden`): no `window`/`document` glue here.
#[cfg(target_arch = "wasm32")]
pub(crate) struct LifecycleListeners {
    remove: wasm_bindgen::JsValue,
    _on_hide: Closure<dyn FnMut(web_sys::Event)>,
}

#[cfg(target_arch = "wasm32")]
impl LifecycleListeners {
    pub(crate) fn attach(exporter: Exporter) -> Self {
        let on_hide = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            exporter.send_keepalive();
        });
        Self {
            remove: crate::transport::listen(on_hide.as_ref()),
            _on_hide: on_hide,
        }
    }
}

#[cfg(target_arch = "wasm32")]
impl Drop for LifecycleListeners {
    fn drop(&mut self) {
        crate::transport::unlisten(&self.remove);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, trace::TracerProvider};
    use opentelemetry::{
        Context, KeyValue,
        trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _},
    };
    use test_support::trace::{self as decoded, StatusCode};

    fn provider(config: Config) -> (TracerProvider, Exporter) {
        let provider = config.provider(Some("TestAgent/1.0".into()));
        let exporter = provider.exporter().clone();
        (provider, exporter)
    }

    #[test]
    fn a_batch_encodes_ids_parents_kinds_times_attributes_status_and_resource() {
        let config = Config {
            service_name: "checkout-web".into(),
            service_version: "0.1.0".into(),
            ..Default::default()
        };
        let (provider, exporter) = provider(config);
        let tracer = provider.tracer("test");
        let root = tracer
            .span_builder("checkout")
            .with_kind(SpanKind::Internal)
            .with_attributes(vec![KeyValue::new("cart.items", 3_i64)])
            .start(&tracer);
        let root_cx = Context::current_with_span(root);
        let mut child = tracer
            .span_builder("POST")
            .with_kind(SpanKind::Client)
            .start_with_context(&tracer, &root_cx);
        child.set_attribute(KeyValue::new("http.response.status_code", 502_i64));
        child.set_status(Status::error("Bad Gateway"));
        let child_context = child.span_context().clone();
        child.end();
        let root_context = root_cx.span().span_context().clone();
        root_cx.span().end();

        let batch = exporter.next_batch(false).expect("a batch");
        assert_eq!(batch.spans, 2);
        assert_eq!(
            exporter.shared.endpoint, "/v1/traces",
            "the default endpoint"
        );
        let spans = decoded::Span::decode(&batch.body).expect("valid OTLP protobuf");
        for (key, value) in [
            ("service.name", "checkout-web"),
            ("service.version", "0.1.0"),
            ("user_agent.original", "TestAgent/1.0"),
            ("telemetry.sdk.name", "otel-browser"),
        ] {
            assert_eq!(spans[0].resource.get(key).map(String::as_str), Some(value));
        }

        let (root, child) = (
            decoded::one(&spans, "checkout"),
            decoded::one(&spans, "POST"),
        );
        assert_eq!(root.trace_id, root_context.trace_id().to_string());
        assert_eq!(root.span_id, root_context.span_id().to_string());
        assert!(root.parent_id.is_empty());
        assert_eq!(root.wire.flags & 0xff, 0x03, "sampled and random");
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.span_id, child_context.span_id().to_string());
        assert_eq!(child.parent_id, root.span_id);
        assert_eq!(root.kind, decoded::SpanKind::Internal);
        assert_eq!(child.kind, decoded::SpanKind::Client);
        assert_eq!(root.wire.attributes.int("cart.items"), Some(3));
        assert_eq!(
            child.wire.attributes.int("http.response.status_code"),
            Some(502)
        );
        assert_eq!(child.status, StatusCode::Error);
        assert_eq!(child.status_message, "Bad Gateway");
        assert!(root.start_ns <= child.start_ns);
        assert!(child.end_ns <= root.end_ns);
        assert!(
            root.start_ns > 1_700_000_000_000_000_000,
            "wall-clock nanoseconds"
        );
        assert!(exporter.next_batch(false).is_none());
    }

    #[test]
    fn keepalive_batches_stay_small() {
        let (provider, exporter) = provider(Config {
            max_batch_size: 256,
            ..Default::default()
        });
        let tracer = provider.tracer("test");
        for _ in 0..100 {
            tracer.start("span").end();
        }
        let batch = exporter.next_batch(true).expect("batch");
        assert_eq!(batch.spans, KEEPALIVE_BATCH);
        assert!(batch.body.len() < 60 * 1024, "{} bytes", batch.body.len());
    }
}
