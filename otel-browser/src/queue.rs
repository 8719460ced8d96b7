//! The batching processor's bounded queue (SDK specification, "Batching processor": spans wait
//! for a full batch or the schedule delay). Each span is encoded as OTLP protobuf when it ends, so
//! the queue holds bytes, not span records. It only keeps and counts: it says what a new span asks
//! for ([`Wake`]), and the exporter (`exporter.rs`) acts on it. Target-independent, so the tests
//! drive it by hand.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use opentelemetry::InstrumentationScope;
use otlp_wire::EncodedBatch;

use crate::span_data::SpanData;

/// The queue's bounds and its schedule: [`Config`](crate::Config)'s fields of the same names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchConfig {
    /// The most spans waiting; more are dropped and counted.
    pub(crate) max_queue_size: usize,
    /// The most spans in one request.
    pub(crate) max_batch_size: usize,
    /// The longest a span waits before a send starts.
    pub(crate) schedule_delay: Duration,
}

/// Finished spans waiting to be sent, shared by the tracers (through the exporter) and the
/// exporter's sends.
#[derive(Clone)]
pub(crate) struct Queue {
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
    send_scheduled: bool,
    config: BatchConfig,
    /// Every span that ended, for tests (the `testing` feature only).
    #[cfg(feature = "testing")]
    finished: Vec<SpanData>,
}

/// What a newly queued span asks of the exporter.
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

/// Spans taken from the queue for one request, grouped by scope. Spans of one tracer share its
/// scope's `Arc`: grouped by pointer, no scope is compared or copied (at worst, two tracers of
/// equal scopes send two `ScopeSpans`, as OTLP allows).
pub(crate) type Batch = EncodedBatch<Arc<InstrumentationScope>>;

impl Queue {
    pub(crate) fn new(config: BatchConfig) -> Self {
        let state = State {
            spans: Vec::new(),
            dropped: 0,
            send_scheduled: false,
            config,
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

    /// Encodes `span` into the queue, unless the queue is full (then it is counted, not encoded),
    /// and says what the exporter should do about it.
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

    /// Takes the oldest spans, at most `max_spans` and at most a batch, or `None` when nothing
    /// waits. Either way the scheduled send has done its job: a span queued from now on schedules
    /// a new one, so a slow send in flight never holds later spans back.
    pub(crate) fn take(&self, max_spans: usize) -> Option<Batch> {
        let mut state = self.lock();
        state.send_scheduled = false;
        if state.spans.is_empty() {
            return None;
        }
        let count = (max_spans.min(state.config.max_batch_size)).min(state.spans.len());
        let mut batch = Batch::default();
        for (scope, encoded) in state.spans.drain(..count) {
            batch.push_owned(scope, encoded);
        }
        Some(batch)
    }

    /// How many spans wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().spans.len()
    }

    /// How many spans were dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Every span that has ended so far.
    #[cfg(feature = "testing")]
    pub(crate) fn finished(&self) -> Vec<SpanData> {
        self.lock().finished.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanKind};

    fn queue(max_queue_size: usize, max_batch_size: usize) -> Queue {
        Queue::new(BatchConfig {
            max_queue_size,
            max_batch_size,
            schedule_delay: Duration::from_millis(500),
        })
    }

    /// A span's data, as a tracer hands it to the exporter.
    fn sample_data() -> SpanData {
        SpanData::started(
            SpanContext::empty_context(),
            None,
            SpanKind::Internal,
            "x".into(),
            std::time::SystemTime::UNIX_EPOCH,
            Arc::new(InstrumentationScope::builder("t").build()),
        )
    }

    #[test]
    fn the_queue_is_bounded_and_counts_what_it_drops() {
        let queue = queue(3, 256);
        let wakes: Vec<Wake> = (0..5).map(|_| queue.push(&sample_data())).collect();
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.dropped(), 2);
        assert_eq!(wakes[3..], [Wake::Dropped, Wake::Dropped]);
    }

    #[test]
    fn the_first_span_schedules_a_send_and_a_full_batch_asks_for_one_now() {
        let queue = queue(2048, 2);
        assert_eq!(
            queue.push(&sample_data()),
            Wake::After(Duration::from_millis(500))
        );
        assert_eq!(queue.push(&sample_data()), Wake::Now);
        assert!(queue.take(usize::MAX).is_some());
        assert!(queue.take(usize::MAX).is_none());
        assert_eq!(
            queue.push(&sample_data()),
            Wake::After(Duration::from_millis(500)),
            "an emptied queue schedules anew"
        );
        assert!(queue.take(usize::MAX).is_some(), "a send starts");
        assert_eq!(
            queue.push(&sample_data()),
            Wake::After(Duration::from_millis(500)),
            "a span queued while a send is in flight schedules its own"
        );
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn a_take_is_bounded_by_its_limit_and_the_batch_and_groups_spans_by_scope() {
        let queue = queue(2048, 3);
        // Spans of one tracer share its scope's `Arc`, as `Tracer` hands them over.
        let one = Arc::new(InstrumentationScope::builder("one").build());
        let other = Arc::new(InstrumentationScope::builder("other").build());
        for i in 0..5 {
            let mut data = sample_data();
            data.instrumentation_scope = Arc::clone(if i % 2 == 0 { &one } else { &other });
            queue.push(&data);
        }
        assert_eq!(queue.take(2).expect("spans wait").len(), 2);
        let taken = queue.take(usize::MAX).expect("spans wait");
        assert_eq!(taken.len(), 3, "at most a batch");
        let body = taken.to_request(&otlp_wire::Resource::default());
        let request = test_support::trace::decode_request(&body).expect("OTLP");
        let scopes: Vec<(String, usize)> = (request.resource_spans[0].scope_spans.iter())
            .map(|s| (s.scope.as_ref().expect("scope").name.clone(), s.spans.len()))
            .collect();
        assert_eq!(
            scopes,
            [("one".to_owned(), 2), ("other".to_owned(), 1)],
            "one group a scope, in order of first appearance"
        );
        assert!(queue.take(usize::MAX).is_none());
    }
}
