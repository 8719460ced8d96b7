//! Telemetry: the tracer provider and its OTLP export, logging, and the helpers that make spans.
//!
//! - [`TelemetryGuard::init`] builds the provider from the standard `OTEL_*` variables: the batch
//!   processor of `otlp_batch_exporter`, which encodes each span as OTLP protobuf when it ends and
//!   posts the batches to the collector over OTLP/HTTP, or with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`
//!   or `EXPORT_PIPELINE=stock` the SDK's batch processor and `opentelemetry-otlp` ([`stock`]),
//!   whichever [`export`] chooses; and a resource with the service name and version. Hold the guard
//!   for the life of the process and call [`TelemetryGuard::shutdown`].
//! - [`propagation`] is a strict W3C Trace Context parser in front of the SDK.
//! - [`sampler`] reads `OTEL_TRACES_SAMPLER`, its ratio samplers consistent with the page's.
//! - [`http`] is the middleware that opens one SERVER span per request.
//!
//! Spans are made with the OpenTelemetry API directly rather than through `tracing`: the names, kinds,
//! attributes and statuses of the trace are the product here, and the API says them exactly. `tracing`
//! is used for log lines only, so the OTLP exporter's own HTTP client (reqwest, hyper) can never be
//! traced into the pipeline it feeds.

pub mod export;
pub mod http;
pub mod propagation;
pub mod sampler;
pub mod stock;
pub mod timing;

use std::{borrow::Cow, env, future::Future, io::IsTerminal as _, time::Duration};

use opentelemetry::{
    Context, InstrumentationScope, KeyValue,
    context::FutureExt as _,
    global,
    trace::{SpanKind, SpanRef, Status, TraceContextExt, Tracer as _, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource,
    trace::{SdkTracer, SdkTracerProvider},
};
use opentelemetry_semantic_conventions::{
    attribute::{ERROR_TYPE, EXCEPTION_MESSAGE, EXCEPTION_TYPE},
    resource::SERVICE_VERSION,
};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// The tracer every span of this server is made with.
pub type Tracer = SdkTracer;

/// The service name used when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "checkout-server";

/// The scope name on every span of this crate.
const SCOPE: &str = env!("CARGO_PKG_NAME");

/// Owns the tracer provider; flushes and shuts it down on [`shutdown`](Self::shutdown) or drop.
///
/// The global provider holds a clone, so dropping a handle would not flush: this guard does it
/// explicitly and with a bound, so that a collector that is down cannot hold the process open.
#[must_use = "spans are lost unless the guard lives until shutdown"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

/// The exporter could not be built from the `OTEL_*` settings.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry exporter: {0}")]
pub struct TelemetryError(#[from] otlp_batch_exporter::ExporterConfigError);

impl TelemetryGuard {
    /// Builds the provider from the `OTEL_*` variables and installs it globally. `OTEL_SDK_DISABLED=true` gives a provider that records spans (so trace ids still
    /// reach responses and logs) but exports nothing.
    pub fn init() -> Result<Self, TelemetryError> {
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource())
            .with_sampler(sampler::from_env());
        if !sdk_disabled() {
            // The endpoint, protocol, timeout, headers, compression and certificates come from
            // OTEL_EXPORTER_OTLP_*, the batch sizes and delays from OTEL_BSP_*, the pipeline from
            // EXPORT_PIPELINE (`export`).
            builder = export::with_span_processor(builder)?;
        }
        let provider = builder.build();
        global::set_tracer_provider(provider.clone());
        // No global propagator: the SDK's TraceContextPropagator is lenient, and the server
        // extracts and injects with its strict one (`propagation`) explicitly.
        Ok(Self {
            provider: Some(provider),
        })
    }

    /// The tracer for this crate's spans.
    pub fn tracer(&self) -> Tracer {
        tracer(
            self.provider
                .as_ref()
                .expect("provider is present until shutdown"),
        )
    }

    /// Flushes what is queued and shuts the provider down, giving up after `timeout`.
    pub fn shutdown(mut self, timeout: Duration) {
        if let Some(provider) = self.provider.take() {
            shutdown_provider(provider, timeout);
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            shutdown_provider(provider, Duration::from_secs(2));
        }
    }
}

fn shutdown_provider(provider: SdkTracerProvider, timeout: Duration) {
    if let Err(error) = provider.shutdown_with_timeout(timeout) {
        tracing::warn!(%error, "telemetry shutdown did not complete; queued spans may be lost");
    }
}

/// The crate's tracer from `provider`, with this crate's name and version as its scope.
pub fn tracer(provider: &SdkTracerProvider) -> Tracer {
    provider.tracer_with_scope(
        InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    )
}

/// The resource: `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` when set, else this crate's
/// default name, plus the crate version.
fn resource() -> Resource {
    let named_by_env = env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    let builder = Resource::builder()
        .with_attribute(KeyValue::new(SERVICE_VERSION, env!("CARGO_PKG_VERSION")));
    if named_by_env {
        builder.build()
    } else {
        builder.with_service_name(DEFAULT_SERVICE_NAME).build()
    }
}

fn sdk_disabled() -> bool {
    env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Installs the log subscriber: human-readable lines on stderr, filtered by `RUST_LOG`
/// (default `info`, with the chatty HTTP and SQL internals at `warn`).
pub fn init_logging() {
    install_logging(
        std::io::stderr,
        "info,sqlx=warn,hyper=warn,reqwest=warn,opentelemetry=warn,opentelemetry_sdk=warn",
        std::io::stderr().is_terminal(),
    );
}

/// Installs the same log format writing to `writer`, with `default_filter` unless `RUST_LOG` is
/// set; tests use it to read every log line the server writes. A second call does nothing.
pub fn init_logging_to<W>(writer: W, default_filter: &str)
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    install_logging(writer, default_filter, false);
}

fn install_logging<W>(writer: W, default_filter: &str, ansi: bool)
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(writer).with_ansi(ansi))
        .try_init();
}

/// What a span records of a failure, the same way for every span that [`in_span`] runs.
pub trait SpanFailure {
    /// The low-cardinality `error.type` (never a message that could quote input).
    fn error_type(&self) -> &'static str;
    /// The Error status description; the error type unless the failure says more.
    fn description(&self) -> Cow<'static, str> {
        self.error_type().into()
    }
    /// The message of an `exception` event, for failures that are exceptions in the semantic
    /// conventions' sense (`exception.type` is the error type); none by default.
    fn exception_message(&self) -> Option<String> {
        None
    }
}

/// Runs `work` in a new span under the current context and ends it. A failure sets `error.type`,
/// an `exception` event when the failure is one, and Error status, for every span alike; `record`
/// first adds what the outcome says (`product.found`, `payment.outcome`, …).
pub async fn in_span<T, E: SpanFailure>(
    tracer: &Tracer,
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    work: impl Future<Output = Result<T, E>>,
    record: impl FnOnce(&SpanRef<'_>, &Result<T, E>),
) -> Result<T, E> {
    let cx = start_span(tracer, name, kind, attributes);
    let result = work.with_context(cx.clone()).await;
    let span = cx.span();
    record(&span, &result);
    if let Err(error) = &result {
        span.set_attribute(KeyValue::new(ERROR_TYPE, error.error_type()));
        if let Some(message) = error.exception_message() {
            span.add_event(
                "exception",
                vec![
                    KeyValue::new(EXCEPTION_TYPE, error.error_type()),
                    KeyValue::new(EXCEPTION_MESSAGE, message),
                ],
            );
        }
        span.set_status(Status::error(error.description()));
    }
    span.end();
    result
}

/// Starts a span as a child of the current context and returns a context that holds it.
///
/// Run the work under it with `FutureExt::with_context(cx.clone())` and end it with `cx.span().end()`.
pub fn start_span(
    tracer: &Tracer,
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
) -> Context {
    let parent = Context::current();
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    parent.with_span(span)
}

/// The trace id of the current context, as 32 lowercase hex digits.
pub fn current_trace_id() -> String {
    Context::current()
        .span()
        .span_context()
        .trace_id()
        .to_string()
}

#[cfg(test)]
mod in_span_tests {
    use super::*;
    use opentelemetry::trace::Status;
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    struct Timeout;

    impl SpanFailure for Timeout {
        fn error_type(&self) -> &'static str {
            "timeout"
        }

        fn exception_message(&self) -> Option<String> {
            Some("no answer in 5 s".to_owned())
        }
    }

    #[tokio::test]
    async fn every_failure_gets_error_type_status_and_its_exception_event_the_same_way() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = super::tracer(&provider);
        let failed: Result<(), Timeout> = in_span(
            &tracer,
            "call",
            SpanKind::Client,
            vec![],
            async { Err(Timeout) },
            |span, _| span.set_attribute(KeyValue::new("recorded", true)),
        )
        .await;
        assert!(failed.is_err());
        let ok: Result<u8, Timeout> = in_span(
            &tracer,
            "fine",
            SpanKind::Internal,
            vec![],
            async { Ok(1) },
            |_, _| {},
        )
        .await;
        assert_eq!(ok.ok(), Some(1));

        let spans = exporter.get_finished_spans().expect("spans");
        let call = spans.iter().find(|s| s.name == "call").expect("call");
        let attr = |k: &str| {
            call.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attr("error.type").as_deref(), Some("timeout"));
        assert_eq!(attr("recorded").as_deref(), Some("true"));
        assert_eq!(call.status, Status::error("timeout"));
        let event = call.events.iter().next().expect("an exception event");
        assert_eq!(event.name, "exception");
        let fine = spans.iter().find(|s| s.name == "fine").expect("fine");
        assert_eq!(fine.status, Status::Unset);
        assert!(fine.attributes.is_empty() && fine.events.is_empty());
    }
}
