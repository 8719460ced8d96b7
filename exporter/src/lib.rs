//! An OpenTelemetry span processor for services that run `opentelemetry_sdk`: spans are encoded as
//! OTLP protobuf on the thread that ends them, queued as bytes, kept through a collector outage, and
//! posted over OTLP/HTTP from a thread of the processor's own. One line adds it:
//!
//! ```no_run
//! # fn main() -> Result<(), otlp_batch_exporter::ExporterConfigError> {
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
//!     .with_span_processor(otlp_batch_exporter::BatchProcessor::from_env()?)
//!     .build();
//! # Ok(()) }
//! ```
//!
//! README.md has what it costs and what it keeps through an outage, measured against the SDK's
//! `BatchSpanProcessor` with `opentelemetry-otlp`.
//!
//! The crate, a module a job:
//!
//! - `batch`: [`BatchProcessor`], the `SpanProcessor`. `on_end` encodes the span (`otlp_wire`) and
//!   appends its bytes to the batch filling, under a lock held for that copy; the queue is bounded
//!   by spans and by bytes, and keeps the batches the collector could not take.
//!   - `batch/config.rs`: [`BatchConfig`], the `OTEL_BSP_*` variables and `EXPORT_QUEUE_MAX_BYTES`.
//!   - `batch/export_thread.rs`: the processor's thread: when a round is due, which batches it
//!     takes, sending them, or keeping them and sending them again after a backoff; it also makes
//!     the buffer each batch fills.
//!   - `batch/scope.rs`: the scope a batch groups its spans by, compared where its text lies first.
//! - `transport`: [`Transport`], where batches go, and [`ExportError`], whether a batch that did
//!   not go is kept (the collector unavailable) or dropped (it refused the batch).
//! - `http`: [`HttpTransport`], OTLP/HTTP over a blocking reqwest client ([`http_client`]: rustls,
//!   a CA of one's own, a client certificate), gzip, retries and `Retry-After` as OTLP/HTTP says.
//! - `settings`: [`ExporterSettings`], the `OTEL_EXPORTER_OTLP_*` variables, read and checked
//!   once; usable for `opentelemetry-otlp`'s exporter too.
//! - `wire`: [`wire_span`] and [`wire_resource`], the SDK's data as `otlp_wire` borrows it.
//! - `env`: reading numbers and timeouts as the SDK's environment variables specification says.

mod batch;
mod env;
mod http;
mod settings;
mod transport;
mod wire;

pub use batch::{BatchConfig, BatchProcessor};
pub use http::{HttpTransport, http_client};
pub use settings::{Compression, ExporterConfigError, ExporterSettings, Protocol, TlsFiles};
pub use transport::{ExportError, Transport};
pub use wire::{wire_resource, wire_span};

// README.md's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
struct ReadmeDoctests;
