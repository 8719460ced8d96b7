//! The browser tests' receiver: the fake collector's route ([`Recorder`]) and a fake API, on one
//! local port, answering a test page served from another origin (CORS on every answer).
//! `scripts/test.sh` starts it for the browser-tests phase and builds the tests with its URL
//! (`TEST_RECEIVER_URL`).
//!
//! - `POST /v1/traces`: a healthy collector; every export recorded.
//! - `POST /hang/v1/traces`: a hanging one (its [`Mode::Hanging`]): it accepts and never answers.
//! - `POST /throttled/v1/traces`: the first two exports answered 503 with `Retry-After: 1`, then
//!   healthy ([`Mode::Throttled`]).
//! - `POST /refusing-once/v1/traces`: the first export answered 400, then healthy
//!   ([`Mode::Refusing`]).
//! - `POST /api/checkout`: a declined checkout: 402 with the server's error body.
//! - `GET /api/products`: records the trace headers, answers `[]` with a `traceresponse` that
//!   continues the caller's trace.
//! - `GET /strict/products`: the same behind a CORS policy that allows no trace headers: a request
//!   that sends `traceparent` fails its preflight (what the fetch instrumentation's allow-list
//!   must avoid).
//! - `GET /received[?service=NAME]`: what it recorded, as [`Received`] (the exports every
//!   collector route accepted, filtered to those of service `NAME`).
//!
//! It prints its port on stdout, then serves until killed.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse as _, Response},
    routing::{get, post},
};
use checkout_api::{ErrorBody, ErrorCode, ErrorDetail, Product};
use test_support::{
    collector::{Mode, Recorder},
    received::{Received, Request},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    axum::serve(listener, app()).await
}

/// What the fake API records, and the collector routes `/received` reads.
#[derive(Clone)]
struct Receiver {
    collectors: [Recorder; 3],
    requests: Arc<Mutex<Vec<Request>>>,
}

fn app() -> Router {
    let receiver = Receiver {
        collectors: [
            Recorder::new(Mode::Healthy),
            Recorder::new(Mode::Throttled {
                times: 2,
                retry_after_secs: 1,
            }),
            Recorder::new(Mode::Refusing { times: 1 }),
        ],
        requests: Arc::default(),
    };
    let [healthy, throttled, refusing] = receiver.collectors.clone();
    let api = Router::new()
        .route("/api/checkout", post(declined))
        .route("/api/products", get(products))
        .route("/strict/products", get(products))
        .route("/received", get(received))
        .with_state(receiver.clone());
    Router::new()
        .merge(healthy.router())
        .nest("/hang", Recorder::new(Mode::Hanging).router())
        .nest("/throttled", throttled.router())
        .nest("/refusing-once", refusing.router())
        .merge(api)
        .layer(middleware::from_fn(cors))
}

/// Every answer allows the test page's origin; a preflight (`OPTIONS`, any path) is answered
/// here. `/strict/` allows no request headers beyond the safelisted ones.
async fn cors(request: axum::extract::Request, next: Next) -> Response {
    let origin =
        (request.headers().get(header::ORIGIN).cloned()).unwrap_or(HeaderValue::from_static("*"));
    let strict = request.uri().path().starts_with("/strict/");
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if !strict {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, traceparent, tracestate, baggage"),
        );
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("traceresponse, retry-after"),
    );
    response
}

/// A checkout the gateway declined, as the server answers it.
async fn declined() -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: ErrorCode::CardDeclined,
            message: "Your card was declined.".into(),
            field: None,
        },
    };
    (StatusCode::PAYMENT_REQUIRED, Json(body)).into_response()
}

/// An empty catalog; the request's trace headers recorded, and its trace continued in a
/// `traceresponse` (a server span of a new id under the caller's trace).
async fn products(State(receiver): State<Receiver>, uri: Uri, headers: HeaderMap) -> Response {
    let header = |name: &str| {
        let value = headers.get(name).and_then(|v| v.to_str().ok());
        value.unwrap_or_default().to_owned()
    };
    let traceparent = header("traceparent");
    receiver.requests.lock().expect("lock").push(Request {
        path: uri
            .path_and_query()
            .map_or(uri.path(), |p| p.as_str())
            .to_owned(),
        traceparent: traceparent.clone(),
        baggage: header("baggage"),
    });
    let mut response = Json(Vec::<Product>::new()).into_response();
    if let [_, trace_id, _, _] = traceparent.split('-').collect::<Vec<_>>()[..] {
        let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
        let traceresponse = format!("00-{trace_id}-{span_id}-01");
        if let Ok(value) = HeaderValue::from_str(&traceresponse) {
            response.headers_mut().insert("traceresponse", value);
        }
    }
    response
}

/// `?service=NAME`: only that service's exports.
#[derive(serde::Deserialize)]
struct Filter {
    service: Option<String>,
}

async fn received(
    State(receiver): State<Receiver>,
    Query(filter): Query<Filter>,
) -> Json<Received> {
    let mut exports: Vec<_> = (receiver.collectors.iter())
        .flat_map(Recorder::exports)
        .collect();
    if let Some(service) = filter.service {
        exports.retain(|export| export.spans().iter().any(|s| s.service == service));
    }
    let requests = receiver.requests.lock().expect("lock").clone();
    Json(Received { exports, requests })
}
