//! The page host: the trunk release build (`dist/`) served the way `trunk serve` would serve it,
//! with the same two proxies as `Trunk.toml`: `/api/*` to the server and `/v1/traces` to the
//! collector, so the page is same-origin.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, post},
};
use tower_http::services::ServeDir;

#[derive(Clone)]
struct Upstreams {
    server: String,
    collector: String,
    client: reqwest::Client,
    failed_exports: Arc<AtomicUsize>,
}

/// The running page host.
pub struct PageHost {
    pub addr: SocketAddr,
    failed_exports: Arc<AtomicUsize>,
}

impl PageHost {
    /// How many of the page's OTLP exports the collector did not take (answered 502 here).
    pub fn failed_exports(&self) -> usize {
        self.failed_exports.load(Ordering::SeqCst)
    }
}

/// Serves `dist` on a free port, proxying to `server` and `collector` (base URLs).
pub async fn start(dist: &Path, server: String, collector: String) -> PageHost {
    assert!(
        dist.join("index.html").exists(),
        "{} has no index.html: build the page first",
        dist.display()
    );
    let failed_exports = Arc::new(AtomicUsize::new(0));
    let upstreams = Upstreams {
        server,
        collector,
        client: reqwest::Client::new(),
        failed_exports: Arc::clone(&failed_exports),
    };
    let router = Router::new()
        .route("/api/{*rest}", any(proxy_api))
        .route("/v1/traces", post(proxy_traces))
        .fallback_service(ServeDir::new(dist))
        .with_state(upstreams);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    PageHost {
        addr,
        failed_exports,
    }
}

async fn proxy_api(State(up): State<Upstreams>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let url = format!("{}{path}", up.server);
    forward(&up.client, url, request).await
}

async fn proxy_traces(State(up): State<Upstreams>, request: Request) -> Response {
    let url = format!("{}/v1/traces", up.collector);
    let response = forward(&up.client, url, request).await;
    if !response.status().is_success() {
        up.failed_exports.fetch_add(1, Ordering::SeqCst);
    }
    response
}

/// Forwards method, the headers that matter here, and the body; answers 502 when the upstream is
/// unreachable, as a dev proxy does.
pub(crate) async fn forward(client: &reqwest::Client, url: String, request: Request) -> Response {
    let method = request.method().clone();
    let headers = pass_headers(
        request.headers(),
        &[
            header::CONTENT_TYPE.as_str(),
            "traceparent",
            "tracestate",
            "baggage",
            "idempotency-key",
        ],
    );
    let Ok(body) = axum::body::to_bytes(request.into_body(), 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let sent = client
        .request(
            Method::from_bytes(method.as_str().as_bytes()).unwrap_or(Method::GET),
            &url,
        )
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(upstream) = sent else {
        return (StatusCode::BAD_GATEWAY, "upstream unreachable").into_response();
    };
    let status = upstream.status();
    let headers = pass_headers(
        upstream.headers(),
        &[
            header::CONTENT_TYPE.as_str(),
            "traceresponse",
            "server-timing",
            "location",
            "idempotent-replayed",
        ],
    );
    let body: Bytes = upstream.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn pass_headers(from: &HeaderMap, names: &[&str]) -> HeaderMap {
    let mut to = HeaderMap::new();
    for name in names {
        for value in from.get_all(*name) {
            if let Ok(name) = header::HeaderName::from_bytes(name.as_bytes()) {
                to.append(name, value.clone());
            }
        }
    }
    to
}
