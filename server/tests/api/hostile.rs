//! Hostile input, generated (proptest): whatever a client sends as a checkout body or as trace
//! headers, the answer is a 2xx or a 4xx with a JSON error, never a 5xx or a dropped connection,
//! and a rejected checkout writes nothing.

use proptest::{collection::vec, prelude::*, string::string_regex, test_runner::TestRunner};
use serde_json::Value;

use crate::helpers::*;

/// A JSON value of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec(("[a-z_]{1,12}", inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A checkout body: well-shaped with absurd values, any JSON, or not JSON at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let absurd_checkout = (
        any::<i64>(),
        any::<i64>(),
        ".{0,30}",
        ".{0,12}",
        ".{0,8}",
        ".{0,40}",
    )
        .prop_map(|(product_id, quantity, number, expiry, cvc, email)| {
            serde_json::json!({
                "items": [{ "product_id": product_id, "quantity": quantity }],
                "card": { "number": number, "expiry": expiry, "cvc": cvc },
                "email": email,
            })
            .to_string()
            .into_bytes()
        });
    prop_oneof![
        absurd_checkout,
        any_json().prop_map(|v| v.to_string().into_bytes()),
        vec(any::<u8>(), 0..200),
        (1..20_000_usize).prop_map(|depth| {
            let mut nested = "[".repeat(depth);
            nested.push_str(&"]".repeat(depth));
            nested.into_bytes()
        }),
        Just(br#"{"items":[{"product_id":1e400,"quantity":99999999999999999999999}]}"#.to_vec()),
        (65_000..70_000_usize).prop_map(|len| {
            let mut big = br#"{"email":""#.to_vec();
            big.extend(std::iter::repeat_n(b'a', len));
            big.extend(br#""}"#);
            big
        }),
    ]
}

/// Trace headers: absurd, repeated or huge values of visible ASCII (what a header can carry).
fn trace_headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let text = string_regex("[ -~]{0,300}").expect("regex");
    vec(
        (
            prop_oneof![Just("traceparent"), Just("tracestate"), Just("baggage")],
            prop_oneof![
                text,
                Just("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()),
                (1..600_usize).prop_map(|n| vec!["k=v"; n].join(",")),
                (1..4000_usize).prop_map(|n| "z".repeat(n)),
            ],
        ),
        0..6,
    )
}

#[test]
fn hostile_bodies_and_headers_get_a_json_4xx_or_a_2xx_and_rejections_write_nothing() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(spawn_app());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    runner
        .run(&(body(), trace_headers()), |(body, headers)| {
            runtime.block_on(async {
                let (orders, stock) = (app.order_count().await, app.stock().await);
                let mut request = app
                    .client
                    .post(app.url("/api/checkout"))
                    .header("content-type", "application/json")
                    .body(body);
                for (name, value) in &headers {
                    request = request.header(*name, value);
                }
                let response = request.send().await.expect("answered, never dropped");
                let status = response.status();
                prop_assert!(status.is_success() || status.is_client_error(), "{status}");
                if !status.is_success() {
                    let error: Value = response.json().await.expect("a JSON error body");
                    prop_assert!(error["error"]["code"].is_string(), "{error}");
                    prop_assert!(error["error"]["message"].is_string(), "{error}");
                    prop_assert_eq!(app.order_count().await, orders, "nothing written");
                    prop_assert_eq!(app.stock().await, stock, "no stock taken");
                }
                Ok(())
            })
        })
        .expect("every hostile request is answered as the contract says");
}
