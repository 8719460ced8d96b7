//! The HTTP API: the router, its shared state and its layers.
//!
//! | route                   | handler                 |
//! |-------------------------|-------------------------|
//! | `GET /api/products`     | [`products::list`]      |
//! | `POST /api/checkout`    | [`checkout::create`]    |
//! | `GET /api/orders/{id}`  | [`orders::show`]        |
//! | `GET /healthz`          | [`health`] (not traced) |
//! | `POST /test`            | [`trace_test::run`], only with `TRACE_CONTEXT_TEST_ENDPOINT=1` |
//! | `GET`/`PUT /api/faults` | [`faults::show`], [`faults::update`], only with `FAULTS_ENDPOINT=1` |

pub mod checkout;
pub mod faults;
pub mod orders;
pub mod products;
pub mod trace_test;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    routing::{get, post},
};
use serde_json::json;
use tokio::sync::Semaphore;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
};

use crate::{
    config::Config,
    db::Db,
    error::AppError,
    faults::Faults,
    payment::PaymentGateway,
    telemetry::{
        Tracer,
        http::{Edge, server_span},
        timing,
    },
};

/// The largest request body accepted.
const BODY_LIMIT_BYTES: usize = 64 * 1024;
/// How long a request may take before it is answered with 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub payments: PaymentGateway,
    /// The faults injected into the gateway and the database.
    pub faults: Faults,
    /// One permit per checkout in progress, detached tasks included (`MAX_INFLIGHT_CHECKOUTS`).
    pub checkouts: Arc<Semaphore>,
    /// The tracer for spans the handlers make themselves.
    pub tracer: Tracer,
    /// The outgoing HTTP client (for the trace-context test endpoint).
    pub http: reqwest::Client,
}

/// The whole API for `state`, as `config` says: the origins browsers may call it from, and the
/// endpoints that exist only when switched on.
pub fn router(state: AppState, config: &Config) -> Router {
    let cors_origins = &config.cors_allowed_origins;
    let mut traced = Router::new()
        .route("/api/products", get(products::list))
        .route("/api/checkout", post(checkout::create))
        .route("/api/orders/{id}", get(orders::show));
    if config.trace_context_test_endpoint {
        traced = traced.route("/test", post(trace_test::run));
    }
    if config.faults_endpoint {
        traced = traced.route("/api/faults", get(faults::show).put(faults::update));
    }
    traced
        .fallback(|| async { AppError::NotFound("route") })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn_with_state(
            Edge {
                tracer: state.tracer.clone(),
                policy: config.trace_parent_policy,
            },
            server_span,
        ))
        // Added after the tracing layer: health probes every few seconds would bury real traces.
        .route("/healthz", get(health))
        .layer(timing_allow_origin(cors_origins))
        .layer(cors(cors_origins))
        .with_state(state)
}

/// Liveness: the process is up and serving.
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `Timing-Allow-Origin` for the page's origins: their Resource Timing entries may show the
/// request's phases and its `Server-Timing` (Resource Timing, §4.5 "Cross-origin resources").
fn timing_allow_origin(origins: &[String]) -> SetResponseHeaderLayer<HeaderValue> {
    let value = HeaderValue::from_str(&origins.join(", "))
        .unwrap_or_else(|_| HeaderValue::from_static("null"));
    SetResponseHeaderLayer::overriding(HeaderName::from_static("timing-allow-origin"), value)
}

/// CORS for the page's origins: the trace headers may come in, `traceresponse` and `Server-Timing`
/// may be read.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
            HeaderName::from_static("baggage"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            HeaderName::from_static("traceresponse"),
            HeaderName::from_static(timing::HEADER),
        ])
        .max_age(Duration::from_secs(600))
}
