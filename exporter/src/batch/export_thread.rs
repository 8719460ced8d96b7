//! The export thread: when a round is due, which batches it takes, and sending them, or keeping
//! them through an outage and sending them again.

use std::{
    collections::VecDeque,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use opentelemetry::Context;

use super::{BatchConfig, EncodedBatch, Kept, Shared, StopOnExit, full};
use crate::{ExportError, Transport};

/// The first wait before a kept batch is sent again, and the longest (it doubles in between).
pub(super) const RETRY_FIRST: Duration = Duration::from_millis(500);
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
    /// The capacity of the next batch's buffer (`Queue::spare`): the largest full batch yet, and
    /// an eighth more.
    batch_bytes: usize,
}

/// The export thread: waits for a round ([`Exporter::wait`]), takes its batches off the queue
/// ([`Exporter::take`]), prepares their bodies and sends them or keeps them ([`Exporter::send`]).
#[inline(never)] // named in profiles (scripts/span-cost.sh --profile)
pub(super) fn export_thread(shared: &Shared, transport: &impl Transport, config: BatchConfig) {
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
        // Until a batch has filled, a guess: 256 B a span, what a web service's spans take.
        batch_bytes: (config.max_export_batch_size.saturating_mul(256)).min(config.max_queue_bytes),
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
            if queue.spare.capacity() == 0 && self.batch_bytes > 0 {
                // The next batch's buffer (`Queue::spare`; on_end says when it took the last),
                // allocated without the lock.
                drop(queue);
                let spare = Vec::with_capacity(self.batch_bytes);
                queue = shared.lock();
                queue.spare = spare;
                continue;
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
        let batch_size = self.config.max_export_batch_size;
        if let Some(bytes) = (batches.iter())
            .filter(|batch| batch.len() == batch_size)
            .map(EncodedBatch::encoded_len)
            .max()
        {
            self.batch_bytes = self.batch_bytes.max(bytes + bytes / 8);
        }
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
