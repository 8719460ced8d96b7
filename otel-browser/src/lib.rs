//! OpenTelemetry tracing for Rust in the browser.
//!
//! The OpenTelemetry SDK runs on `wasm32-unknown-unknown`, but its batch processor needs a thread,
//! its simple processor blocks on the export, and the OTLP exporters need `Send` futures and a
//! native HTTP client. This crate supplies the missing pieces, on `fetch`:
//!
//! - [`BrowserSpanProcessor`]: a bounded queue (spans beyond it are dropped and counted) that sends
//!   OTLP/HTTP protobuf with `fetch` at least every [`Config::schedule_delay`] while spans wait, and
//!   flushes with `keepalive` on `pagehide` and when the page becomes hidden. It never blocks, never
//!   throws, and never traces its own export requests.
//! - [`clock::now`]: `performance.timeOrigin + performance.now()`, sub-millisecond. Spans the SDK
//!   timed with its own millisecond clock (`Date.now()`) are re-timed with it.
//! - [`ids::CryptoIdGenerator`]: trace and span ids from `crypto.getRandomValues`.
//! - [`otlp::encode`]: a batch of spans as an OTLP `ExportTraceServiceRequest`, by a small
//!   hand-written protobuf writer (pure, tested natively against `opentelemetry-proto`);
//!   [`otlp::encode_span`] and [`otlp::EncodedBatch`] do the same a span at a time, as the
//!   server's batch processor uses them.
//! - [`traceparent`]: the W3C header for a span context.
//!
//! Adopting it takes a few lines:
//!
//! ```no_run
//! use opentelemetry::trace::{Tracer, TracerProvider};
//! # fn main() {
//! let telemetry = otel_browser::BrowserTelemetry::install(otel_browser::Config {
//!     service_name: "my-app".into(),
//!     service_version: env!("CARGO_PKG_VERSION").into(),
//!     endpoint: "/v1/traces".into(),
//!     ..Default::default()
//! });
//! let tracer = telemetry.tracer("my-app");
//! tracer.in_span("click", |_cx| { /* … */ });
//! // Keep `telemetry` alive for the page's life: it owns the pagehide/visibilitychange listeners.
//! # }
//! ```

pub mod clock;
pub mod ids;
pub mod otlp;
mod processor;
#[cfg(target_arch = "wasm32")]
mod transport;

use std::{borrow::Cow, time::Duration};

use opentelemetry::{
    InstrumentationScope, KeyValue,
    trace::{SpanContext, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource,
    trace::{SdkTracer, SdkTracerProvider},
};

pub use processor::{BrowserSpanProcessor, Queue};

/// How the exporter is set up. `Default` gives the values the field docs name.
#[derive(Debug, Clone)]
pub struct Config {
    /// `service.name` (default `unknown_service:browser`).
    pub service_name: Cow<'static, str>,
    /// `service.version` (default empty: not recorded).
    pub service_version: Cow<'static, str>,
    /// The OTLP/HTTP traces URL, absolute or relative to the page (default `/v1/traces`).
    pub endpoint: Cow<'static, str>,
    /// The most spans waiting to be sent; more are dropped and counted (default 2048).
    pub max_queue_size: usize,
    /// The most spans in one request (default 256; keepalive requests use at most 64, to stay
    /// under the browser's 64 KiB keepalive budget).
    pub max_batch_size: usize,
    /// The longest a span waits before a send starts (default 500 ms).
    pub schedule_delay: Duration,
    /// More resource attributes (the browser's user agent is added by itself).
    pub resource_attributes: Vec<KeyValue>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            service_name: "unknown_service:browser".into(),
            service_version: "".into(),
            endpoint: "/v1/traces".into(),
            max_queue_size: 2048,
            max_batch_size: 256,
            schedule_delay: Duration::from_millis(500),
            resource_attributes: Vec::new(),
        }
    }
}

impl Config {
    /// The resource every span is exported with.
    pub fn resource(&self, user_agent: Option<String>) -> Resource {
        let mut attributes = vec![KeyValue::new("service.name", self.service_name.clone())];
        if !self.service_version.is_empty() {
            attributes.push(KeyValue::new(
                "service.version",
                self.service_version.clone(),
            ));
        }
        if let Some(agent) = user_agent {
            attributes.push(KeyValue::new("user_agent.original", agent));
        }
        attributes.push(KeyValue::new("telemetry.sdk.language", "rust"));
        attributes.push(KeyValue::new("telemetry.sdk.name", "opentelemetry"));
        attributes.push(KeyValue::new(
            "telemetry.distro.name",
            env!("CARGO_PKG_NAME"),
        ));
        attributes.extend(self.resource_attributes.iter().cloned());
        Resource::builder_empty()
            .with_attributes(attributes)
            .build()
    }
}

/// The installed tracer provider and exporter. Keep it for the page's life: dropping it removes
/// the page-lifecycle listeners and sends what is queued (the global provider keeps its own
/// handle, so the SDK's shutdown would not).
pub struct BrowserTelemetry {
    provider: SdkTracerProvider,
    queue: Queue,
    #[cfg(target_arch = "wasm32")]
    _lifecycle: transport::LifecycleListeners,
}

impl BrowserTelemetry {
    /// Builds the provider with the browser processor, crypto ids and the resource, installs it as
    /// the global provider, and starts listening for `pagehide`/`visibilitychange`.
    pub fn install(config: Config) -> Self {
        #[cfg(target_arch = "wasm32")]
        let user_agent = transport::user_agent();
        #[cfg(not(target_arch = "wasm32"))]
        let user_agent = None;
        let resource = config.resource(user_agent);
        let processor = BrowserSpanProcessor::new(config, resource.clone());
        let queue = processor.queue();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_id_generator(ids::CryptoIdGenerator)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        Self {
            provider,
            #[cfg(target_arch = "wasm32")]
            _lifecycle: transport::LifecycleListeners::attach(queue.clone()),
            queue,
        }
    }

    /// A tracer whose scope is `name` and this crate's version.
    pub fn tracer(&self, name: &'static str) -> SdkTracer {
        self.provider
            .tracer_with_scope(InstrumentationScope::builder(name).build())
    }

    /// The provider, for code that wants to build its own tracers.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// How many spans were dropped because the queue was full.
    pub fn dropped_spans(&self) -> u64 {
        self.queue.dropped()
    }

    /// How many export requests failed (collector down, refused, or answered an error).
    pub fn failed_exports(&self) -> u64 {
        self.queue.failed_exports()
    }

    /// Sends everything queued now and waits for the requests to finish.
    #[cfg(target_arch = "wasm32")]
    pub async fn flush(&self) {
        transport::flush_all(&self.queue, false).await;
    }
}

#[cfg(target_arch = "wasm32")]
impl Drop for BrowserTelemetry {
    fn drop(&mut self) {
        transport::send_all_keepalive(&self.queue);
    }
}

/// The W3C `traceparent` value for `span_context` (version 00; sampled and random flags kept).
pub fn traceparent(span_context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8() & 0x03
    )
}

/// The trace id of a `traceparent`/`traceresponse` value, if it is well-formed enough to read.
pub fn trace_id_of(header: &str) -> Option<&str> {
    let mut parts = header.split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    (trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    #[test]
    fn traceparent_is_version_00_lowercase_with_known_flags_only() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex"),
            SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
            TraceFlags::new(0xff),
            false,
            TraceState::default(),
        );
        assert_eq!(
            traceparent(&sc),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
        );
        let unsampled = SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        assert!(traceparent(&unsampled).ends_with("-00"));
    }

    #[test]
    fn the_trace_id_is_read_back_from_a_traceresponse() {
        assert_eq!(
            trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id_of("garbage"), None);
    }

    #[test]
    fn the_resource_names_the_service_and_the_browser() {
        let config = Config {
            service_name: "checkout-web".into(),
            service_version: "1.2.3".into(),
            ..Default::default()
        };
        let resource = config.resource(Some("Mozilla/5.0 Test".into()));
        let get = |k: &'static str| {
            resource
                .get(&opentelemetry::Key::from_static_str(k))
                .map(|v| v.to_string())
        };
        assert_eq!(get("service.name").as_deref(), Some("checkout-web"));
        assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
        assert_eq!(
            get("user_agent.original").as_deref(),
            Some("Mozilla/5.0 Test")
        );
    }
}
