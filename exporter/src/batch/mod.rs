//! The batch span processor: each span is encoded as OTLP protobuf on the thread that ends it, and
//! one thread of the processor's own posts the batches.
//!
//! Why not the SDK's `BatchSpanProcessor`: it moves each `SpanData` through a channel to its thread,
//! which encodes and frees it there. Profiled (BENCHMARKS.md, "Span cost"), that hand-off cost a
//! cheap request more than encoding did: the queue, memory allocated on one thread and freed on
//! another (which makes every later `malloc` of the request threads dearer), and the span data read
//! again from cold cache. Here the span is encoded while it is still hot, its memory is freed
//! where it was allocated, and the queue holds bytes under a mutex held for one copy. The buffer
//! each batch fills is made by the export thread at the size of the last full batch, so that no
//! batch grows (and no 150 KB buffer comes and goes) in the allocator of the threads that end
//! spans.
//!
//! The behaviour is the specification's batching processor (SDK, "Batching processor"): spans are
//! exported when a batch is full or `OTEL_BSP_SCHEDULE_DELAY` after the last export; a full queue
//! drops new spans (counted, and said once); `force_flush` and `shutdown` export what is queued,
//! within their time, and answer whether it was exported. The `OTEL_BSP_*` variables keep their
//! meaning.
//!
//! A collector outage loses nothing the queue can hold. A batch that could not be sent (no
//! connection, no answer in time, the collector unavailable; not one it refused) is kept, as the
//! request body the transport prepared (gzipped, with `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`), and
//! sent again after a backoff of 0.5 s doubling to 2 s; while exports fail, each batch that fills is
//! prepared and kept the same way. The queue is bounded by spans (`OTEL_BSP_MAX_QUEUE_SIZE`) and by
//! bytes (`EXPORT_QUEUE_MAX_BYTES`: the encoded spans waiting plus the bodies kept), so a long
//! outage costs little memory. When exports succeed again, new batches go before the kept ones, so
//! the backlog delays no new span.

use std::{
    cell::Cell,
    collections::VecDeque,
    mem,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use bytes::Bytes;
use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanProcessor},
};
use otlp_wire::encode_span;

use crate::{
    ExporterConfigError, ExporterSettings, HttpTransport, Transport, wire_resource, wire_span,
};
pub use config::BatchConfig;
use export_thread::export_thread;
use scope::Scope;

mod config;
mod export_thread;
mod scope;

/// A batch of encoded spans, grouped by scope.
type EncodedBatch = otlp_wire::EncodedBatch<Scope>;

/// How long [`SpanProcessor::force_flush`] waits for the export thread (the SDK's own bound).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The batch span processor; see the module documentation.
#[derive(Debug)]
pub struct BatchProcessor {
    shared: Arc<Shared>,
    config: BatchConfig,
    worker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the export thread: the first span queued, a full batch, a flush, or shutdown.
    work: Condvar,
    /// Wakes those waiting for a flush or for the thread to stop.
    done: Condvar,
    /// Spans in `queue.batches` and `queue.kept`, and the bytes they take; changed only under the
    /// lock, read without it so that a full queue (a collector that is down) costs a dropped span
    /// no encoding.
    queued: AtomicUsize,
    queued_bytes: AtomicUsize,
}

#[derive(Debug)]
struct Queue {
    /// Batches of at most `max_export_batch_size` spans, oldest first; only the last one fills.
    batches: VecDeque<EncodedBatch>,
    /// The bytes of the next batch, allocated by the export thread at the size of the last full
    /// one (empty: none yet). A batch that grew on the threads that end spans would leave their
    /// allocator's arenas holding, then freeing, a buffer of some 150 KB per batch, and make each
    /// of their own allocations dearer.
    spare: Vec<u8>,
    /// Batches that could not be sent yet, oldest first: their prepared bodies and span counts.
    kept: VecDeque<Kept>,
    dropped: u64,
    resource: otlp_wire::Resource,
    /// Flushes asked for, the last of them the export thread has finished, and what failed to
    /// export since the flush before it.
    flushes_asked: u64,
    flushes_done: u64,
    flush_failure: Option<String>,
    /// Whether shutdown was asked for, and by when it must end (`None`: no limit).
    shutting_down: bool,
    shutdown_by: Option<Instant>,
    /// The export thread has ended (after shutdown, or a panic in the transport).
    stopped: bool,
}

/// A batch kept through an outage: the body to send, and how many spans it holds.
#[derive(Debug)]
struct Kept {
    body: Bytes,
    spans: usize,
}

impl Shared {
    /// Takes `spans` spans of `bytes` bytes off the queue's counts (sent, dropped, or moved).
    fn release(&self, spans: usize, bytes: usize) {
        self.queued.fetch_sub(spans, Ordering::Relaxed);
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Whether one more span of `bytes` bytes has no room.
    fn is_full(&self, config: &BatchConfig, bytes: usize) -> bool {
        self.queued.load(Ordering::Relaxed) >= config.max_queue_size
            || self.queued_bytes.load(Ordering::Relaxed) + bytes > config.max_queue_bytes
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while the lock is held leaves the queue consistent (every update is one step).
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on `condvar` until it is notified or `deadline` (none: until notified), the lock
    /// given up meanwhile. False, without waiting, when the deadline has passed.
    fn wait_until<'a>(
        &self,
        condvar: &Condvar,
        queue: MutexGuard<'a, Queue>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, Queue>, bool) {
        let Some(deadline) = deadline else {
            return (
                condvar.wait(queue).unwrap_or_else(PoisonError::into_inner),
                true,
            );
        };
        let now = Instant::now();
        if now >= deadline {
            return (queue, false);
        }
        match condvar.wait_timeout(queue, deadline - now) {
            Ok((queue, _)) => (queue, true),
            Err(poisoned) => (poisoned.into_inner().0, true),
        }
    }
}

/// Marks the export thread stopped when it ends, however it ends, so that no flush or shutdown
/// waits for a thread that is gone.
struct StopOnExit<'a>(&'a Shared);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
        self.0.done.notify_all();
    }
}

thread_local! {
    /// The bytes of the span being encoded, kept per thread so a span costs no allocation.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl BatchProcessor {
    /// The processor the variables describe, posting to the collector over OTLP/HTTP: batches as
    /// `OTEL_BSP_*` say ([`BatchConfig::from_env`]), the collector and the connection as
    /// `OTEL_EXPORTER_OTLP_*` say ([`ExporterSettings::from_env`]). A value that cannot be
    /// honoured (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc` among them) is an error naming its variable.
    pub fn from_env() -> Result<Self, ExporterConfigError> {
        let transport = HttpTransport::new(ExporterSettings::from_env()?)?;
        Ok(Self::new(transport, BatchConfig::from_env()))
    }

    /// Starts the export thread, which sends each batch through `transport`.
    pub fn new(transport: impl Transport, config: BatchConfig) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                batches: VecDeque::new(),
                spare: Vec::new(),
                kept: VecDeque::new(),
                dropped: 0,
                resource: otlp_wire::Resource::default(),
                flushes_asked: 0,
                flushes_done: 0,
                flush_failure: None,
                shutting_down: false,
                shutdown_by: None,
                stopped: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            queued: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
        });
        let worker = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("otlp-export".to_owned())
                .spawn(move || export_thread(&shared, &transport, config))
                .expect("the export thread starts")
        };
        Self {
            shared,
            config,
            worker: Mutex::new(Some(worker)),
        }
    }

    /// Counts a span the full queue has no room for; the first is said, the count at shutdown.
    fn drop_span(&self, queue: &mut Queue) {
        queue.dropped += 1;
        if queue.dropped == 1 {
            tracing::warn!(
                max_queue_size = self.config.max_queue_size,
                max_queue_bytes = self.config.max_queue_bytes,
                "span export queue full: spans are dropped until it drains \
                 (the count is logged at shutdown)"
            );
        }
    }
}

/// What a flush or shutdown answers once the export thread has done its round: the round's
/// failures, if any (SDK, "ForceFlush" and "Shutdown": "SHOULD let the caller know whether it
/// succeeded, failed or timed out").
fn round_result(queue: &Queue) -> OTelSdkResult {
    match &queue.flush_failure {
        None => Ok(()),
        Some(failure) => Err(OTelSdkError::InternalFailure(failure.clone())),
    }
}

impl SpanProcessor for BatchProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // Spans that are recorded but not sampled reach processors, never exporters (SDK,
        // "Sampling": the table of IsRecording and Sampled).
        if !span.span_context.is_sampled() {
            return;
        }
        if self.shared.is_full(&self.config, 0) {
            self.drop_span(&mut self.shared.lock());
            return;
        }
        // A span can end while its thread is being torn down (one left in a thread-local context),
        // when the scratch buffer is gone: then it gets a buffer of its own.
        let mut encoded = SCRATCH.try_with(Cell::take).unwrap_or_default();
        encoded.clear();
        encode_span(&mut encoded, &wire_span(&span));
        let scope = Scope(span.instrumentation_scope);
        {
            let mut queue = self.shared.lock();
            if queue.shutting_down {
                // After shutdown nothing is exported; the provider is done with.
            } else if self.shared.is_full(&self.config, encoded.len()) {
                self.drop_span(&mut queue);
            } else {
                let batch_size = self.config.max_export_batch_size;
                let started = match queue.batches.back_mut() {
                    Some(last) if last.len() < batch_size => {
                        last.push(&scope, &encoded);
                        false
                    }
                    _ => {
                        let mut spans = mem::take(&mut queue.spare);
                        spans.extend_from_slice(&encoded);
                        let mut batch = EncodedBatch::default();
                        batch.push_owned(scope, spans);
                        queue.batches.push_back(batch);
                        true
                    }
                };
                let filled = (queue.batches.back()).is_some_and(|last| last.len() == batch_size);
                self.shared
                    .queued_bytes
                    .fetch_add(encoded.len(), Ordering::Relaxed);
                let first = self.shared.queued.fetch_add(1, Ordering::Relaxed) == 0;
                // A batch started with the spare buffer: the export thread makes the next one.
                if first || filled || started {
                    self.shared.work.notify_one();
                }
            }
        }
        let _ = SCRATCH.try_with(|scratch| scratch.set(encoded));
    }

    fn force_flush(&self) -> OTelSdkResult {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        let mut queue = self.shared.lock();
        if queue.shutting_down {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        queue.flushes_asked += 1;
        let ticket = queue.flushes_asked;
        self.shared.work.notify_one();
        while queue.flushes_done < ticket {
            if queue.stopped {
                return Err(OTelSdkError::InternalFailure(
                    "the export thread has stopped".to_owned(),
                ));
            }
            let (next, in_time) = self
                .shared
                .wait_until(&self.shared.done, queue, Some(deadline));
            queue = next;
            if !in_time {
                return Err(OTelSdkError::Timeout(FLUSH_TIMEOUT));
            }
        }
        round_result(&queue)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut queue = self.shared.lock();
        if queue.shutting_down {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        queue.shutting_down = true;
        queue.shutdown_by = Instant::now().checked_add(timeout);
        if queue.dropped > 0 {
            tracing::warn!(
                dropped_span_count = queue.dropped,
                max_queue_size = self.config.max_queue_size,
                "spans were dropped because the export queue was full; raise \
                 OTEL_BSP_MAX_QUEUE_SIZE and EXPORT_QUEUE_MAX_BYTES, or lower OTEL_BSP_SCHEDULE_DELAY"
            );
        }
        self.shared.work.notify_one();
        let deadline = queue.shutdown_by;
        while !queue.stopped {
            let (next, in_time) = self.shared.wait_until(&self.shared.done, queue, deadline);
            queue = next;
            if !in_time {
                // The thread is left to its send; the process is ending.
                return Err(OTelSdkError::Timeout(timeout));
            }
        }
        let result = round_result(&queue);
        drop(queue);
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            let _ = worker.join();
        }
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.lock().resource = wire_resource(resource);
    }
}

/// Whether the oldest batch is full (then it is not the last, or the last has just filled).
fn full(queue: &Queue, batch_size: usize) -> bool {
    queue.batches.front().is_some_and(|b| b.len() >= batch_size)
}

#[cfg(test)]
mod tests;
