//! OpenTelemetry tracing for Rust in the browser: the SDK behind the `opentelemetry` API.
//!
//! OpenTelemetry separates the API from the SDK so that a platform can have an SDK of its own
//! (OpenTelemetry JS ships a web SDK); `opentelemetry_sdk` does not target the browser (its batch
//! processor needs a thread, its exporters a native HTTP client) and costs a page ~50 KB. Pages
//! write plain `opentelemetry` API code (`Tracer`, `Span`, `Context`, `TraceContextExt`,
//! `global`); this crate is what runs behind it, built for one thread, `fetch` and the browser's
//! clock:
//!
//! - [`TracerProvider`], [`Tracer`], [`Span`] (`trace.rs`): the API traits, with status rules
//!   and end-once, as the SDK specification has them; [`SpanData`] and [`SpanLimits`]
//!   (`span_data.rs`): what a span records, within its limits, with last-value attributes.
//! - [`Sampler`] (`sampler.rs`): parent-based; roots always on (default), always off, or by the
//!   integer rejection threshold of consistent probability sampling ([`Threshold`]); a page
//!   links only the samplers it names.
//! - the batching processor's queue (`queue.rs`): bounded (spans beyond it are dropped and
//!   counted), of spans encoded as OTLP protobuf when they end;
//! - the exporter (`exporter.rs`), which owns the queue and the sends: with `fetch` at least
//!   every [`Config::schedule_delay`] while spans wait, and with `keepalive` on `pagehide` and
//!   when the page becomes hidden (`transport.rs`, its JavaScript). It never blocks, never
//!   throws, and never traces its own export requests.
//! - [`clock::now`]: `performance.timeOrigin + performance.now()`, sub-millisecond, at every
//!   span's start and end and every event added through [`Span`].
//! - [`ids`]: trace and span ids from `crypto.getRandomValues`; roots carry the W3C Level 2
//!   `random` flag.
//! - [`text`]: ids and integers as text, without `core::fmt`.
//!
//! The layers, each importing only those above it: `span_data` → `queue` → `exporter` (+
//! `transport`) → `trace` → [`BrowserTelemetry`] → the instrumentations, which see only a
//! [`Tracer`].
//!
//! Instrumentations, each installed explicitly (a page that does not install one ships none of
//! its code), each with a few-line example in its module, and each a cargo feature of its own, all
//! on by default (a page that turns one off does not compile it); `examples/full` installs them
//! all, `examples/minimal` none. Each one's JavaScript is a wasm-bindgen snippet,
//! which the examples' trunk hook (`bundle.py`) bundles with the loader and the glue into the
//! page's one script: one request, not one per instrumentation:
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
//! - [`offline`]: the batches the collector could not take, kept in IndexedDB and sent at the
//!   next load or when the browser is back online.
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

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
#[cfg(all(feature = "errors", target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "errors", target_arch = "wasm32"))))]
pub mod errors;
mod exporter;
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
pub mod fetch;
pub mod ids;
#[cfg(all(feature = "interaction", target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "interaction", target_arch = "wasm32"))))]
pub mod interaction;
#[cfg(all(feature = "offline", target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "offline", target_arch = "wasm32"))))]
pub mod offline;
// The pure half (the timing of the spans) is tested natively; the page-load API is wasm32's.
#[cfg(all(feature = "page-load", any(target_arch = "wasm32", test)))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "page-load", target_arch = "wasm32"))))]
pub mod page_load;
pub mod propagation;
mod queue;
pub mod sampler;
#[cfg(feature = "session")]
#[cfg_attr(docsrs, doc(cfg(feature = "session")))]
pub mod session;
pub mod span_data;
pub mod text;
pub mod trace;
#[cfg(target_arch = "wasm32")]
mod transport;
// The browser's module; its pure rules are compiled natively too, for their unit tests.
#[cfg(all(feature = "web-vitals", any(target_arch = "wasm32", test)))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "web-vitals", target_arch = "wasm32"))))]
pub mod web_vitals;

use std::{borrow::Cow, time::Duration};

use opentelemetry::{InstrumentationScope, KeyValue, trace::TracerProvider as _};

use exporter::Exporter;
pub use queue::Dropped;
pub use sampler::{Sampler, Threshold};
pub use span_data::{SpanData, SpanLimits};
pub use trace::{Span, Tracer, TracerProvider};

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
    /// The most attempts of one batch (default 10, all within 60 s: 1 s apart, then ×1.5 up to
    /// 5 s, with jitter, or when the collector's `Retry-After` says), so that a 30 s outage loses
    /// nothing. 1 sends each batch once.
    pub max_export_attempts: u32,
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
            max_export_attempts: 10,
            sampler: Sampler::default(),
            span_limits: SpanLimits::default(),
            resource_attributes: Vec::new(),
        }
    }
}

impl Config {
    /// The provider, its exporter and its queue, as this configuration sets them up.
    fn provider(self, user_agent: Option<String>) -> TracerProvider {
        let batch = queue::BatchConfig {
            max_queue_size: self.max_queue_size,
            max_batch_size: self.max_batch_size,
            schedule_delay: self.schedule_delay,
        };
        // The configuration's values moved into the resource, not cloned: cloning the extra
        // attributes linked `Value`'s clone (every array type) into every page, 510 B gzipped of
        // the minimal page's (BENCHMARKS.md, "Page size").
        let resource = resource(
            self.service_name,
            self.service_version,
            user_agent,
            self.resource_attributes,
        );
        let exporter = Exporter::new(batch, self.max_export_attempts, self.endpoint, resource);
        TracerProvider::new(exporter, self.sampler, self.span_limits)
    }

    /// The resource every span is exported with.
    pub fn resource(&self, user_agent: Option<String>) -> otlp_wire::Resource {
        resource(
            self.service_name.clone(),
            self.service_version.clone(),
            user_agent,
            self.resource_attributes.clone(),
        )
    }
}

/// The resource of `service_name` (and `service_version` when not empty), the browser's user
/// agent, the SDK, and `more` after them.
fn resource(
    service_name: Cow<'static, str>,
    service_version: Cow<'static, str>,
    user_agent: Option<String>,
    more: Vec<KeyValue>,
) -> otlp_wire::Resource {
    let mut attributes = vec![KeyValue::new("service.name", service_name)];
    if !service_version.is_empty() {
        attributes.push(KeyValue::new("service.version", service_version));
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
    attributes.extend(more);
    otlp_wire::Resource {
        attributes,
        schema_url: None,
    }
}

/// The installed tracer provider and exporter. Keep it for the page's life: dropping it removes
/// the page-lifecycle listeners and sends what is queued.
#[must_use = "dropping it stops the telemetry: keep it for the page's life"]
pub struct BrowserTelemetry {
    provider: TracerProvider,
    #[cfg(target_arch = "wasm32")]
    _lifecycle: exporter::LifecycleListeners,
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
        let provider = config.provider(user_agent);
        Self {
            #[cfg(target_arch = "wasm32")]
            _lifecycle: exporter::LifecycleListeners::attach(provider.exporter().clone()),
            provider,
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

    /// What was dropped since the install, by reason. The collector learns it too: the next span
    /// queued after a loss carries the totals, as its `otel_browser.dropped` event.
    pub fn dropped(&self) -> Dropped {
        self.provider.exporter().dropped()
    }

    /// How many export attempts failed (collector down, refused, or answered an error), retried
    /// or not.
    pub fn failed_exports(&self) -> u64 {
        self.provider.exporter().failed_exports()
    }

    /// Every recorded (sampled) span that has ended since the install, queued or dropped by a full
    /// queue (the `testing` feature: a test's in-memory view, as the SDK's `InMemorySpanExporter`
    /// gives one).
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub fn finished_spans(&self) -> Vec<SpanData> {
        self.provider.exporter().finished()
    }

    /// Sends everything queued now; the future ends when the requests have. It holds no borrow of
    /// `self`, so it can be handed to JavaScript as a promise.
    #[cfg(target_arch = "wasm32")]
    #[cfg_attr(docsrs, doc(cfg(target_arch = "wasm32")))]
    pub fn flush(&self) -> impl Future<Output = ()> + use<> {
        self.provider.exporter().clone().flush()
    }
}

#[cfg(target_arch = "wasm32")]
impl Drop for BrowserTelemetry {
    fn drop(&mut self) {
        self.provider.exporter().send_keepalive();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
