//! OpenTelemetry tracing for Rust in the browser: the SDK behind the `opentelemetry` API.
//!
//! OpenTelemetry separates the API from the SDK so that a platform can have an SDK of its own
//! (OpenTelemetry JS ships a web SDK); `opentelemetry_sdk` does not target the browser (its batch
//! processor needs a thread, its exporters a native HTTP client) and costs a page ~50 KB. Pages
//! write plain `opentelemetry` API code (`Tracer`, `Span`, `Context`, `TraceContextExt`,
//! `global`); this crate is what runs behind it, built for one thread, `fetch` and the browser's
//! clock:
//!
//! - [`TracerProvider`], [`Tracer`], [`Span`] (`trace.rs`): the API traits, with span limits,
//!   last-value attributes, status rules and end-once, as the SDK specification has them.
//! - [`Sampler`] (`sampler.rs`): parent-based; roots always on (default), always off, or by the
//!   integer rejection threshold of consistent probability sampling ([`Threshold`]); a page
//!   links only the samplers it names.
//! - the processor (`processor.rs`): a bounded queue (spans beyond it are dropped and counted) of
//!   spans encoded as OTLP protobuf when they end, sent with `fetch` at least every
//!   [`Config::schedule_delay`] while spans wait, and flushed with `keepalive` on `pagehide` and
//!   when the page becomes hidden (`transport.rs`). It never blocks, never throws, and never
//!   traces its own export requests.
//! - [`clock::now`]: `performance.timeOrigin + performance.now()`, sub-millisecond, at every
//!   span's start and end and every event added through [`Span`].
//! - [`ids`]: trace and span ids from `crypto.getRandomValues`; roots carry the W3C Level 2
//!   `random` flag.
//! - [`traceparent`], [`hex`], [`decimal`]: the W3C header for a span context, ids and integers
//!   as text, without `core::fmt`.
//!
//! Instrumentations, each installed explicitly (a page that does not install one ships none of
//! its code), each with a few-line example in its module; `examples/full` installs them all:
//!
//! - [`fetch`]: traced `fetch` of a `web_sys::Request` (and of gloo-net's `RequestBuilder`,
//!   feature `gloo-net`): a CLIENT span with the HTTP client conventions, the context as W3C
//!   Trace Context and Baggage ([`propagation::W3c`]) or through the global propagators, trace
//!   headers cross-origin only where allowed.
//! - [`page_load`] (wasm32): the page-load trace, as OpenTelemetry JS's document-load
//!   instrumentation builds it, plus the module's download, compile and instantiate and the
//!   app's first render (with `loader.js`, the page's module loader, for the compile boundary).
//! - [`web_vitals`]: LCP, CLS, INP, FCP and TTFB as the `web-vitals` library measures them, as
//!   `browser.web_vital` events on a `pageView` span.
//! - [`errors`]: panics, uncaught errors and unhandled rejections as `exception` events, sent at
//!   once.
//! - [`session`]: `session.id` on every span and in the baggage, shared by the origin's tabs,
//!   rotated after 15 minutes idle or 4 hours.
//! - [`interaction`]: a DOM event handler in a span, so that a click parents what it causes.
//!
//! The encoding is the `otlp-wire` crate's, which the server's exporter uses too.
//!
//! Adopting it takes a few lines:
//!
//! ```no_run
//! use opentelemetry::trace::Tracer as _;
//! # fn main() {
//! let telemetry = otel_browser::BrowserTelemetry::install(otel_browser::Config {
//!     service_name: "my-app".into(),
//!     service_version: env!("CARGO_PKG_VERSION").into(),
//!     endpoint: "/v1/traces".into(),
//!     ..Default::default()
//! });
//! let tracer = telemetry.tracer("my-app");
//! tracer.in_span("click", |_cx| { /* … */ });
//! // Optional: `global::tracer` from anywhere in the page.
//! opentelemetry::global::set_tracer_provider(telemetry.provider().clone());
//! // Keep `telemetry` alive for the page's life: it owns the pagehide/visibilitychange listeners.
//! # }
//! ```
//!
//! One thing the API crate does on its own clock: `SpanRef::end()` and `SpanRef::add_event()` (the
//! span behind a `Context`) take `Date.now()`, whole milliseconds. Call
//! `cx.span().end_with_timestamp(otel_browser::clock::now())` to end such a span precisely; a
//! [`Span`] held by value, and one dropped, ends at [`clock::now`].

pub mod clock;
#[cfg(target_arch = "wasm32")]
pub mod errors;
pub mod fetch;
pub mod ids;
#[cfg(target_arch = "wasm32")]
pub mod interaction;
// The pure half (the timing of the spans) is tested natively; the page-load API is wasm32's.
#[cfg(any(target_arch = "wasm32", test))]
pub mod page_load;
mod processor;
pub mod propagation;
pub mod sampler;
pub mod session;
pub mod trace;
#[cfg(target_arch = "wasm32")]
mod transport;
// The browser's module; its pure rules are compiled natively too, for their unit tests.
#[cfg(any(target_arch = "wasm32", test))]
pub mod web_vitals;

use std::{borrow::Cow, time::Duration};

use opentelemetry::{
    InstrumentationScope, KeyValue,
    trace::{SpanContext, TracerProvider as _},
};

pub use processor::Queue;
pub use sampler::{Sampler, Threshold};
pub use trace::{Span, SpanData, SpanLimits, Tracer, TracerProvider};

/// How the SDK is set up. `Default` gives the values the field docs name.
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
    /// How roots are sampled (default always on); spans with a parent follow it.
    pub sampler: Sampler,
    /// The most attributes, events and links a span keeps (default 128 each).
    pub span_limits: SpanLimits,
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
            sampler: Sampler::default(),
            span_limits: SpanLimits::default(),
            resource_attributes: Vec::new(),
        }
    }
}

impl Config {
    /// The resource every span is exported with.
    pub fn resource(&self, user_agent: Option<String>) -> otlp_wire::Resource {
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
        attributes.push(KeyValue::new("telemetry.sdk.name", env!("CARGO_PKG_NAME")));
        attributes.push(KeyValue::new(
            "telemetry.sdk.version",
            env!("CARGO_PKG_VERSION"),
        ));
        attributes.extend(self.resource_attributes.iter().cloned());
        otlp_wire::Resource {
            attributes,
            schema_url: None,
        }
    }
}

/// The installed tracer provider and exporter. Keep it for the page's life: dropping it removes
/// the page-lifecycle listeners and sends what is queued.
#[must_use = "dropping it stops the telemetry: keep it for the page's life"]
pub struct BrowserTelemetry {
    provider: TracerProvider,
    pub(crate) queue: Queue,
    #[cfg(target_arch = "wasm32")]
    _lifecycle: transport::LifecycleListeners,
}

impl BrowserTelemetry {
    /// Builds the provider with the exporter and the resource, and starts listening for
    /// `pagehide`/`visibilitychange`. As with `opentelemetry_sdk`, making it the global provider
    /// is the page's call: `opentelemetry::global::set_tracer_provider(telemetry.provider()
    /// .clone())` (a page that never calls it ships none of the global machinery: 0.7 KB).
    pub fn install(config: Config) -> Self {
        #[cfg(target_arch = "wasm32")]
        let user_agent = transport::user_agent();
        #[cfg(not(target_arch = "wasm32"))]
        let user_agent = None;
        let resource = config.resource(user_agent);
        let (sampler, limits) = (config.sampler.clone(), config.span_limits);
        let queue = Queue::new(config, resource);
        let provider = TracerProvider::new(queue.clone(), sampler, limits);
        Self {
            provider,
            #[cfg(target_arch = "wasm32")]
            _lifecycle: transport::LifecycleListeners::attach(queue.clone()),
            queue,
        }
    }

    /// A tracer whose scope is `name`.
    pub fn tracer(&self, name: &'static str) -> Tracer {
        self.provider
            .tracer_with_scope(InstrumentationScope::builder(name).build())
    }

    /// The provider, for code that wants to build its own tracers.
    pub fn provider(&self) -> &TracerProvider {
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

    /// Every recorded (sampled) span that has ended since the install, queued or dropped by a full
    /// queue (the `testing` feature: a test's in-memory view, as the SDK's `InMemorySpanExporter`
    /// gives one).
    #[cfg(feature = "testing")]
    pub fn finished_spans(&self) -> Vec<SpanData> {
        self.queue.finished()
    }

    /// Sends everything queued now; the future ends when the requests have. It holds no borrow of
    /// `self`, so it can be handed to JavaScript as a promise.
    #[cfg(target_arch = "wasm32")]
    pub fn flush(&self) -> impl Future<Output = ()> + use<> {
        let queue = self.queue.clone();
        async move { transport::flush_all(&queue).await }
    }
}

#[cfg(target_arch = "wasm32")]
impl Drop for BrowserTelemetry {
    fn drop(&mut self) {
        transport::send_all_keepalive(&self.queue);
    }
}

/// The W3C `traceparent` value for `span_context` (version 00; sampled and random flags kept), as
/// `trace_context::traceparent` writes it.
pub fn traceparent(span_context: &SpanContext) -> String {
    trace_context::traceparent(
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8(),
    )
}

/// `bytes` in lowercase hex: `hex(&trace_id.to_bytes())` is the trace id as W3C Trace Context
/// and Jaeger write it (the text of `TraceId`'s `Display`, without `core::fmt`).
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 * bytes.len());
    trace_context::push_hex(&mut text, bytes);
    text
}

/// `n` in decimal, written by hand: an integer's `to_string` links `core::fmt`'s integer
/// formatting (1.5 KB of wasm) into the page.
pub fn decimal(n: i64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut text = String::with_capacity(21);
    if n < 0 {
        text.push('-');
    }
    for &digit in digits.get(at..).unwrap_or_default() {
        text.push(char::from(digit));
    }
    text
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
    fn decimal_is_the_integers_display() {
        for n in [0, 7, 10, 404, -42, 1_800_000_000_000, i64::MAX, i64::MIN] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn hex_is_the_ids_display() {
        let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
        assert_eq!(hex(&id.to_bytes()), id.to_string());
        assert_eq!(hex(&[0x00, 0x0f, 0xf0]), "000ff0");
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
        let get = |k: &str| {
            (resource.attributes.iter())
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(get("service.name").as_deref(), Some("checkout-web"));
        assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
        assert_eq!(
            get("user_agent.original").as_deref(),
            Some("Mozilla/5.0 Test")
        );
    }
}
