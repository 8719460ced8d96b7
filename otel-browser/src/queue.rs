//! The batching processor's bounded queue (SDK specification, "Batching processor": spans wait
//! for a full batch or the schedule delay). Each span is encoded as OTLP protobuf when it ends, so
//! the queue holds bytes, not span records. It only keeps and counts: it says what a new span asks
//! for ([`Wake`]), and the exporter (`exporter.rs`) acts on it. Target-independent, so the tests
//! drive it by hand.
//!
//! It also keeps the loss: what was dropped, by reason ([`Dropped`]), and puts the totals on the
//! next span queued after they change, as its `otel_browser.dropped` event
//! (`semconv/model/browser.yaml`), so that the collector learns what the page lost.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use opentelemetry::{InstrumentationScope, KeyValue, trace::Event};
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
    dropped: Dropped,
    /// The totals the last `otel_browser.dropped` event carried.
    reported: Dropped,
    send_scheduled: bool,
    config: BatchConfig,
    /// Every span that ended, for tests (the `testing` feature only).
    #[cfg(feature = "testing")]
    finished: Vec<SpanData>,
}

/// What was dropped since the install, by reason. Each counts spans, except `span_limits`, which
/// counts the attributes, events and links the span limits dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Spans that found the queue full.
    pub queue_full: u64,
    /// Attributes, events and links beyond the span limits.
    pub span_limits: u64,
    /// Spans of exports the collector refused (a 4xx other than 429, a 501, …): never retried.
    pub refused: u64,
    /// Spans of exports still failing when their attempts or their time ran out, with no
    /// offline queue to keep them.
    pub retries_exhausted: u64,
    /// Spans the offline queue evicted, the oldest first, to stay within its bytes.
    pub offline_full: u64,
    /// Spans the offline queue kept past its age, and deleted unsent.
    pub offline_expired: u64,
}

impl Dropped {
    /// The totals as the `otel_browser.dropped` event's attributes. (A `KeyValue::new` each: one
    /// loop over the keys took 141 B more of the minimal page.)
    fn attributes(&self) -> Vec<KeyValue> {
        // A count past `i64::MAX` would take 292 years of a million spans a second.
        vec![
            KeyValue::new("otel_browser.dropped.queue_full", self.queue_full as i64),
            KeyValue::new("otel_browser.dropped.span_limits", self.span_limits as i64),
            KeyValue::new("otel_browser.dropped.refused", self.refused as i64),
            KeyValue::new(
                "otel_browser.dropped.retries_exhausted",
                self.retries_exhausted as i64,
            ),
            KeyValue::new(
                "otel_browser.dropped.offline_full",
                self.offline_full as i64,
            ),
            KeyValue::new(
                "otel_browser.dropped.offline_expired",
                self.offline_expired as i64,
            ),
        ]
    }
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
            dropped: Dropped::default(),
            reported: Dropped::default(),
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
    /// and says what the exporter should do about it. When the totals of what was dropped changed
    /// since the last report, the span carries them, as its
    /// `otel_browser.dropped` event (an SDK record, outside the span's event limit). A report
    /// that never arrives is made again: its span's loss changes the totals. What the span's
    /// limits dropped is counted then.
    pub(crate) fn push(&self, span: &mut SpanData) -> Wake {
        let mut state = self.lock();
        #[cfg(feature = "testing")]
        state.finished.push(span.clone());
        if state.spans.len() >= state.config.max_queue_size {
            state.dropped.queue_full += 1;
            return Wake::Dropped;
        }
        if state.dropped != state.reported {
            let attributes = state.dropped.attributes();
            (span.events).push(Event::new(
                "otel_browser.dropped",
                span.end_time,
                attributes,
                0,
            ));
            state.reported = state.dropped;
        }
        // Counted after: a limited span carries its own counts already, as OTLP's
        // `dropped_*_count`, and the next span reports them.
        state.dropped.span_limits += u64::from(
            span.dropped_attributes_count + span.dropped_events_count + span.dropped_links_count,
        );
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
        // Split off rather than `drain(..count)`, whose range check the compiler cannot prove
        // dead and whose panic brings integer formatting: 725 B gzipped of the minimal page
        // (BENCHMARKS.md, "Page size"). The same moves: the rest moves down once either way.
        let spans = &mut state.spans;
        let rest = spans.split_off(count);
        for (scope, encoded) in std::mem::replace(spans, rest) {
            batch.push_owned(scope, encoded);
        }
        Some(batch)
    }

    /// How many spans wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().spans.len()
    }

    /// What was dropped since the install.
    pub(crate) fn dropped(&self) -> Dropped {
        self.lock().dropped
    }

    /// Counts a loss (the exporter's: its refused and exhausted exports, and the offline
    /// queue's).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn count(&self, dropped: impl FnOnce(&mut Dropped)) {
        dropped(&mut self.lock().dropped);
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
        let wakes: Vec<Wake> = (0..5).map(|_| queue.push(&mut sample_data())).collect();
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.dropped().queue_full, 2);
        assert_eq!(wakes[3..], [Wake::Dropped, Wake::Dropped]);
    }

    #[test]
    fn the_first_span_schedules_a_send_and_a_full_batch_asks_for_one_now() {
        let queue = queue(2048, 2);
        assert_eq!(
            queue.push(&mut sample_data()),
            Wake::After(Duration::from_millis(500))
        );
        assert_eq!(queue.push(&mut sample_data()), Wake::Now);
        assert!(queue.take(usize::MAX).is_some());
        assert!(queue.take(usize::MAX).is_none());
        assert_eq!(
            queue.push(&mut sample_data()),
            Wake::After(Duration::from_millis(500)),
            "an emptied queue schedules anew"
        );
        assert!(queue.take(usize::MAX).is_some(), "a send starts");
        assert_eq!(
            queue.push(&mut sample_data()),
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
            queue.push(&mut data);
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

    /// The nonzero counts of the `otel_browser.dropped` event `data` carries, if any, by reason.
    fn report(data: &SpanData) -> Option<Vec<(String, i64)>> {
        let event = data
            .events
            .iter()
            .find(|e| e.name == "otel_browser.dropped")?;
        assert_eq!(event.attributes.len(), 6, "every reason, zeros too");
        let counts = event.attributes.iter().map(|kv| match kv.value {
            opentelemetry::Value::I64(n) => {
                (kv.key.as_str().replace("otel_browser.dropped.", ""), n)
            }
            ref other => panic!("{other:?}"),
        });
        Some(counts.filter(|(_, n)| *n != 0).collect())
    }

    fn counts(pairs: &[(&str, i64)]) -> Option<Vec<(String, i64)>> {
        Some(pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect())
    }

    #[test]
    fn the_next_span_queued_after_a_loss_carries_the_totals_once() {
        let queue = queue(1, 256);
        let mut first = sample_data();
        queue.push(&mut first);
        assert_eq!(report(&first), None, "nothing lost yet");
        queue.push(&mut sample_data());
        assert!(queue.take(usize::MAX).is_some());
        let mut limited = sample_data();
        limited.dropped_attributes_count = 2;
        limited.dropped_events_count = 1;
        queue.push(&mut limited);
        assert_eq!(
            report(&limited),
            counts(&[("queue_full", 1)]),
            "its own limits are on it as OTLP counts, not in its report"
        );
        queue.take(usize::MAX);
        let mut after = sample_data();
        queue.push(&mut after);
        assert_eq!(
            report(&after),
            counts(&[("queue_full", 1), ("span_limits", 3)])
        );
        queue.take(usize::MAX);
        let mut unchanged = sample_data();
        queue.push(&mut unchanged);
        assert_eq!(
            report(&unchanged),
            None,
            "the same totals are not reported twice"
        );
        queue.take(usize::MAX);
        // The batch that carried the report was refused: its loss changes the totals, so the next
        // span reports again, with it.
        queue.count(|dropped| dropped.refused += 1);
        let mut next = sample_data();
        queue.push(&mut next);
        assert_eq!(
            report(&next),
            counts(&[("queue_full", 1), ("span_limits", 3), ("refused", 1)])
        );
        assert_eq!(
            queue.dropped(),
            Dropped {
                queue_full: 1,
                span_limits: 3,
                refused: 1,
                ..Default::default()
            }
        );
    }
}
