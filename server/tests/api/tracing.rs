//! The trace: continued from the caller, one SERVER span per request, and the children under it.

use opentelemetry::{
    Value,
    trace::{SpanId, SpanKind, Status, TraceId},
};
use reqwest::header::{HeaderMap, HeaderValue};

use crate::helpers::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

#[tokio::test]
async fn a_valid_traceparent_is_continued_by_every_span_of_the_request() {
    let app = spawn_app().await;
    app.clear_spans();
    let response = app
        .checkout_with(
            &[
                ("traceparent", &traceparent()),
                ("tracestate", "congo=t61rcWkgMzE"),
            ],
            &checkout_body(&[(1, 1), (2, 1)], test_cards::APPROVED),
        )
        .await;
    assert_eq!(response.status(), 201);
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    let trace_id = TraceId::from_hex(TRACE_ID).expect("hex");

    assert_eq!(server.span_context.trace_id(), trace_id);
    assert_eq!(
        server.parent_span_id,
        SpanId::from_hex(PARENT_ID).expect("hex")
    );
    assert_eq!(
        server.span_context.trace_state().header(),
        "congo=t61rcWkgMzE"
    );
    assert_eq!(
        response.headers()["traceresponse"],
        format!("00-{TRACE_ID}-{}-01", server.span_context.span_id()).as_str()
    );
    assert!(
        spans
            .0
            .iter()
            .all(|s| s.span_context.trace_id() == trace_id),
        "every span joins the caller's trace"
    );
    assert_eq!(
        spans.descendants_of(server).len() + 1,
        spans.0.len(),
        "every other span descends from the server span"
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["trace_id"], TRACE_ID);
}

#[tokio::test]
async fn product_payment_and_database_spans_descend_from_the_server_span_with_their_attributes() {
    let app = spawn_app().await;
    let response = app
        .checkout_with(
            &[
                ("traceparent", &traceparent()),
                ("baggage", "session.id=s-4f2a9c"),
            ],
            &checkout_body(&[(3, 2), (1, 1)], test_cards::APPROVED),
        )
        .await;
    assert_eq!(response.status(), 201);
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    let trace_id = server.span_context.trace_id();

    assert_eq!(server.name, "POST /api/checkout");
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(server.status, Status::Unset);
    assert_eq!(attr_str(server, "http.request.method"), "POST");
    assert_eq!(attr_str(server, "http.route"), "/api/checkout");
    assert_eq!(attr_str(server, "url.path"), "/api/checkout");
    assert_eq!(attr_str(server, "url.scheme"), "http");
    assert_eq!(attr_str(server, "server.address"), "127.0.0.1");
    assert_eq!(
        attr(server, "server.port"),
        Some(Value::I64(i64::from(app.addr.port())))
    );
    assert_eq!(
        attr(server, "http.response.status_code"),
        Some(Value::I64(201))
    );
    assert_eq!(attr_str(server, "session.id"), "s-4f2a9c");
    assert_eq!(attr(server, "error.type"), None);

    let below = spans.descendants_of(server);
    let lookup = spans.one(trace_id, "product.lookup");
    assert_eq!(lookup.parent_span_id, server.span_context.span_id());
    assert_eq!(
        attr(lookup, "product.ids"),
        Some(Value::Array(vec![3_i64, 1].into()))
    );
    assert_eq!(attr(lookup, "product.count"), Some(Value::I64(2)));

    let payment = spans.one(trace_id, "payment.charge");
    assert_eq!(payment.parent_span_id, server.span_context.span_id());
    assert_eq!(attr_str(payment, "payment.card.brand"), "visa");
    assert_eq!(attr_str(payment, "payment.card.last4"), "4242");
    assert_eq!(
        attr(payment, "payment.amount_cents"),
        Some(Value::I64(2 * 5900 + 2400))
    );
    assert!(!is_error(payment));

    let db: Vec<_> = below.iter().filter(|s| is_client(s)).collect();
    assert!(
        db.len() >= 2,
        "at least two database spans, got {}",
        db.len()
    );
    for span in &db {
        if on_postgres() {
            // Database semantic conventions: a server's namespace, address and port.
            assert_eq!(attr_str(span, "db.system.name"), "postgresql");
            assert!(attr_str(span, "db.namespace").starts_with("test_"));
            assert_eq!(attr_str(span, "server.address"), "127.0.0.1");
            assert!(matches!(attr(span, "server.port"), Some(Value::I64(1..))));
        } else {
            assert_eq!(attr_str(span, "db.system.name"), "sqlite");
            assert_eq!(attr(span, "server.address"), None);
        }
        let operation = attr_str(span, "db.operation.name");
        let collection = attr_str(span, "db.collection.name");
        assert_eq!(span.name, format!("{operation} {collection}"));
        let query = attr_str(span, "db.query.text");
        assert!(query.starts_with(&operation), "{query}");
        assert!(
            !query.contains(EMAIL) && !query.contains("5900"),
            "values must be bound, not inlined: {query}"
        );
    }
    assert!(
        db.iter()
            .any(|s| s.parent_span_id == lookup.span_context.span_id()),
        "the lookup's SELECT is its child"
    );
    let names: Vec<_> = db.iter().map(|s| s.name.as_ref()).collect();
    for expected in [
        "SELECT products",
        "UPDATE products",
        "INSERT orders",
        "INSERT order_items",
        "UPDATE orders",
    ] {
        assert!(names.contains(&expected), "missing {expected} in {names:?}");
    }
}

#[tokio::test]
async fn a_declined_card_gives_402_and_an_error_payment_span_under_an_unset_server_span() {
    let app = spawn_app().await;
    let response = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::DECLINED))
        .await;
    assert_eq!(response.status(), 402);
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    assert_eq!(
        server.status,
        Status::Unset,
        "a 4xx is the client's, not the server's, error"
    );
    assert_eq!(
        attr(server, "http.response.status_code"),
        Some(Value::I64(402))
    );

    let payment = spans.one(server.span_context.trace_id(), "payment.charge");
    assert!(is_error(payment));
    assert_eq!(attr_str(payment, "error.type"), "card_declined");
    let exception = payment
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("an exception event");
    assert!(
        exception
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "exception.message")
    );
}

#[tokio::test]
async fn a_gateway_error_gives_502_and_an_error_server_span() {
    let app = spawn_app().await;
    let response = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::GATEWAY_ERROR))
        .await;
    assert_eq!(response.status(), 502);
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    assert!(is_error(server));
    assert_eq!(attr_str(server, "error.type"), "502");
    let payment = spans.one(server.span_context.trace_id(), "payment.charge");
    assert_eq!(attr_str(payment, "error.type"), "gateway_error");
}

#[tokio::test]
async fn each_malformed_traceparent_starts_a_new_trace_and_the_request_is_served() {
    let app = spawn_app().await;
    let valid_trace = TraceId::from_hex(TRACE_ID).expect("hex");
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "all-zero trace id",
            vec![format!("00-{}-{PARENT_ID}-01", "0".repeat(32))],
        ),
        (
            "all-zero parent id",
            vec![format!("00-{TRACE_ID}-{}-01", "0".repeat(16))],
        ),
        ("version ff", vec![format!("ff-{TRACE_ID}-{PARENT_ID}-01")]),
        (
            "uppercase hex",
            vec![format!("00-{}-{PARENT_ID}-01", TRACE_ID.to_uppercase())],
        ),
        (
            "31-hex trace id",
            vec![format!("00-{}-{PARENT_ID}-01", &TRACE_ID[..31])],
        ),
        (
            "15-hex parent id",
            vec![format!("00-{TRACE_ID}-{}-01", &PARENT_ID[..15])],
        ),
        ("version 0", vec![format!("0-{TRACE_ID}-{PARENT_ID}-01")]),
        ("flags 1", vec![format!("00-{TRACE_ID}-{PARENT_ID}-1")]),
        (
            "version 00 with trailing data",
            vec![format!("00-{TRACE_ID}-{PARENT_ID}-01-extra")],
        ),
        ("duplicated header", vec![traceparent(), traceparent()]),
    ];
    for (name, values) in cases {
        let mut headers = HeaderMap::new();
        for value in &values {
            headers.append("traceparent", HeaderValue::from_str(value).expect("header"));
        }
        headers.append("tracestate", HeaderValue::from_static("congo=t61rcWkgMzE"));
        let response = app
            .client
            .get(app.url("/api/products"))
            .headers(headers)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{name}");
        let spans = app.spans();
        let server = spans.server_span_of(&response);
        assert_ne!(
            server.span_context.trace_id(),
            valid_trace,
            "{name}: must not continue the trace"
        );
        assert_eq!(
            server.parent_span_id,
            SpanId::INVALID,
            "{name}: must be a root"
        );
        assert_eq!(
            server.span_context.trace_state().header(),
            "",
            "{name}: tracestate is dropped"
        );
    }
}

#[tokio::test]
async fn a_higher_version_with_extra_fields_is_continued() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/products"))
        .header(
            "traceparent",
            format!("cc-{TRACE_ID}-{PARENT_ID}-01-what-the-future-will-be-like"),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    assert_eq!(server.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(server.parent_span_id.to_string(), PARENT_ID);
    assert!(
        response.headers()["traceresponse"]
            .to_str()
            .expect("ascii")
            .starts_with("00-")
    );
}

#[tokio::test]
async fn span_names_use_the_route_template_never_the_raw_path() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/orders/8d1c-unknown"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 404);
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    assert_eq!(server.name, "GET /api/orders/{id}");
    assert_eq!(attr_str(server, "http.route"), "/api/orders/{id}");
    assert_eq!(attr_str(server, "url.path"), "/api/orders/8d1c-unknown");

    let response = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .expect("sent");
    let spans = app.spans();
    assert_eq!(spans.server_span_of(&response).name, "GET");
}

#[tokio::test]
async fn the_page_origin_may_read_traceresponse_and_server_timing_and_other_origins_may_not() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/checkout"))
        .header("origin", "http://localhost:8080")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,traceparent,baggage",
        )
        .send()
        .await
        .expect("sent");
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        allowed.contains("traceparent") && allowed.contains("baggage"),
        "{allowed}"
    );

    let response = app
        .client
        .get(app.url("/api/products"))
        .header("origin", "http://localhost:8080")
        .send()
        .await
        .expect("sent");
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii");
    assert!(exposed.contains("traceresponse"), "{exposed}");
    assert!(exposed.contains("server-timing"), "{exposed}");
    // Resource Timing may show the request's phases and Server-Timing to this origin only.
    let timing_allowed = response.headers()["timing-allow-origin"]
        .to_str()
        .expect("ascii");
    assert!(
        timing_allowed
            .split(',')
            .any(|origin| origin.trim() == "http://localhost:8080")
            && !timing_allowed.contains('*'),
        "{timing_allowed}"
    );

    let foreign = app
        .client
        .get(app.url("/api/products"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("sent");
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn health_probes_are_not_traced() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(app.spans().0.iter().all(|s| !s.name.contains("healthz")));
    assert!(response.headers().get("traceresponse").is_none());
}

#[tokio::test]
async fn log_lines_written_inside_a_request_carry_its_trace_and_span_ids() {
    let app = spawn_app().await;
    // A trace id of this test's own, so its lines are told apart from other tests' in the
    // shared log capture.
    let trace_id = "5e1f0c0ffee0000000000000000d1ce5";
    let response = app
        .checkout_with(
            &[("traceparent", &format!("00-{trace_id}-{PARENT_ID}-01"))],
            &checkout_body(&[(1, 1)], test_cards::DECLINED),
        )
        .await;
    assert_eq!(response.status(), 402);
    let server_span_id = app.spans().server_span_of(&response).span_context.span_id();
    let logs = captured_logs();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(trace_id)).collect();
    let payment = lines
        .iter()
        .find(|l| l.contains("payment not completed"))
        .unwrap_or_else(|| panic!("the decline, logged in the detached checkout task: {lines:?}"));
    let served = lines
        .iter()
        .find(|l| l.contains("served"))
        .unwrap_or_else(|| panic!("the request's own line: {lines:?}"));
    for line in [payment, served] {
        assert!(
            line.contains(&format!("span_id={server_span_id}")),
            "{line}"
        );
    }
}

#[tokio::test]
async fn with_the_link_policy_an_incoming_trace_is_linked_from_a_new_one_not_continued() {
    let app = spawn_app_with(|c| {
        c.trace_parent_policy = checkout_server::telemetry::http::ParentPolicy::Link;
    })
    .await;
    app.clear_spans();
    let response = app
        .checkout_with(
            &[
                ("traceparent", &traceparent()),
                ("baggage", "session.id=abc123"),
            ],
            &checkout_body(&[(1, 1)], test_cards::APPROVED),
        )
        .await;
    assert_eq!(response.status(), 201);
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    assert_ne!(server.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(
        server.parent_span_id,
        SpanId::INVALID,
        "a root at this edge"
    );
    let links = &server.links.links;
    assert_eq!(links.len(), 1, "linked to the caller");
    assert_eq!(links[0].span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(links[0].span_context.span_id().to_string(), PARENT_ID);
    assert_eq!(
        attr_str(server, "session.id"),
        "abc123",
        "baggage still read"
    );
    let traceresponse = response.headers()["traceresponse"].to_str().expect("ascii");
    assert!(
        traceresponse.contains(&server.span_context.trace_id().to_string()),
        "the caller learns the new trace id: {traceresponse}"
    );
    assert!(
        spans
            .descendants_of(server)
            .iter()
            .any(|s| s.name == "payment.charge"),
        "the work happens in the new trace"
    );
}
