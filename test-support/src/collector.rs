//! A fake OTLP/HTTP collector on a free port, in the modes the tests and benches need. Healthy, it
//! decodes every export with the official opentelemetry-proto types; it stands in for a real
//! collector where the point is the exporter's behaviour (the end-to-end tests run a real one), and
//! for Jaeger's storage behind the real one.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::net::TcpListener;
use tower_http::decompression::RequestDecompressionLayer;

use crate::trace::Span;

/// How the collector behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Accepts and decodes every export (gzip-compressed or not).
    Healthy,
    /// Nothing listens: connections are refused.
    Down,
    /// Accepts connections and never answers.
    Hanging,
    /// Answers every export with 503.
    Failing,
}

/// A running fake collector and the spans it has received.
#[derive(Clone)]
pub struct Collector {
    /// Where it listens (its traces path is `/v1/traces`).
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    /// Starts one in `mode` on a free port.
    pub async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        match mode {
            Mode::Down => drop(listener),
            Mode::Hanging => {
                tokio::spawn(async move {
                    let mut held = Vec::new();
                    while let Ok((socket, _)) = listener.accept().await {
                        held.push(socket);
                    }
                });
            }
            Mode::Failing => {
                let router = Router::new().route(
                    "/v1/traces",
                    post(|| async { StatusCode::SERVICE_UNAVAILABLE }),
                );
                tokio::spawn(async move { axum::serve(listener, router).await });
            }
            Mode::Healthy => {
                let sink = Arc::clone(&spans);
                let router = Router::new()
                    .route(
                        "/v1/traces",
                        post(move |body: Bytes| async move {
                            match ExportTraceServiceRequest::decode(body) {
                                Ok(request) => {
                                    sink.lock()
                                        .expect("lock")
                                        .extend(Span::from_request(request));
                                    StatusCode::OK
                                }
                                Err(_) => StatusCode::BAD_REQUEST,
                            }
                        }),
                    )
                    // Real collectors compress what they forward.
                    .layer(RequestDecompressionLayer::new());
                tokio::spawn(async move { axum::serve(listener, router).await });
            }
        }
        Self { addr, spans }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("lock").clone()
    }
}
