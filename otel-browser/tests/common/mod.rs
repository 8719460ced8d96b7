//! What the browser tests share: the receiver's address, a service of each test's own, and what the
//! receiver got from it, decoded by test-support.
#![cfg(target_arch = "wasm32")]
#![allow(dead_code, missing_docs)]

use std::time::Duration;

use otel_browser::{BrowserTelemetry, Config};
use test_support::{
    received::{Received, Request},
    trace::{self, Span},
};

/// The local receiver (test-support's `test-receiver`, started by `scripts/test.sh`), baked in at
/// compile time.
pub const RECEIVER: &str = env!("TEST_RECEIVER_URL");

/// A test's own service: its telemetry's `service.name`, by which it reads only its own spans from
/// the receiver that every test of the run shares, and its own requests, by a URL that names it.
pub struct Service(String);

impl Service {
    /// `name` and this page's time origin: each test binary runs in a page of its own, and the
    /// receiver keeps what every one of them sent.
    pub fn new(name: &str) -> Self {
        let performance =
            js_sys::Reflect::get(&js_sys::global(), &"performance".into()).expect("performance");
        let origin = (js_sys::Reflect::get(&performance, &"timeOrigin".into()).ok())
            .and_then(|t| t.as_f64())
            .expect("timeOrigin");
        Self(format!("{name}-{}", origin as u64))
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// Telemetry of this service exporting to the receiver, which sends nothing by its schedule:
    /// only a flush, a full batch or `pagehide` sends.
    pub fn config(&self) -> Config {
        Config {
            service_name: self.0.clone().into(),
            endpoint: format!("{RECEIVER}/v1/traces").into(),
            schedule_delay: Duration::from_secs(3600),
            ..Default::default()
        }
    }

    /// Installs [`Service::config`].
    pub fn install(&self) -> BrowserTelemetry {
        BrowserTelemetry::install(self.config())
    }

    /// The spans of each export the receiver has got from this service, in the order they came.
    pub async fn exports(&self) -> Vec<Vec<Span>> {
        let service = js_sys::encode_uri_component(&self.0);
        let received = received(&format!("{RECEIVER}/received?service={service}")).await;
        (received.exports.iter())
            .map(|export| {
                assert_eq!(export.content_type, "application/x-protobuf");
                export.spans()
            })
            .collect()
    }

    /// Every span the receiver has got from this service.
    pub async fn spans(&self) -> Vec<Span> {
        self.exports().await.into_iter().flatten().collect()
    }

    /// Flushes `telemetry`, then every span the receiver has got from this service.
    pub async fn flushed(&self, telemetry: &BrowserTelemetry) -> Vec<Span> {
        telemetry.flush().await;
        self.spans().await
    }

    /// Flushes `telemetry`, then the one span of this service named `name`.
    pub async fn the_span(&self, telemetry: &BrowserTelemetry, name: &str) -> Span {
        trace::one(&self.flushed(telemetry).await, name).clone()
    }

    /// `path` on the receiver, with a query naming this service: the receiver records the
    /// request under it.
    pub fn url(&self, path: &str) -> String {
        let service = js_sys::encode_uri_component(&self.0);
        format!("{RECEIVER}{path}?test={service}")
    }

    /// The one request to [`Service::url`]`(path)` the receiver recorded.
    pub async fn request(&self, path: &str) -> Request {
        let url = self.url(path);
        let path_and_query = &url[RECEIVER.len()..];
        let received = received(&format!("{RECEIVER}/received")).await;
        let mut sent = (received.requests.into_iter()).filter(|r| r.path == path_and_query);
        let request = sent.next().expect("the request reached the receiver");
        assert!(sent.next().is_none(), "one request to {path_and_query}");
        request
    }
}

async fn received(url: &str) -> Received {
    (gloo_net::http::Request::get(url).send().await)
        .expect("receiver reachable")
        .json()
        .await
        .expect("the receiver's record")
}

/// Polls `condition` every 50 ms until it yields a value, for at most 5 s, then fails naming
/// `what`: every browser test waits on a condition this way, never for a fixed time.
pub async fn wait_for<T, F>(what: &str, mut condition: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    for _ in 0..100 {
        if let Some(value) = condition().await {
            return value;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    }
    panic!("timed out after 5 s waiting for {what}");
}
