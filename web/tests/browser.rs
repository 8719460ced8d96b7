//! The page's fetches, in headless Chromium (`wasm-bindgen-test`) against a real local HTTP
//! receiver (test-support's `test-receiver`, started by `scripts/test.sh`).
#![cfg(target_arch = "wasm32")]

use checkout_api::{CardRequest, CheckoutRequest, ErrorCode, test_cards};
use opentelemetry::{
    Context,
    trace::{SpanKind, Status},
};
use otel_browser::{
    BrowserTelemetry, SpanData,
    fetch::FetchInstrumentation,
    session::{Session, SessionConfig},
};
use wasm_bindgen_test::*;
use web::api::{Api, ApiError};

wasm_bindgen_test_configure!(run_in_browser);

const RECEIVER: &str = env!("TEST_RECEIVER_URL");

/// An `Api` for `base` traced by `otel-browser` as the page installs it (the session, trace headers to the receiver, which is another origin), whose ended spans the
/// returned telemetry keeps in memory (its `testing` feature); its exports go to the receiver.
fn traced_api(base: &str) -> (Api, BrowserTelemetry, Session) {
    let telemetry = BrowserTelemetry::install(otel_browser::Config {
        endpoint: format!("{RECEIVER}/v1/traces").into(),
        ..Default::default()
    });
    let session = Session::install(SessionConfig::default());
    let fetch = FetchInstrumentation::new(telemetry.tracer("test")).propagate_to(RECEIVER);
    (Api::new(fetch, base.into()), telemetry, session)
}

#[wasm_bindgen_test]
async fn every_fetch_carries_its_client_spans_traceparent_and_the_session_baggage() {
    let (api, telemetry, session) = traced_api(RECEIVER);

    let products = api
        .products(&Context::new())
        .await
        .expect("the receiver answers");
    assert!(products.is_empty());

    let received: serde_json::Value = gloo_net::http::Request::get(&format!("{RECEIVER}/received"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let client = client_span(&telemetry);
    let expected = format!(
        "00-{}-{}-03",
        client.span_context.trace_id(),
        client.span_context.span_id()
    );
    // The receiver keeps every test's requests: this one is the request of this client span.
    let requests = received["requests"].as_array().expect("the requests");
    let request = (requests.iter())
        .find(|r| r["traceparent"] == expected.as_str())
        .unwrap_or_else(|| panic!("no request with traceparent {expected}: {requests:?}"));
    assert_eq!(request["baggage"], format!("session.id={}", session.id()));
    assert_eq!(client.name, "GET");
    assert_eq!(client.status, Status::Unset);
    assert_eq!(
        attr(&client, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attr(&client, "url.full"),
        Some(format!("{RECEIVER}/api/products"))
    );
    assert_eq!(
        attr(&client, "server.address").as_deref(),
        Some("127.0.0.1")
    );
}

/// The CLIENT span of a call.
fn client_span(telemetry: &BrowserTelemetry) -> SpanData {
    telemetry
        .finished_spans()
        .into_iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("a CLIENT span")
}

/// An attribute of `span` as text.
fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

#[wasm_bindgen_test]
async fn a_network_failure_marks_the_client_span_as_an_error() {
    // Nothing listens on port 9 (and Chromium refuses it): the fetch itself fails.
    let (api, telemetry, _) = traced_api("http://127.0.0.1:9");
    assert!(api.products(&Context::new()).await.is_err());
    let client = client_span(&telemetry);
    assert!(matches!(client.status, Status::Error { .. }));
    assert_eq!(attr(&client, "error.type").as_deref(), Some("TypeError"));
    assert_eq!(attr(&client, "http.response.status_code"), None);
}

#[wasm_bindgen_test]
async fn a_4xx_answer_marks_the_client_span_as_an_error_and_reaches_the_page() {
    let (api, telemetry, _) = traced_api(RECEIVER);
    let request = CheckoutRequest {
        items: Vec::new(),
        card: CardRequest {
            number: test_cards::DECLINED.into(),
            expiry: "12/34".into(),
            cvc: "123".into(),
        },
        email: "ada@example.com".into(),
    };
    let (answer, exchange) = api.checkout(&Context::new(), &request).await;
    let Err(ApiError::Rejected {
        status,
        body: Some(body),
    }) = answer
    else {
        panic!("a rejection with the server's error body");
    };
    assert_eq!(status, 402);
    let exchange = exchange.expect("the request was sent");
    assert_eq!(exchange.status, Some(402));
    assert!(exchange.started <= exchange.ended);
    assert_eq!(body.error.code, ErrorCode::CardDeclined);
    let client = client_span(&telemetry);
    assert_eq!(client.name, "POST");
    assert!(matches!(client.status, Status::Error { .. }));
    assert_eq!(
        attr(&client, "http.response.status_code").as_deref(),
        Some("402")
    );
    assert_eq!(attr(&client, "error.type").as_deref(), Some("402"));
}

/// `text` parsed by the browser's `JSON`, as a fetch's `json()` gives it.
fn parsed(text: &str) -> wasm_bindgen::JsValue {
    js_sys::JSON::parse(text).expect("valid JSON")
}

#[wasm_bindgen_test]
fn the_contracts_bodies_are_read_from_the_browsers_json_and_bad_shapes_are_refused() {
    use checkout_api::{ErrorBody, OrderPlaced, OrderStatus, Product};
    use web::json::FromJson;

    let products = Vec::<Product>::from_json(&parsed(
        r#"[{"id":1,"name":"Mug","description":"Holds tea","price_cents":1250,"stock":7}]"#,
    ))
    .expect("a catalog");
    assert_eq!(
        products,
        [Product {
            id: 1,
            name: "Mug".into(),
            description: "Holds tea".into(),
            price_cents: 1250,
            stock: 7,
        }]
    );
    let placed = OrderPlaced::from_json(&parsed(
        r#"{"order_id":"o-1","total_cents":2500,"status":"paid","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#,
    ))
    .expect("an order");
    assert_eq!(placed.status, OrderStatus::Paid);
    assert_eq!(placed.total_cents, 2500);
    let error = ErrorBody::from_json(&parsed(
        r#"{"error":{"code":"validation_failed","message":"m","field":"items[0].quantity"}}"#,
    ))
    .expect("an error body");
    assert_eq!(error.error.code, ErrorCode::ValidationFailed);
    assert_eq!(error.error.field.as_deref(), Some("items[0].quantity"));
    let newer = ErrorBody::from_json(&parsed(
        r#"{"error":{"code":"from_the_future","message":"m"}}"#,
    ))
    .expect("an unknown code is still read");
    assert_eq!(newer.error.code, ErrorCode::Unknown);
    assert_eq!(newer.error.field, None);

    for bad in [
        r#"[{"id":1.5,"name":"Mug","description":"","price_cents":1,"stock":1}]"#,
        r#"[{"id":1,"name":"Mug","description":"","price_cents":"1","stock":1}]"#,
        r#"[{"id":9007199254740993,"name":"Mug","description":"","price_cents":1,"stock":1}]"#,
        r#"{"id":1}"#,
    ] {
        assert_eq!(Vec::<Product>::from_json(&parsed(bad)), None, "{bad}");
    }
    assert_eq!(
        OrderPlaced::from_json(&parsed(
            r#"{"order_id":"o","total_cents":1,"status":"lost","trace_id":"t"}"#
        )),
        None
    );
}
