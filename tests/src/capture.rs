//! The capture endpoint: an OTLP/HTTP receiver that the collector forwards everything to, decoded
//! with the official opentelemetry-proto types. It stands in for Jaeger's storage, which needs
//! Docker, which the test machines lack; against a compose stack the tests read Jaeger instead.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tower_http::decompression::RequestDecompressionLayer;

use crate::trace::Span;

/// A running capture endpoint and the spans it has received.
#[derive(Clone)]
pub struct Capture {
    /// Where it listens (its traces path is `/v1/traces`).
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Capture {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
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
            // The collector compresses what it forwards.
            .layer(RequestDecompressionLayer::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { addr, spans }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("lock").clone()
    }
}
