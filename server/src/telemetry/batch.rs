//! The batch span processor: each span is encoded as OTLP protobuf on the thread that ends it, and
//! one thread of the processor's own posts the batches.
//!
//! Why not the SDK's `BatchSpanProcessor`: it moves each `SpanData` through a channel to its thread,
//! which encodes and frees it there. Profiled (BENCHMARKS.md, "Span cost"), that hand-off cost a
//! cheap request more than encoding did: the queue, memory allocated on one thread and freed on
//! another (which makes every later `malloc` of the request threads dearer), and the span data read
//! again from cold cache. Here the span is encoded while it is still hot, its memory is freed
//! where it was allocated, and the queue holds bytes under a mutex held for one copy.
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
    env,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanProcessor},
};
use otlp_wire::{EncodedBatch, encode_span};

use super::{timeout_millis, whole_number};

/// How long [`SpanProcessor::force_flush`] waits for the export thread (the SDK's own bound).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where encoded batches go: [`OtlpHttpExporter`](super::export::OtlpHttpExporter) in the server.
pub trait Transport: Send + 'static {
    /// The body to send for one `ExportTraceServiceRequest` (compressed, if the transport
    /// compresses); made once per batch, on the export thread, and kept while the batch waits.
    fn prepare(&self, request: Vec<u8>) -> Bytes {
        Bytes::from(request)
    }

    /// Sends one body [`prepare`](Self::prepare) made, retrying as the protocol says, within
    /// `timeout` (`None`: no limit but the transport's own).
    fn send(&self, body: Bytes, timeout: Option<Duration>) -> Result<(), ExportError>;
}

/// Why a batch was not exported.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportError {
    /// The collector refused it (a client error): sending it again cannot help; it is dropped.
    #[error("{0}")]
    Rejected(String),
    /// It did not get through (no connection, no answer in time, the collector unavailable after
    /// its retries): it is kept and sent again.
    #[error("{0}")]
    Unavailable(String),
}

/// The `OTEL_BSP_*` settings (SDK environment variables, "Batch Span Processor"). A value that is
/// not a whole number, or a size of 0, is warned about and the default used instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// `OTEL_BSP_SCHEDULE_DELAY`: the time between two exports (default 5 s; 0 exports whatever
    /// is queued as soon as the last export is done).
    pub schedule_delay: Duration,
    /// `OTEL_BSP_EXPORT_TIMEOUT`: the longest one export may take (default 30 s; 0, `None`: no
    /// limit).
    pub export_timeout: Option<Duration>,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`: spans kept waiting before new ones are dropped (default 2048).
    pub max_queue_size: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: spans in one export (default 512, at most the queue size).
    pub max_export_batch_size: usize,
    /// `EXPORT_QUEUE_MAX_BYTES` (this processor's own): the bytes the queue may hold, encoded
    /// spans and the bodies of batches kept through an outage (default 16 MiB).
    pub max_queue_bytes: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            schedule_delay: Duration::from_millis(5000),
            export_timeout: Some(Duration::from_millis(30_000)),
            max_queue_size: 2048,
            max_export_batch_size: 512,
            max_queue_bytes: 16 << 20,
        }
    }
}

impl BatchConfig {
    /// The settings the `OTEL_BSP_*` variables give, defaults for the ones unset.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// The settings the variables `lookup` gives (tests need not touch the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let defaults = Self::default();
        let number = |name: &str, least: u64| whole_number(name, lookup(name), least);
        let size = |name: &str, default: usize| {
            number(name, 1).map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        let max_queue_size = size("OTEL_BSP_MAX_QUEUE_SIZE", defaults.max_queue_size);
        Self {
            schedule_delay: number("OTEL_BSP_SCHEDULE_DELAY", 0)
                .map_or(defaults.schedule_delay, Duration::from_millis),
            export_timeout: number("OTEL_BSP_EXPORT_TIMEOUT", 0)
                .map_or(defaults.export_timeout, timeout_millis),
            max_queue_size,
            // "Must be less than or equal to OTEL_BSP_MAX_QUEUE_SIZE": a larger one is the queue's.
            max_export_batch_size: size(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                defaults.max_export_batch_size,
            )
            .min(max_queue_size),
            max_queue_bytes: size("EXPORT_QUEUE_MAX_BYTES", defaults.max_queue_bytes),
        }
    }
}

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
    /// Starts the export thread, which sends each batch through `transport`.
    pub fn new(transport: impl Transport, config: BatchConfig) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                batches: VecDeque::new(),
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

/// The SDK's span as the OTLP writer takes it (borrowed, nothing copied).
pub fn wire_span(span: &SpanData) -> otlp_wire::Span<'_> {
    otlp_wire::Span {
        context: &span.span_context,
        parent_span_id: span.parent_span_id,
        parent_is_remote: span.parent_span_is_remote,
        kind: &span.span_kind,
        name: &span.name,
        start_time: span.start_time,
        end_time: span.end_time,
        attributes: &span.attributes,
        dropped_attributes_count: span.dropped_attributes_count,
        events: &span.events.events,
        dropped_events_count: span.events.dropped_count,
        links: &span.links.links,
        dropped_links_count: span.links.dropped_count,
        status: &span.status,
        scope: &span.instrumentation_scope,
    }
}

/// The SDK's resource as the OTLP writer takes it.
pub fn wire_resource(resource: &Resource) -> otlp_wire::Resource {
    otlp_wire::Resource {
        attributes: resource
            .iter()
            .map(|(key, value)| opentelemetry::KeyValue::new(key.clone(), value.clone()))
            .collect(),
        schema_url: resource.schema_url().map(|url| url.to_owned().into()),
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
        let scope = span.instrumentation_scope;
        {
            let mut queue = self.shared.lock();
            if queue.shutting_down {
                // After shutdown nothing is exported; the provider is done with.
            } else if self.shared.is_full(&self.config, encoded.len()) {
                self.drop_span(&mut queue);
            } else {
                if (queue.batches.back())
                    .is_none_or(|last| last.len() >= self.config.max_export_batch_size)
                {
                    queue.batches.push_back(EncodedBatch::default());
                }
                let last = queue.batches.back_mut().expect("a batch with room");
                last.push(&scope, &encoded);
                let filled = last.len() == self.config.max_export_batch_size;
                self.shared
                    .queued_bytes
                    .fetch_add(encoded.len(), Ordering::Relaxed);
                let first = self.shared.queued.fetch_add(1, Ordering::Relaxed) == 0;
                if first || filled {
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

/// The first wait before a kept batch is sent again, and the longest (it doubles in between).
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What the export thread is to do this time round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Send the full batches, and the oldest kept one if its turn ([`DRAIN_INTERVAL`]) has come.
    Full,
    /// Exports fail and the retry is not due: prepare the full batches and keep them.
    Keep,
    /// The retry is due: send the full batches and the oldest kept one.
    Retry,
    /// The schedule delay passed: send every batch, the one still filling too (and a kept one,
    /// as [`Round::Full`]).
    Scheduled,
    /// A flush: send everything, every kept batch too.
    Flush,
    /// Send everything once, by `Shutdown`'s deadline, then stop.
    Shutdown(Deadline),
}

/// By when shutdown must be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    At(Instant),
    /// `shutdown_with_timeout` with a timeout too large to be an instant.
    None,
}

/// What the export thread carries from one round to the next.
struct Exporter<'a, T> {
    shared: &'a Shared,
    transport: &'a T,
    config: BatchConfig,
    /// "The delay interval between two consecutive exports" (SDK, "Batching processor").
    next_export: Option<Instant>,
    /// While exports fail: when to send again, and the wait after that.
    retry: Option<(Instant, Duration)>,
    /// When the next kept batch may be sent, once exports work again ([`DRAIN_INTERVAL`]).
    next_drain: Instant,
    /// What failed to export since the last flush, for that flush to answer.
    failure: Option<String>,
    failing: Failing,
}

/// The export thread: waits for a round ([`Exporter::wait`]), takes its batches off the queue
/// ([`Exporter::take`]), prepares their bodies and sends them or keeps them ([`Exporter::send`]).
#[inline(never)] // named in profiles (scripts/span-cost.sh --profile)
fn export_thread(shared: &Shared, transport: &impl Transport, config: BatchConfig) {
    // The HTTP client's own work must not make spans that feed this pipeline.
    let _suppressed = Context::enter_telemetry_suppressed_scope();
    let _stop = StopOnExit(shared);
    let mut exporter = Exporter {
        shared,
        transport,
        config,
        next_export: Instant::now().checked_add(config.schedule_delay),
        retry: None,
        next_drain: Instant::now(),
        failure: None,
        failing: Failing::default(),
    };
    loop {
        let (round, flush) = exporter.wait();
        let (batches, kept) = exporter.take(round);
        let bodies: Vec<Kept> = batches
            .into_iter()
            .map(|(batch, request)| Kept {
                body: transport.prepare(request),
                spans: batch.len(),
            })
            .collect();
        exporter.send(round, bodies, kept);
        let mut queue = shared.lock();
        if matches!(round, Round::Scheduled | Round::Flush | Round::Shutdown(_)) {
            queue.flushes_done = flush;
            queue.flush_failure = exporter.failure.take();
        }
        shared.done.notify_all();
        if let Round::Shutdown(_) = round {
            drop(queue);
            exporter.failing.ended();
            return;
        }
    }
}

impl<T: Transport> Exporter<'_, T> {
    /// Waits until something is due; returns it, with the last flush asked for.
    fn wait(&self) -> (Round, u64) {
        let shared = self.shared;
        let mut queue = shared.lock();
        let round = loop {
            if queue.shutting_down {
                break Round::Shutdown(queue.shutdown_by.map_or(Deadline::None, Deadline::At));
            }
            if queue.flushes_asked > queue.flushes_done {
                break Round::Flush;
            }
            let full = full(&queue, self.config.max_export_batch_size);
            let due = match self.retry {
                Some(_) if full => break Round::Keep,
                Some((at, _)) => Some(at),
                None if full => break Round::Full,
                // The batch filling is due on schedule, the next kept one at its turn; with
                // neither, nothing is due until a span comes (on_end wakes this thread).
                None => {
                    let scheduled = self.next_export.filter(|_| !queue.batches.is_empty());
                    let drain = (!queue.kept.is_empty()).then_some(self.next_drain);
                    scheduled.into_iter().chain(drain).min()
                }
            };
            let (next, in_time) = shared.wait_until(&shared.work, queue, due);
            queue = next;
            if !in_time {
                let scheduled = (self.next_export).is_some_and(|at| at <= Instant::now());
                break if self.retry.is_some() {
                    Round::Retry
                } else if scheduled && !queue.batches.is_empty() {
                    Round::Scheduled
                } else {
                    Round::Full
                };
            }
        };
        (round, queue.flushes_asked)
    }

    /// Takes the round's batches off the queue, each with its request, and the kept bodies the
    /// round sends: all of them in a flush or a shutdown, else the oldest when its turn has come
    /// (a backlog drains at one batch per [`DRAIN_INTERVAL`], after the new batches of each round,
    /// so that neither new spans nor a collector just back wait behind it).
    fn take(&mut self, round: Round) -> (Vec<(EncodedBatch, Vec<u8>)>, Vec<Kept>) {
        let shared = self.shared;
        let mut queue = shared.lock();
        // A full batch leaves alone; the one still filling waits for its own turn, so that under
        // load every request carries a whole batch.
        let everything = matches!(round, Round::Scheduled | Round::Flush | Round::Shutdown(_));
        let mut batches = Vec::new();
        while full(&queue, self.config.max_export_batch_size)
            || (everything && !queue.batches.is_empty())
        {
            batches.extend(queue.batches.pop_front());
        }
        let now = Instant::now();
        let kept_now = match round {
            Round::Keep => 0,
            // The probe: the oldest kept batch, when no new one goes first.
            Round::Retry => 1,
            Round::Full | Round::Scheduled => usize::from(now >= self.next_drain),
            Round::Flush | Round::Shutdown(_) => queue.kept.len(),
        }
        .min(queue.kept.len());
        if kept_now > 0 {
            self.next_drain = now + DRAIN_INTERVAL;
        }
        let kept: Vec<Kept> = queue.kept.drain(..kept_now).collect();
        let resource = queue.resource.clone();
        drop(queue);
        // Off the queue's counts until they are kept (again).
        for batch in &batches {
            shared.release(batch.len(), batch.encoded_len());
        }
        for batch in &kept {
            shared.release(batch.spans, batch.body.len());
        }
        let batches = (batches.into_iter())
            .map(|batch| {
                let request = batch.to_request(&resource);
                (batch, request)
            })
            .collect();
        (batches, kept)
    }

    /// Sends `new` (this round's batches) and then `kept` (older ones), or, in a [`Round::Keep`],
    /// keeps `new`. A batch that does not get through is kept with every one after it, and the
    /// retry set; one the collector refuses is dropped.
    fn send(&mut self, round: Round, new: Vec<Kept>, kept: Vec<Kept>) {
        if round == Round::Keep {
            return self.keep(new.into(), VecDeque::new());
        }
        let mut new: VecDeque<Kept> = new.into();
        let mut kept: VecDeque<Kept> = kept.into();
        loop {
            let (batch, is_new) = match new.pop_front() {
                Some(batch) => (batch, true),
                None => match kept.pop_front() {
                    Some(batch) => (batch, false),
                    None => break,
                },
            };
            let timeout = match round {
                // During shutdown, no export outlives what is left of its time.
                Round::Shutdown(Deadline::At(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    Some(self.config.export_timeout.map_or(left, |t| t.min(left)))
                }
                _ => self.config.export_timeout,
            };
            let result = self.transport.send(batch.body.clone(), timeout);
            // The schedule is the new batches' ("the delay interval between two consecutive
            // exports"): a backlog sent again does not put it off.
            if is_new {
                self.next_export = Instant::now().checked_add(self.config.schedule_delay);
            }
            let Err(error) = result else {
                self.failing.ended();
                self.retry = None;
                continue;
            };
            // At shutdown there is no later: what does not get through is dropped.
            let keep = matches!(error, ExportError::Unavailable(_))
                && !matches!(round, Round::Shutdown(_));
            self.failing.add(&error, if keep { 0 } else { batch.spans });
            // A flush answers for what it could not export; a kept batch may still be, later.
            if !keep || round == Round::Flush {
                self.failure = Some(format!("{} spans not exported: {error}", batch.spans));
            }
            if keep {
                // The kept ones go back first, as they were; this round's after them.
                if is_new {
                    new.push_front(batch);
                } else {
                    kept.push_front(batch);
                }
                let wait = self.retry.map_or(RETRY_FIRST, |(_, wait)| wait);
                self.retry = Some((Instant::now() + wait, (wait * 2).min(RETRY_MAX)));
                return self.keep(new, kept);
            }
        }
        // The collector took or refused each one: nothing waits for a retry.
        self.retry = None;
    }

    /// Keeps `older` (taken from the front of the kept ones) at the front again, and `newer` at
    /// the back, each in order, and puts them back on the queue's counts.
    fn keep(&self, newer: VecDeque<Kept>, older: VecDeque<Kept>) {
        let shared = self.shared;
        for batch in newer.iter().chain(&older) {
            shared.queued.fetch_add(batch.spans, Ordering::Relaxed);
            shared
                .queued_bytes
                .fetch_add(batch.body.len(), Ordering::Relaxed);
        }
        let mut queue = shared.lock();
        for batch in older.into_iter().rev() {
            queue.kept.push_front(batch);
        }
        queue.kept.extend(newer);
    }
}

/// Kept batches are sent again at most one per this, once exports work again: 10 a second, 5,120
/// spans at the default batch size, several times what a busy server makes, without flooding a
/// collector that has just come back.
const DRAIN_INTERVAL: Duration = Duration::from_millis(100);

/// A run of failed exports: how many, and the spans they dropped.
#[derive(Debug, Default)]
struct Failing {
    exports: usize,
    dropped: usize,
}

impl Failing {
    /// A failed export that dropped `dropped` spans (0: its batch was kept); the first failure of
    /// a run is logged with its error.
    fn add(&mut self, error: &ExportError, dropped: usize) {
        if self.exports == 0 {
            tracing::warn!(
                %error,
                "spans could not be exported; until an export succeeds, failures are counted, not logged"
            );
        }
        self.exports += 1;
        self.dropped += dropped;
    }

    /// An export succeeded, or the processor stops: the run, if there was one, is logged.
    fn ended(&mut self) {
        if self.exports > 0 {
            tracing::warn!(
                failed_exports = self.exports,
                dropped_spans = self.dropped,
                "exports failed for a while (batches the collector could not take were kept and \
                 sent again; those it refused, or that were left at shutdown, dropped)"
            );
        }
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{self, Receiver, Sender};

    use opentelemetry::{
        KeyValue,
        trace::{Link, SpanKind, TraceId, Tracer as _, TracerProvider as _},
    };
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_sdk::trace::{
        SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
    };
    use prost::Message as _;

    /// A transport standing in for the collector (the process tests use a real one): it hands each
    /// body to the test, and with a gate, waits for the test's word before it returns.
    struct Recorder {
        bodies: Sender<Vec<u8>>,
        gate: Option<Mutex<Receiver<()>>>,
        /// The answers to the first sends, in order; then `otherwise`.
        answers: Mutex<VecDeque<Result<(), ExportError>>>,
        otherwise: Result<(), ExportError>,
    }

    impl Transport for Recorder {
        fn send(&self, body: Bytes, _timeout: Option<Duration>) -> Result<(), ExportError> {
            self.bodies.send(body.to_vec()).expect("the test listens");
            if let Some(gate) = &self.gate {
                let _ = gate.lock().expect("gate").recv();
            }
            let next = self.answers.lock().expect("answers").pop_front();
            next.unwrap_or_else(|| self.otherwise.clone())
        }
    }

    fn unavailable() -> ExportError {
        ExportError::Unavailable("the collector is down".into())
    }

    /// Batches of two, no schedule; the first export does not get through, the rest do.
    fn unavailable_once() -> Pipeline {
        let config = BatchConfig {
            schedule_delay: NEVER,
            max_export_batch_size: 2,
            ..BatchConfig::default()
        };
        pipeline_answering(config, None, vec![Err(unavailable())], Ok(()))
    }

    /// Records spans whose name starts with "unsampled" without sampling them; samples the rest.
    #[derive(Debug, Clone)]
    struct RecordOnlyByName;

    impl ShouldSample for RecordOnlyByName {
        fn should_sample(
            &self,
            _: Option<&Context>,
            _: TraceId,
            name: &str,
            _: &SpanKind,
            _: &[KeyValue],
            _: &[Link],
        ) -> SamplingResult {
            SamplingResult {
                decision: if name.starts_with("unsampled") {
                    SamplingDecision::RecordOnly
                } else {
                    SamplingDecision::RecordAndSample
                },
                attributes: Vec::new(),
                trace_state: Default::default(),
            }
        }
    }

    struct Pipeline {
        provider: SdkTracerProvider,
        bodies: Receiver<Vec<u8>>,
    }

    fn pipeline(config: BatchConfig, gate: Option<Receiver<()>>) -> Pipeline {
        pipeline_with(config, gate, false)
    }

    fn pipeline_with(config: BatchConfig, gate: Option<Receiver<()>>, fails: bool) -> Pipeline {
        let otherwise = if fails {
            Err(ExportError::Rejected("the collector answered 400".into()))
        } else {
            Ok(())
        };
        pipeline_answering(config, gate, Vec::new(), otherwise)
    }

    fn pipeline_answering(
        config: BatchConfig,
        gate: Option<Receiver<()>>,
        answers: Vec<Result<(), ExportError>>,
        otherwise: Result<(), ExportError>,
    ) -> Pipeline {
        let (sender, bodies) = mpsc::channel();
        let recorder = Recorder {
            bodies: sender,
            gate: gate.map(Mutex::new),
            answers: Mutex::new(answers.into()),
            otherwise,
        };
        let provider = SdkTracerProvider::builder()
            .with_sampler(RecordOnlyByName)
            .with_span_processor(BatchProcessor::new(recorder, config))
            .build();
        Pipeline { provider, bodies }
    }

    impl Pipeline {
        fn end_spans(&self, names: &[&str]) {
            let tracer = self.provider.tracer("test");
            for name in names {
                drop(tracer.start(name.to_string()));
            }
        }

        /// The span names of the next body, waiting up to `within` for it.
        fn next_body(&self, within: Duration) -> Option<Vec<String>> {
            let body = self.bodies.recv_timeout(within).ok()?;
            let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP");
            Some(
                request
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                    .map(|s| s.name.clone())
                    .collect(),
            )
        }
    }

    const SOON: Duration = Duration::from_secs(5);
    const NEVER: Duration = Duration::from_secs(3600);

    #[test]
    fn full_batches_leave_at_once_and_the_rest_on_flush_in_order() {
        let p = pipeline(
            BatchConfig {
                schedule_delay: NEVER,
                max_export_batch_size: 3,
                max_queue_size: 10,
                ..BatchConfig::default()
            },
            None,
        );
        p.end_spans(&["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(p.next_body(SOON).expect("first batch"), ["a", "b", "c"]);
        assert_eq!(p.next_body(SOON).expect("second batch"), ["d", "e", "f"]);
        assert_eq!(p.next_body(Duration::from_millis(200)), None, "g waits");
        p.provider.force_flush().expect("flushed");
        assert_eq!(p.next_body(Duration::ZERO).expect("flushed"), ["g"]);
        p.provider.shutdown().expect("shut down");
    }

    #[test]
    fn a_partial_batch_leaves_after_the_schedule_delay_not_before() {
        let p = pipeline(
            BatchConfig {
                schedule_delay: Duration::from_millis(600),
                ..BatchConfig::default()
            },
            None,
        );
        p.end_spans(&["a"]);
        assert_eq!(p.next_body(Duration::from_millis(200)), None, "not yet due");
        assert_eq!(p.next_body(SOON).expect("on schedule"), ["a"]);
        p.provider.shutdown().expect("shut down");
    }

    #[test]
    fn with_no_delay_each_span_leaves_as_soon_as_it_ends() {
        let p = pipeline(
            BatchConfig {
                schedule_delay: Duration::ZERO,
                ..BatchConfig::default()
            },
            None,
        );
        for name in ["a", "b"] {
            p.end_spans(&[name]);
            assert_eq!(p.next_body(SOON).expect("at once"), [name]);
        }
        p.provider.shutdown().expect("shut down");
    }

    #[test]
    fn a_failed_export_is_what_the_flush_and_the_shutdown_answer() {
        let p = pipeline_with(
            BatchConfig {
                schedule_delay: NEVER,
                ..BatchConfig::default()
            },
            None,
            true,
        );
        p.end_spans(&["a"]);
        let flushed = p.provider.force_flush();
        assert!(flushed.is_err_and(|e| e.to_string().contains("400")));
        p.end_spans(&["b"]);
        let shut = p.provider.shutdown();
        assert!(shut.is_err_and(|e| e.to_string().contains("400")));
        assert_eq!(p.next_body(Duration::ZERO).expect("sent"), ["a"]);
        assert_eq!(p.next_body(Duration::ZERO).expect("sent"), ["b"]);
    }

    #[test]
    fn recorded_spans_that_are_not_sampled_are_not_exported() {
        let p = pipeline(BatchConfig::default(), None);
        p.end_spans(&["sampled", "unsampled", "sampled too"]);
        p.provider.shutdown().expect("shut down");
        assert_eq!(
            p.next_body(SOON).expect("at shutdown"),
            ["sampled", "sampled too"]
        );
    }

    #[test]
    fn a_full_queue_drops_new_spans_and_keeps_the_queued_ones() {
        let (open, gate) = mpsc::channel();
        let p = pipeline(
            BatchConfig {
                schedule_delay: NEVER,
                max_export_batch_size: 2,
                max_queue_size: 2,
                ..BatchConfig::default()
            },
            Some(gate),
        );
        p.end_spans(&["a", "b"]);
        // The export thread has taken a and b and waits at the gate: the queue is empty again.
        assert_eq!(p.next_body(SOON).expect("first batch"), ["a", "b"]);
        p.end_spans(&["c", "d", "e"]);
        open.send(()).expect("gate");
        assert_eq!(
            p.next_body(SOON).expect("the queue"),
            ["c", "d"],
            "e was dropped"
        );
        open.send(()).expect("gate");
        p.provider.shutdown().expect("shut down");
        assert_eq!(p.next_body(Duration::ZERO), None);
    }

    #[test]
    fn a_batch_the_collector_could_not_take_is_kept_and_sent_again_after_the_backoff() {
        let p = unavailable_once();
        p.end_spans(&["a", "b"]);
        assert_eq!(p.next_body(SOON).expect("tried"), ["a", "b"]);
        let failed = Instant::now();
        // While exports fail, a batch that fills is kept, not sent.
        p.end_spans(&["c", "d"]);
        assert_eq!(p.next_body(SOON).expect("sent again"), ["a", "b"]);
        assert!(failed.elapsed() >= RETRY_FIRST - Duration::from_millis(50));
        assert_eq!(p.next_body(SOON).expect("then the kept one"), ["c", "d"]);
        p.provider.shutdown().expect("shut down");
    }

    #[test]
    fn once_exports_work_new_batches_go_before_the_kept_ones() {
        let p = unavailable_once();
        p.end_spans(&["old", "older"]);
        assert_eq!(p.next_body(SOON).expect("tried"), ["old", "older"]);
        p.end_spans(&["new"]);
        p.provider.force_flush().expect("both exported");
        assert_eq!(p.next_body(SOON).expect("the new one"), ["new"]);
        assert_eq!(p.next_body(SOON).expect("the kept one"), ["old", "older"]);
        p.provider.shutdown().expect("shut down");
    }

    #[test]
    fn a_backlog_sent_again_does_not_put_off_new_spans() {
        let config = BatchConfig {
            schedule_delay: Duration::from_millis(300),
            max_export_batch_size: 2,
            ..BatchConfig::default()
        };
        let p = pipeline_answering(config, None, vec![Err(unavailable())], Ok(()));
        p.end_spans(&["a", "b"]);
        assert_eq!(p.next_body(SOON).expect("tried"), ["a", "b"]);
        // Kept while exports fail, then a new span in a batch still filling.
        p.end_spans(&["c", "d", "e", "f", "g", "h"]);
        p.end_spans(&["new"]);
        assert_eq!(p.next_body(SOON).expect("the retry"), ["a", "b"]);
        assert_eq!(
            p.next_body(SOON).expect("on its schedule"),
            ["new"],
            "before the rest of the backlog"
        );
        for kept in [["c", "d"], ["e", "f"], ["g", "h"]] {
            assert_eq!(p.next_body(SOON).expect("the backlog"), kept);
        }
        p.provider.shutdown().expect("shut down");
    }

    #[test]
    fn what_the_collector_still_cannot_take_at_shutdown_is_tried_once_more_and_dropped() {
        let p = pipeline_answering(
            BatchConfig {
                schedule_delay: NEVER,
                ..BatchConfig::default()
            },
            None,
            Vec::new(),
            Err(unavailable()),
        );
        p.end_spans(&["a"]);
        assert!(
            p.provider.force_flush().is_err(),
            "the flush says it failed"
        );
        let started = Instant::now();
        let shut = p.provider.shutdown();
        assert!(shut.is_err_and(|e| e.to_string().contains("down")));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no backoff at shutdown"
        );
        assert_eq!(p.next_body(Duration::ZERO).expect("flush"), ["a"]);
        assert_eq!(p.next_body(Duration::ZERO).expect("shutdown"), ["a"]);
        assert_eq!(p.next_body(Duration::ZERO), None, "and no more");
    }

    #[test]
    fn the_queue_is_bounded_by_bytes_as_well_as_by_spans() {
        let p = pipeline(
            BatchConfig {
                schedule_delay: NEVER,
                // About two of these spans (each encodes to some 40 bytes).
                max_queue_bytes: 100,
                ..BatchConfig::default()
            },
            None,
        );
        let names: Vec<String> = (0..10).map(|i| format!("span-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        p.end_spans(&names);
        p.provider.shutdown().expect("shut down");
        let exported = p.next_body(SOON).expect("what fitted");
        assert!(!exported.is_empty() && exported.len() < 4, "{exported:?}");
        assert_eq!(exported[0], "span-0", "the newest are dropped");
    }

    #[test]
    fn shutdown_gives_up_at_its_timeout_when_an_export_hangs() {
        let (_never_opened, gate) = mpsc::channel();
        let p = pipeline(BatchConfig::default(), Some(gate));
        p.end_spans(&["a"]);
        let started = Instant::now();
        let result = p.provider.shutdown_with_timeout(Duration::from_millis(200));
        assert!(result.is_err_and(|e| e.to_string().contains("Timeout")));
        assert!(started.elapsed() < Duration::from_secs(2), "bounded");
        assert_eq!(p.next_body(SOON).expect("attempted"), ["a"]);
    }

    fn config(vars: &[(&str, &str)]) -> BatchConfig {
        BatchConfig::from_lookup(crate::config::lookup_in(vars))
    }

    #[test]
    fn the_variables_set_the_batches_and_a_batch_is_never_larger_than_the_queue() {
        assert_eq!(config(&[]), BatchConfig::default());
        let set = config(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4"),
        ]);
        assert_eq!(set.schedule_delay, Duration::from_millis(200));
        assert_eq!(set.export_timeout, Some(Duration::from_secs(1)));
        assert_eq!((set.max_queue_size, set.max_export_batch_size), (4, 4));
        let zero = config(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "0"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
        ]);
        assert_eq!(zero.schedule_delay, Duration::ZERO);
        assert_eq!(zero.export_timeout, None, "0: no limit");
        assert_eq!(
            config(&[("EXPORT_QUEUE_MAX_BYTES", "1048576")]).max_queue_bytes,
            1 << 20
        );
    }

    #[test]
    fn a_value_that_cannot_be_used_is_ignored_for_the_default() {
        let defaults = BatchConfig::default();
        let set = config(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "5s"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "soon"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "-1"),
        ]);
        assert_eq!(set, defaults);
        assert_eq!(
            config(&[("OTEL_BSP_SCHEDULE_DELAY", " ")]),
            defaults,
            "empty: unset"
        );
    }
}
