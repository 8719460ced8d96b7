//! The span processor's bounded queue: each span is encoded as OTLP protobuf when it ends (SDK
//! specification, "Batching processor": spans wait for a full batch or the schedule delay). The
//! queue holds bytes, not span records. Target-independent: the browser transport
//! (`transport.rs`) drives the sends; natively the queue can be drained by hand, which is how the
//! tests check batching and encoding without a browser.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use opentelemetry::InstrumentationScope;
use otlp_wire::Resource;

use crate::{Config, trace::SpanData};

/// The most spans in a `keepalive` request: browsers cap the keepalive bodies in flight at 64 KiB
/// in all (see `transport::KEEPALIVE_BUDGET`).
const KEEPALIVE_BATCH: usize = 64;

/// Finished spans waiting to be sent, shared by the tracers and the transport.
#[derive(Clone)]
pub struct Queue {
    state: Arc<Mutex<State>>,
}

/// Only counts: printing what is queued would ship formatting code in every page.
impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queue")
    }
}

struct State {
    /// Each span encoded as one `ScopeSpans.spans` entry, with its tracer's scope, oldest first.
    /// A `Vec`, not a `VecDeque`: a batch is taken from the front by one `drain`, and the page
    /// ships no second collection's code for it (BENCHMARKS.md, "Page size").
    spans: Vec<(Arc<InstrumentationScope>, Vec<u8>)>,
    dropped: u64,
    failed_exports: u64,
    send_scheduled: bool,
    config: Config,
    resource: Resource,
    /// Every span that ended, for tests (the `testing` feature only).
    #[cfg(feature = "testing")]
    finished: Vec<SpanData>,
}

/// What a newly queued span asks of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Nothing: a send is already scheduled.
    Nothing,
    /// Schedule a send after this delay.
    After(Duration),
    /// A full batch is waiting: send now.
    Now,
    /// The queue was full and the span was dropped.
    Dropped,
}

impl Queue {
    pub(crate) fn new(config: Config, resource: Resource) -> Self {
        let state = State {
            spans: Vec::new(),
            dropped: 0,
            failed_exports: 0,
            send_scheduled: false,
            config,
            resource,
            #[cfg(feature = "testing")]
            finished: Vec::new(),
        };
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not stop telemetry: the queue's state is valid after any step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an ended span and starts what the transport must do about it.
    pub(crate) fn push_span(&self, span: &SpanData) {
        let wake = self.push(span);
        #[cfg(target_arch = "wasm32")]
        crate::transport::wake(self, wake);
        #[cfg(not(target_arch = "wasm32"))]
        let _ = wake;
    }

    /// Encodes `span` into the queue, unless the queue is full (then it is counted, not encoded).
    pub(crate) fn push(&self, span: &SpanData) -> Wake {
        let mut state = self.lock();
        #[cfg(feature = "testing")]
        state.finished.push(span.clone());
        if state.spans.len() >= state.config.max_queue_size {
            state.dropped += 1;
            return Wake::Dropped;
        }
        let mut encoded = Vec::with_capacity(256);
        otlp_wire::encode_span(&mut encoded, &span.wire());
        state
            .spans
            .push((Arc::clone(&span.instrumentation_scope), encoded));
        if state.spans.len() >= state.config.max_batch_size {
            Wake::Now
        } else if state.send_scheduled {
            Wake::Nothing
        } else {
            state.send_scheduled = true;
            Wake::After(state.config.schedule_delay)
        }
    }

    /// Takes the next batch, as a request body, or `None` when nothing waits. Either way the
    /// scheduled send has done its job: a span queued from now on schedules a new one, so a slow
    /// send in flight never holds later spans back.
    pub fn take_batch(&self, keepalive: bool) -> Option<Batch> {
        let mut state = self.lock();
        state.send_scheduled = false;
        if state.spans.is_empty() {
            return None;
        }
        let limit = if keepalive {
            KEEPALIVE_BATCH.min(state.config.max_batch_size)
        } else {
            state.config.max_batch_size
        };
        let count = limit.min(state.spans.len());
        // Spans of one tracer share its scope's `Arc`: grouped by pointer, no scope is compared
        // or copied (at worst, two tracers of equal scopes send two `ScopeSpans`, as OTLP allows).
        let mut scopes: Vec<(Arc<InstrumentationScope>, Vec<u8>)> = Vec::new();
        for (scope, encoded) in state.spans.drain(..count) {
            match scopes.iter_mut().find(|(s, _)| Arc::ptr_eq(s, &scope)) {
                Some((_, spans)) => spans.extend_from_slice(&encoded),
                None => scopes.push((scope, encoded)),
            }
        }
        let scopes = scopes
            .iter()
            .map(|(scope, spans)| (&**scope, spans.as_slice()));
        Some(Batch {
            body: otlp_wire::encode_scopes(&state.resource, scopes),
            spans: count,
            endpoint: state.config.endpoint.to_string(),
        })
    }

    /// How many spans wait.
    pub fn len(&self) -> usize {
        self.lock().spans.len()
    }

    /// Whether no span waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many spans were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// How many export requests failed.
    pub fn failed_exports(&self) -> u64 {
        self.lock().failed_exports
    }

    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn record_failed_export(&self) {
        self.lock().failed_exports += 1;
    }

    /// Every span that has ended so far.
    #[cfg(feature = "testing")]
    pub(crate) fn finished(&self) -> Vec<SpanData> {
        self.lock().finished.clone()
    }
}

/// One encoded export request.
#[derive(Debug)]
pub struct Batch {
    /// The OTLP protobuf body.
    pub body: Vec<u8>,
    /// How many spans it holds.
    pub spans: usize,
    /// Where to send it.
    pub endpoint: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TracerProvider;
    use opentelemetry::{
        Context, KeyValue,
        trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _},
    };
    use opentelemetry_proto::tonic::{
        collector::trace::v1::ExportTraceServiceRequest,
        common::v1::any_value,
        trace::v1::{span::SpanKind as ProtoKind, status::StatusCode},
    };
    use prost::Message;

    fn provider(config: Config) -> (TracerProvider, Queue) {
        let resource = config.resource(Some("TestAgent/1.0".into()));
        let (sampler, limits) = (config.sampler.clone(), config.span_limits);
        let queue = Queue::new(config, resource);
        (TracerProvider::new(queue.clone(), sampler, limits), queue)
    }

    fn string_attr(
        attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
        key: &str,
    ) -> Option<String> {
        attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                any_value::Value::IntValue(i) => Some(i.to_string()),
                _ => None,
            }
        })
    }

    #[test]
    fn a_batch_encodes_ids_parents_kinds_times_attributes_status_and_resource() {
        let config = Config {
            service_name: "checkout-web".into(),
            service_version: "0.1.0".into(),
            ..Default::default()
        };
        let (provider, queue) = provider(config);
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

        let batch = queue.take_batch(false).expect("a batch");
        assert_eq!(batch.spans, 2);
        assert_eq!(batch.endpoint, "/v1/traces");
        let request =
            ExportTraceServiceRequest::decode(batch.body.as_slice()).expect("valid OTLP protobuf");
        let resource_spans = &request.resource_spans[0];
        let resource = &resource_spans
            .resource
            .as_ref()
            .expect("resource")
            .attributes;
        assert_eq!(
            string_attr(resource, "service.name").as_deref(),
            Some("checkout-web")
        );
        assert_eq!(
            string_attr(resource, "service.version").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(
            string_attr(resource, "user_agent.original").as_deref(),
            Some("TestAgent/1.0")
        );
        assert_eq!(
            string_attr(resource, "telemetry.sdk.name").as_deref(),
            Some("otel-browser")
        );

        let spans = &resource_spans.scope_spans[0].spans;
        let by_name = |n: &str| spans.iter().find(|s| s.name == n).expect(n);
        let (root, child) = (by_name("checkout"), by_name("POST"));
        assert_eq!(root.trace_id, root_context.trace_id().to_bytes());
        assert_eq!(root.span_id, root_context.span_id().to_bytes());
        assert!(root.parent_span_id.is_empty());
        assert_eq!(root.flags & 0xff, 0x03, "sampled and random");
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.span_id, child_context.span_id().to_bytes());
        assert_eq!(child.parent_span_id, root.span_id);
        assert_eq!(root.kind, ProtoKind::Internal as i32);
        assert_eq!(child.kind, ProtoKind::Client as i32);
        assert_eq!(
            string_attr(&root.attributes, "cart.items").as_deref(),
            Some("3")
        );
        assert_eq!(
            string_attr(&child.attributes, "http.response.status_code").as_deref(),
            Some("502")
        );
        let status = child.status.as_ref().expect("status");
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(status.message, "Bad Gateway");
        assert!(root.start_time_unix_nano <= child.start_time_unix_nano);
        assert!(child.end_time_unix_nano <= root.end_time_unix_nano);
        assert!(
            root.start_time_unix_nano > 1_700_000_000_000_000_000,
            "wall-clock nanoseconds"
        );
        assert!(queue.take_batch(false).is_none());
    }

    #[test]
    fn the_queue_is_bounded_and_counts_what_it_drops() {
        let (provider, queue) = provider(Config {
            max_queue_size: 3,
            ..Default::default()
        });
        let tracer = provider.tracer("test");
        for _ in 0..5 {
            tracer.start("span").end();
        }
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.dropped(), 2);
    }

    #[test]
    fn the_first_span_schedules_a_send_and_a_full_batch_asks_for_one_now() {
        let (_provider, queue) = provider(Config {
            max_batch_size: 2,
            ..Default::default()
        });
        assert_eq!(
            queue.push(&sample_data()),
            Wake::After(Duration::from_millis(500))
        );
        assert_eq!(queue.push(&sample_data()), Wake::Now);
        assert!(queue.take_batch(false).is_some());
        assert!(queue.take_batch(false).is_none());
        assert_eq!(
            queue.push(&sample_data()),
            Wake::After(Duration::from_millis(500)),
            "an emptied queue schedules anew"
        );
        assert!(queue.take_batch(false).is_some(), "a send starts");
        assert_eq!(
            queue.push(&sample_data()),
            Wake::After(Duration::from_millis(500)),
            "a span queued while a send is in flight schedules its own"
        );
        assert_eq!(queue.len(), 1);
    }

    /// A span's data, as a tracer hands it to the queue.
    fn sample_data() -> SpanData {
        SpanData::started(
            opentelemetry::trace::SpanContext::empty_context(),
            None,
            SpanKind::Internal,
            "x".into(),
            crate::clock::now(),
            Arc::new(InstrumentationScope::builder("t").build()),
        )
    }

    #[test]
    fn keepalive_batches_stay_small() {
        let (provider, queue) = provider(Config {
            max_batch_size: 256,
            ..Default::default()
        });
        let tracer = provider.tracer("test");
        for _ in 0..100 {
            tracer.start("span").end();
        }
        let batch = queue.take_batch(true).expect("batch");
        assert_eq!(batch.spans, KEEPALIVE_BATCH);
        assert!(batch.body.len() < 60 * 1024, "{} bytes", batch.body.len());
    }
}
