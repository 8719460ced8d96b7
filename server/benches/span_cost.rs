//! What tracing costs, piece by piece (BENCHMARKS.md, "Span cost"):
//!
//! ```sh
//! cargo bench -p checkout-server --bench span_cost
//! ```
//!
//! - the strict `traceparent` parser, and extracting a context from headers;
//! - a request through the real SERVER-span middleware (its attributes, `traceresponse`,
//!   `Server-Timing`, the log span) against the same request without it, with
//!   `otlp-batch-exporter`'s processor and a transport that discards, so encoding the span and
//!   queueing it are in it;
//! - encoding a batch of 512 of the server's own spans (taken from real checkouts) as OTLP
//!   protobuf: the OTLP exporter's transform + prost, the hand-written writer, and the writer a
//!   span at a time as the server's processor uses it;
//! - encoding a batch of 50 spans shaped like the page's (a click, its fetches) with the writer.

mod common;

use std::{hint::black_box, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, Request},
    middleware,
    routing::get,
};
use checkout_server::telemetry::{
    self,
    http::{Edge, ParentPolicy, server_span},
    propagation,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use opentelemetry::{
    KeyValue,
    trace::{SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _},
};
use opentelemetry_proto::{
    tonic::collector::trace::v1::ExportTraceServiceRequest,
    transform::{
        common::tonic::ResourceAttributesWithSchema,
        trace::tonic::group_spans_by_resource_and_scope,
    },
};
use opentelemetry_sdk::{
    Resource,
    trace::{InMemorySpanExporter, SdkTracerProvider, SpanData},
};
use otlp_batch_exporter::{
    BatchConfig, BatchProcessor, ExportError, Transport, wire_resource, wire_span,
};
use otlp_wire::{EncodedBatch, encode_span};
use prost::Message as _;
use tower::ServiceExt as _;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn traceparent(c: &mut Criterion) {
    c.bench_function("traceparent: parse", |b| {
        b.iter(|| propagation::parse_traceparent(black_box(TRACEPARENT)));
    });
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    headers.insert(
        "tracestate",
        HeaderValue::from_static("shop=s1,vendor@tenant=abc"),
    );
    c.bench_function("traceparent: extract with tracestate", |b| {
        b.iter(|| propagation::extract(black_box(&headers)));
    });
}

/// A transport that takes every batch and drops it.
struct Discard;

impl Transport for Discard {
    fn send(&self, _body: Bytes, _timeout: Option<Duration>) -> Result<(), ExportError> {
        Ok(())
    }
}

fn server_span_middleware(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchProcessor::new(Discard, BatchConfig::default()))
        .build();
    let plain = Router::new().route("/api/products", get(|| async { "[]" }));
    let traced = plain.clone().layer(middleware::from_fn_with_state(
        Edge {
            tracer: telemetry::tracer(&provider),
            policy: ParentPolicy::Continue,
        },
        server_span,
    ));
    let request = || {
        Request::get("/api/products")
            .header("host", "127.0.0.1:3000")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0")
            .header("traceparent", TRACEPARENT)
            .body(Body::empty())
            .expect("request")
    };
    let mut group = c.benchmark_group("request");
    group.bench_function("without the SERVER span", |b| {
        b.iter(|| runtime.block_on(plain.clone().oneshot(request())));
    });
    group.bench_function("with the SERVER span", |b| {
        b.iter(|| runtime.block_on(traced.clone().oneshot(request())));
    });
    group.finish();
    let _ = provider.shutdown();
}

/// 512 spans of real checkouts (8 spans each), and the server's resource.
fn server_spans() -> (Vec<SpanData>, Resource) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let exporter = InMemorySpanExporter::default();
        let resource = Resource::builder()
            .with_service_name("checkout-server")
            .with_attribute(KeyValue::new("service.version", "0.1.0"))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_simple_exporter(exporter.clone())
            .build();
        let dir = tempfile::tempdir().expect("dir");
        let url = common::start_server(&provider, &dir).await;
        exporter.reset();
        let client = reqwest::Client::new();
        while exporter.get_finished_spans().expect("spans").len() < 512 {
            let body = common::checkout_body();
            let answer = client.post(&url).json(&body).send().await.expect("sent");
            assert_eq!(answer.status(), 201);
        }
        let mut spans = exporter.get_finished_spans().expect("spans");
        spans.truncate(512);
        (spans, resource)
    })
}

/// 50 spans shaped like the page's: a click span with its two fetches, repeated.
fn browser_spans() -> (Vec<SpanData>, Resource) {
    let exporter = InMemorySpanExporter::default();
    let resource = Resource::builder()
        .with_service_name("checkout-web")
        .with_attribute(KeyValue::new(
            "user_agent.original",
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0",
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("checkout-web");
    while exporter.get_finished_spans().expect("spans").len() < 50 {
        tracer.in_span("checkout", |cx| {
            cx.span()
                .set_attribute(KeyValue::new("session.id", "s-4f2a9c"));
            cx.span()
                .set_attribute(KeyValue::new("checkout.item_count", 2));
            cx.span()
                .set_attribute(KeyValue::new("checkout.total_cents", 14_200));
            for (method, path, status) in [
                ("GET", "/api/products", 200),
                ("POST", "/api/checkout", 201),
            ] {
                let span = tracer
                    .span_builder(method)
                    .with_kind(SpanKind::Client)
                    .with_attributes([
                        KeyValue::new("http.request.method", method),
                        KeyValue::new("url.full", format!("http://localhost:8080{path}")),
                        KeyValue::new("server.address", "localhost"),
                        KeyValue::new("server.port", 8080),
                        KeyValue::new("http.response.status_code", status),
                    ])
                    .start(&tracer);
                drop(span);
            }
        });
    }
    let mut spans = exporter.get_finished_spans().expect("spans");
    spans.truncate(50);
    (spans, resource)
}

fn encode(c: &mut Criterion) {
    let (server, server_resource) = server_spans();
    let attributes = ResourceAttributesWithSchema::from(&server_resource);
    let server_wire = wire_resource(&server_resource);
    let mut group = c.benchmark_group("encode 512 server spans");
    group.bench_function("opentelemetry-otlp: transform + prost", |b| {
        b.iter_batched(
            || server.clone(),
            |spans| {
                let resource_spans = group_spans_by_resource_and_scope(spans, &attributes);
                ExportTraceServiceRequest { resource_spans }.encode_to_vec()
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("hand-written writer", |b| {
        b.iter(|| {
            let spans: Vec<_> = black_box(&server).iter().map(wire_span).collect();
            otlp_wire::encode(&spans, &server_wire)
        });
    });
    group.bench_function(
        "writer, a span at a time as the server's processor does",
        |b| {
            let mut scratch = Vec::new();
            b.iter(|| {
                let mut batch = EncodedBatch::default();
                for span in black_box(&server) {
                    scratch.clear();
                    encode_span(&mut scratch, &wire_span(span));
                    batch.push(&span.instrumentation_scope, &scratch);
                }
                batch.to_request(&server_wire)
            });
        },
    );
    group.finish();

    let (browser, browser_resource) = browser_spans();
    c.bench_function("encode 50 browser spans: hand-written writer", |b| {
        let resource = wire_resource(&browser_resource);
        b.iter(|| {
            let spans: Vec<_> = black_box(&browser).iter().map(wire_span).collect();
            otlp_wire::encode(&spans, &resource)
        });
    });
}

/// criterion's generated entry point (`pub fn benches`), kept out of the missing-docs lint.
#[allow(missing_docs)]
mod entry {
    use super::*;
    criterion_group!(benches, traceparent, server_span_middleware, encode);
}
criterion_main!(entry::benches);
