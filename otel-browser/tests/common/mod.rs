//! What the browser tests share: the receiver's address and what it recorded, decoded.
#![cfg(target_arch = "wasm32")]
#![allow(dead_code, missing_docs)]

use base64::Engine as _;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, trace::v1::Span as ExportedSpan,
};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value;
use otel_browser::{BrowserTelemetry, Config};
use prost::Message as _;

/// The local receiver (`scripts/test-receiver.py`), baked in at compile time.
pub const RECEIVER: &str = env!("TEST_RECEIVER_URL");

/// Everything the receiver recorded.
pub async fn received() -> serde_json::Value {
    gloo_net::http::Request::get(&format!("{RECEIVER}/received"))
        .send()
        .await
        .expect("receiver reachable")
        .json()
        .await
        .expect("json")
}

/// The spans of every export the receiver got, decoded, with the index of their export.
pub async fn exported() -> Vec<(usize, ExportedSpan)> {
    (decoded().await.into_iter())
        .map(|(i, _, _, span)| (i, span))
        .collect()
}

/// The spans the receiver got from tracers of the instrumentation scope `scope`.
pub async fn exported_in_scope(scope: &str) -> Vec<ExportedSpan> {
    (decoded().await.into_iter())
        .filter(|(_, _, name, _)| name == scope)
        .map(|(_, _, _, span)| span)
        .collect()
}

/// The spans of every export the receiver got from the service named `service` (tests that share
/// the receiver give their telemetry a service name of their own).
pub async fn exported_by(service: &str) -> Vec<ExportedSpan> {
    (decoded().await.into_iter())
        .filter(|(_, name, _, _)| name == service)
        .map(|(_, _, _, span)| span)
        .collect()
}

/// Every exported span: its export's index, its service's and its scope's names, the span.
async fn decoded() -> Vec<(usize, String, String, ExportedSpan)> {
    let received = received().await;
    let mut spans = Vec::new();
    for (i, export) in received["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .enumerate()
    {
        assert_eq!(export["content_type"], "application/x-protobuf");
        let body = base64::engine::general_purpose::STANDARD
            .decode(export["body"].as_str().expect("body"))
            .expect("base64");
        let request =
            ExportTraceServiceRequest::decode(body.as_slice()).expect("valid OTLP protobuf");
        for resource_spans in request.resource_spans {
            let service = (resource_spans.resource.iter())
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                spans.extend(
                    (scope_spans.spans.into_iter()).map(|s| (i, service.clone(), scope.clone(), s)),
                );
            }
        }
    }
    spans
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

/// Telemetry exporting to the receiver with `config`'s sampler and limits; nothing is sent until
/// [`exported_named`] flushes it.
pub fn install(config: Config) -> BrowserTelemetry {
    BrowserTelemetry::install(Config {
        endpoint: format!("{RECEIVER}/v1/traces").into(),
        schedule_delay: Duration::from_secs(3600),
        ..config
    })
}

/// Flushes `telemetry`, then the spans named `prefix…` the receiver has got from every test.
pub async fn exported_named(telemetry: &BrowserTelemetry, prefix: &str) -> Vec<ExportedSpan> {
    telemetry.flush().await;
    (exported().await.into_iter())
        .map(|(_, span)| span)
        .filter(|s| s.name.starts_with(prefix))
        .collect()
}

/// The one exported span named `name`.
pub async fn the_span(telemetry: &BrowserTelemetry, name: &str) -> ExportedSpan {
    let mut spans = exported_named(telemetry, name).await;
    spans.retain(|s| s.name == name);
    assert_eq!(spans.len(), 1, "{name} exported once");
    spans.remove(0)
}

/// The string or integer value of attribute `key`, as text.
pub fn attr(span: &ExportedSpan, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}
