//! The batch processor against a transport standing in for the collector: batching, flush,
//! shutdown, a full queue, and what an outage keeps and sends again.

use super::{export_thread::RETRY_FIRST, *};
use crate::ExportError;
use std::sync::mpsc::{self, Receiver, Sender};

use opentelemetry::{
    KeyValue,
    trace::{Link, SpanKind, TraceId, Tracer as _, TracerProvider as _},
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample};
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
    /// The processor's queue, to look at.
    shared: Arc<Shared>,
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
    let processor = BatchProcessor::new(recorder, config);
    let shared = Arc::clone(&processor.shared);
    let provider = SdkTracerProvider::builder()
        .with_sampler(RecordOnlyByName)
        .with_span_processor(processor)
        .build();
    Pipeline {
        provider,
        bodies,
        shared,
    }
}

impl Pipeline {
    fn end_spans(&self, names: &[&str]) {
        let tracer = self.provider.tracer("test");
        for name in names {
            drop(tracer.start(name.to_string()));
        }
    }

    /// Waits up to [`SOON`] until the queue is as `condition` says.
    fn wait_for_queue(&self, what: &str, condition: impl Fn(&Queue) -> bool) {
        let deadline = Instant::now() + SOON;
        while !condition(&self.shared.lock()) {
            assert!(Instant::now() < deadline, "waited {SOON:?} for {what}");
            std::thread::sleep(Duration::from_millis(1));
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

#[test]
fn each_batch_starts_in_a_buffer_the_export_thread_made() {
    let p = pipeline(
        BatchConfig {
            schedule_delay: NEVER,
            max_export_batch_size: 4,
            ..BatchConfig::default()
        },
        None,
    );
    p.wait_for_queue("the first buffer", |queue| {
        queue.spare.capacity() >= 4 * 256
    });
    let first = p.shared.lock().spare.as_ptr();
    p.end_spans(&["a"]);
    // The batch holds the first buffer now: the next one is new.
    p.wait_for_queue("the next buffer", |queue| {
        queue.batches.len() == 1 && queue.spare.capacity() > 0 && queue.spare.as_ptr() != first
    });
    p.provider.shutdown().expect("shut down");
    assert_eq!(p.next_body(Duration::ZERO).expect("at shutdown"), ["a"]);
}
