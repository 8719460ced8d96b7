//! `GET`/`PUT /api/faults`: absent unless `FAULTS_ENDPOINT=1`; when on, the faults it sets take
//! effect on the next request and show in its spans.

use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::helpers::*;

/// A test app with the endpoint switched on.
async fn app_with_faults() -> TestApp {
    spawn_app_with(|c| c.faults_endpoint = true).await
}

/// `PUT /api/faults` with `body`; the status and the JSON answer.
async fn put_faults(app: &TestApp, body: Json) -> (u16, Json) {
    let response = app
        .client
        .put(app.url("/api/faults"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// How long `span` lasted.
fn duration(span: &opentelemetry_sdk::trace::SpanData) -> Duration {
    span.end_time
        .duration_since(span.start_time)
        .expect("ends after it starts")
}

#[tokio::test]
async fn the_fault_endpoint_does_not_exist_by_default() {
    let app = spawn_app().await;
    for request in [
        app.client.get(app.url("/api/faults")),
        app.client
            .put(app.url("/api/faults"))
            .json(&json!({ "payment_failure_rate": 1.0 })),
    ] {
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), 404);
        let body: Json = response.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let response = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::APPROVED))
        .await;
    assert_eq!(response.status(), 201, "and nothing was changed");
}

#[tokio::test]
async fn a_failure_rate_of_one_fails_the_next_checkout_and_zero_restores_it() {
    let app = app_with_faults().await;
    let (status, settings) = put_faults(&app, json!({ "payment_failure_rate": 1.0 })).await;
    assert_eq!(status, 200);
    assert_eq!(settings["payment_failure_rate"], 1.0);
    assert_eq!(settings["db_delay_ms"], 0, "what was not named is kept");
    let response = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::APPROVED))
        .await;
    assert_eq!(response.status(), 502);

    put_faults(&app, json!({ "payment_failure_rate": 0.0 })).await;
    let shown: Json = app.get_json("/api/faults").await;
    assert_eq!(shown["payment_failure_rate"], 0.0);
    let response = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::APPROVED))
        .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn payment_latency_and_database_delay_show_in_the_spans() {
    let app = app_with_faults().await;
    let (status, _) =
        put_faults(&app, json!({ "payment_latency_ms": 60, "db_delay_ms": 15 })).await;
    assert_eq!(status, 200);
    app.clear_spans();
    let response = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::APPROVED))
        .await;
    assert_eq!(response.status(), 201);
    let spans = app.spans();
    let server = spans.server_span_of(&response);
    let trace = server.span_context.trace_id();
    let payment = spans.one(trace, "payment.charge");
    assert!(
        duration(payment) >= Duration::from_millis(60),
        "{:?}",
        duration(payment)
    );
    let statements: Vec<_> = spans
        .of_trace(trace)
        .into_iter()
        .filter(|s| is_client(s))
        .collect();
    assert!(!statements.is_empty());
    for statement in statements {
        assert!(
            duration(statement) >= Duration::from_millis(15),
            "{} took {:?}",
            statement.name,
            duration(statement)
        );
    }
}

#[tokio::test]
async fn invalid_faults_are_refused_with_the_field_named_and_change_nothing() {
    let app = app_with_faults().await;
    for (body, field) in [
        (
            json!({ "payment_failure_rate": 1.5 }),
            "payment_failure_rate",
        ),
        (json!({ "db_delay_ms": 3_600_000 }), "db_delay_ms"),
        (json!({ "payment_latency_ms": -1 }), "payment_latency_ms"),
    ] {
        let (status, answer) = put_faults(&app, body.clone()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (status, answer) = put_faults(&app, json!({ "cpu_burn": 1 })).await;
    assert_eq!(status, 422, "an unknown fault is refused: {answer}");
    let shown: Json = app.get_json("/api/faults").await;
    assert_eq!(
        shown,
        json!({ "payment_latency_ms": 0, "payment_failure_rate": 0.0, "db_delay_ms": 0 })
    );
}
