//! No card number, CVC or email in any span attribute, event or log line.

use opentelemetry_sdk::trace::SpanData;
use serde_json::json;

use crate::helpers::*;

/// Every text a span carries: name, attributes, events, status, links.
fn span_texts(span: &SpanData) -> Vec<String> {
    let mut texts = vec![span.name.to_string(), format!("{:?}", span.status)];
    texts.extend(
        span.attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value)),
    );
    for event in span.events.iter() {
        texts.push(event.name.to_string());
        texts.extend(
            event
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value)),
        );
    }
    texts.push(span.span_context.trace_state().header());
    texts
}

/// The card numbers as typed and as digits, and the email.
fn secrets() -> Vec<String> {
    let mut secrets = vec![EMAIL.to_owned()];
    for card in [CARD_OK, CARD_DECLINED, CARD_NO_FUNDS, CARD_GATEWAY_ERROR] {
        secrets.push(card.to_owned());
        secrets.push(card.replace(' ', ""));
    }
    secrets
}

/// Whether the CVC stands alone as a token (it may occur inside a hex id by chance).
fn has_cvc_token(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|token| token == CVC)
}

#[tokio::test]
async fn no_card_number_cvc_or_email_reaches_any_span_event_or_log_line() {
    let app = spawn_app().await;
    // Every path a card or email travels: approved, declined, no funds, gateway error, invalid
    // fields next to valid secrets, a secret in the wrong type, and an idempotent replay.
    for card in [CARD_OK, CARD_DECLINED, CARD_NO_FUNDS, CARD_GATEWAY_ERROR] {
        app.checkout(&checkout_body(&[(1, 1)], card)).await;
    }
    let mut bad_quantity = checkout_body(&[(1, 0)], CARD_OK);
    bad_quantity["items"][0]["quantity"] = json!(0);
    app.checkout(&bad_quantity).await;
    let mut typed_card = checkout_body(&[(1, 1)], CARD_OK);
    typed_card["card"]["number"] = json!(4242424242424242_u64);
    app.checkout(&typed_card).await;
    let mut bad_email = checkout_body(&[(1, 1)], CARD_OK);
    bad_email["email"] = json!(format!("{EMAIL} "));
    bad_email["card"]["expiry"] = json!("01/20");
    app.checkout(&bad_email).await;
    for _ in 0..2 {
        app.client
            .post(app.url("/api/checkout"))
            .header("idempotency-key", "secret-check")
            .json(&checkout_body(&[(2, 1)], CARD_OK))
            .send()
            .await
            .expect("sent");
    }

    let spans = app.spans();
    assert!(
        spans.0.len() > 20,
        "the run must have produced spans to check"
    );
    for span in &spans.0 {
        for text in span_texts(span) {
            for secret in secrets() {
                assert!(
                    !text.contains(&secret),
                    "span {:?} leaks a secret: {text}",
                    span.name
                );
            }
            assert!(
                !has_cvc_token(&text),
                "span {:?} leaks the CVC: {text}",
                span.name
            );
        }
    }

    let logs = captured_logs();
    assert!(
        logs.contains("request"),
        "the run must have logged request lines"
    );
    for line in logs.lines() {
        for secret in secrets() {
            assert!(!line.contains(&secret), "log line leaks a secret: {line}");
        }
        assert!(!has_cvc_token(line), "log line leaks the CVC: {line}");
    }
}
