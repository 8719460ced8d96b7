//! No card number, CVC or email in any span attribute, event or log line.

use opentelemetry_sdk::trace::SpanData;
use serde_json::json;

use test_support::secrets::CardData;

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

#[tokio::test]
async fn no_card_number_cvc_or_email_reaches_any_span_event_or_log_line() {
    let app = spawn_app().await;
    // Every path a card or email travels: approved, declined, no funds, gateway error, invalid
    // fields next to valid secrets, a secret in the wrong type, and an idempotent replay.
    let mut bodies = Vec::new();
    for card in [
        test_cards::APPROVED,
        test_cards::DECLINED,
        test_cards::INSUFFICIENT_FUNDS,
        test_cards::GATEWAY_ERROR,
    ] {
        bodies.push(
            app.checkout(&checkout_body(&[(1, 1)], card))
                .await
                .text()
                .await
                .expect("body"),
        );
    }
    let mut bad_quantity = checkout_body(&[(1, 1)], test_cards::APPROVED);
    bad_quantity["items"][0]["quantity"] = json!(0);
    let mut typed_card = checkout_body(&[(1, 1)], test_cards::APPROVED);
    typed_card["card"]["number"] = json!(4242424242424242_u64);
    let mut typed_cvc = checkout_body(&[(1, 1)], test_cards::APPROVED);
    typed_cvc["card"]["cvc"] = json!(CVC.parse::<u32>().expect("digits"));
    let mut bad_email = checkout_body(&[(1, 1)], test_cards::APPROVED);
    bad_email["email"] = json!(format!("{EMAIL}@again"));
    let mut typed_email = checkout_body(&[(1, 1)], test_cards::APPROVED);
    typed_email["email"] = json!([EMAIL]);
    let mut bad_luhn = checkout_body(&[(1, 1)], test_cards::APPROVED);
    bad_luhn["card"]["number"] = json!("4242 4242 4242 4241");
    for body in [
        bad_quantity,
        typed_card,
        typed_cvc,
        bad_email,
        typed_email,
        bad_luhn,
    ] {
        let response = app.checkout(&body).await;
        assert_eq!(response.status(), 422);
        bodies.push(response.text().await.expect("body"));
    }
    for _ in 0..2 {
        let response = app
            .checkout_with(
                &[("idempotency-key", "secret-check")],
                &checkout_body(&[(2, 1)], test_cards::APPROVED),
            )
            .await;
        bodies.push(response.text().await.expect("body"));
    }

    // The test cards, the mistyped one sent above, the CVC and the email.
    let card_data = CardData::test_cards(&[CVC], &[EMAIL]).with_numbers(&["4242 4242 4242 4241"]);
    for body in &bodies {
        assert_eq!(
            card_data.found_in(body),
            None,
            "a response body echoes card data: {body}"
        );
    }

    let spans = app.spans();
    assert!(
        spans.0.len() > 20,
        "the run must have produced spans to check"
    );
    for span in &spans.0 {
        for text in span_texts(span) {
            assert_eq!(
                card_data.found_in(&text),
                None,
                "span {:?} leaks card data: {text}",
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
        assert_eq!(
            card_data.found_in(line),
            None,
            "log line leaks card data: {line}"
        );
    }
}
