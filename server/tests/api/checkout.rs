//! The checkout API: status codes, JSON errors, stock and order bookkeeping, idempotency.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_valid_checkout_returns_201_records_a_paid_order_and_takes_stock() {
    let app = spawn_app().await;
    let response = app
        .checkout(&checkout_body(&[(1, 2), (5, 1)], test_cards::APPROVED))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "paid");
    assert_eq!(body["total_cents"], 2 * 2400 + 650);
    assert_eq!(body["trace_id"].as_str().map(str::len), Some(32));
    assert_eq!(
        location,
        format!("/api/orders/{}", body["order_id"].as_str().expect("id"))
    );

    let stock = app.stock().await;
    assert_eq!(stock[0], (1, 98));
    assert_eq!(stock[4], (5, 99));

    let order: Value = app.get_json(&location).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["total_cents"], body["total_cents"]);
    assert_eq!(order["trace_id"], body["trace_id"]);
    assert_eq!(order["items"].as_array().map(Vec::len), Some(2));
    assert!(
        order.get("email").is_none(),
        "the order view must not expose the email"
    );
}

#[tokio::test]
async fn the_catalog_lists_at_least_six_products_with_prices_and_stock() {
    let app = spawn_app_with(|c| c.seed_stock = 7).await;
    let products: Vec<Value> = app.get_json("/api/products").await;
    assert!(products.len() >= 6);
    for product in &products {
        assert!(product["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(product["price_cents"].as_i64().is_some_and(|p| p > 0));
        assert_eq!(product["stock"], 7);
    }
}

#[tokio::test]
async fn every_invalid_body_gives_422_with_a_json_error_and_writes_nothing() {
    let app = spawn_app().await;
    let stock_before = app.stock().await;
    let valid = checkout_body(&[(1, 1)], test_cards::APPROVED);
    let with = |path: &[&str], value: Value| {
        let mut body = valid.clone();
        let mut target = &mut body;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = value;
        body
    };
    let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
        (
            "no items",
            with(&["items"], json!([])),
            "validation_failed",
            Some("items"),
        ),
        (
            "quantity 0",
            with(&["items"], json!([{ "product_id": 1, "quantity": 0 }])),
            "validation_failed",
            Some("items[0].quantity"),
        ),
        (
            "quantity 100",
            with(&["items"], json!([{ "product_id": 1, "quantity": 100 }])),
            "validation_failed",
            Some("items[0].quantity"),
        ),
        (
            "quantity as text",
            with(&["items"], json!([{ "product_id": 1, "quantity": "two" }])),
            "validation_failed",
            Some("items[0].quantity"),
        ),
        (
            "unknown product",
            with(&["items"], json!([{ "product_id": 999, "quantity": 1 }])),
            "unknown_product",
            Some("items[0].product_id"),
        ),
        (
            "luhn failure",
            with(&["card", "number"], json!("4242 4242 4242 4241")),
            "validation_failed",
            Some("card.number"),
        ),
        (
            "card as number",
            with(&["card", "number"], json!(4242424242424242_u64)),
            "validation_failed",
            Some("card.number"),
        ),
        (
            "expired",
            with(&["card", "expiry"], json!("01/21")),
            "validation_failed",
            Some("card.expiry"),
        ),
        (
            "bad expiry",
            with(&["card", "expiry"], json!("2030-12")),
            "validation_failed",
            Some("card.expiry"),
        ),
        (
            "short cvc",
            with(&["card", "cvc"], json!("12")),
            "validation_failed",
            Some("card.cvc"),
        ),
        (
            "bad email",
            with(&["email"], json!("grace.hopper")),
            "validation_failed",
            Some("email"),
        ),
        (
            "no card",
            json!({ "items": [{ "product_id": 1, "quantity": 1 }], "email": EMAIL }),
            "invalid_json",
            None,
        ),
        ("not an object", json!([1, 2, 3]), "invalid_json", None),
    ];
    for (name, body, code, field) in cases {
        let response = app.checkout(&body).await;
        assert_eq!(response.status(), 422, "{name}");
        let error: Value = response.json().await.expect("json error body");
        assert_eq!(error["error"]["code"], code, "{name}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: {error}"
        );
        if let Some(field) = field {
            assert_eq!(error["error"]["field"], field, "{name}: {error}");
        }
    }

    let malformed = app
        .client
        .post(app.url("/api/checkout"))
        .header("content-type", "application/json")
        .body("{\"items\": [")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), 422);
    let error: Value = malformed.json().await.expect("json");
    assert_eq!(error["error"]["code"], "invalid_json");

    let not_json = app
        .client
        .post(app.url("/api/checkout"))
        .body("items=1")
        .send()
        .await
        .expect("sent");
    assert_eq!(not_json.status(), 415);
    assert_eq!(
        not_json.json::<Value>().await.expect("json")["error"]["code"],
        "unsupported_media_type"
    );

    assert_eq!(
        app.order_count().await,
        0,
        "a rejected body must write nothing"
    );
    assert_eq!(app.stock().await, stock_before);
}

#[tokio::test]
async fn asking_for_more_than_the_stock_gives_409_and_takes_nothing() {
    let app = spawn_app_with(|c| c.seed_stock = 3).await;
    let response = app
        .checkout(&checkout_body(&[(2, 1), (1, 4)], test_cards::APPROVED))
        .await;
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "out_of_stock");
    assert_eq!(error["error"]["field"], "items[1].product_id");
    assert!(
        app.stock().await.iter().all(|(_, stock)| *stock == 3),
        "product 2's unit must be given back"
    );
    assert_eq!(app.order_count().await, 0);
}

#[tokio::test]
async fn declined_cards_give_402_and_leave_no_paid_order_and_no_stock_taken() {
    let app = spawn_app().await;
    for (card, code) in [
        (test_cards::DECLINED, "card_declined"),
        (test_cards::INSUFFICIENT_FUNDS, "insufficient_funds"),
    ] {
        let response = app.checkout(&checkout_body(&[(3, 2)], card)).await;
        assert_eq!(response.status(), 402);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], code);
    }
    assert_eq!(app.orders_with_status(OrderStatus::Paid).await, 0);
    assert_eq!(app.orders_with_status(OrderStatus::Pending).await, 0);
    assert_eq!(app.orders_with_status(OrderStatus::Declined).await, 2);
    assert!(app.stock().await.iter().all(|(_, stock)| *stock == 100));
}

#[tokio::test]
async fn a_gateway_failure_gives_502_and_leaves_no_paid_order_and_no_stock_taken() {
    let app = spawn_app().await;
    let response = app
        .checkout(&checkout_body(&[(4, 1)], test_cards::GATEWAY_ERROR))
        .await;
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "payment_gateway_error");
    assert_eq!(app.orders_with_status(OrderStatus::Paid).await, 0);
    assert_eq!(app.orders_with_status(OrderStatus::Failed).await, 1);
    assert!(app.stock().await.iter().all(|(_, stock)| *stock == 100));
}

#[tokio::test]
async fn payment_failure_rate_one_fails_every_charge_as_a_gateway_error() {
    let app = spawn_app_with(|c| c.payment_failure_rate = 1.0).await;
    let response = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::APPROVED))
        .await;
    assert_eq!(response.status(), 502);
    assert_eq!(app.orders_with_status(OrderStatus::Paid).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkouts_for_the_last_unit_sell_it_exactly_once() {
    let app = spawn_app_with(|c| c.seed_stock = 1).await;
    let body = checkout_body(&[(6, 1)], test_cards::APPROVED);
    let statuses: Vec<u16> = join_all((0..12).map(|_| app.checkout(&body)))
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(app.stock().await[5], (6, 0));
    assert_eq!(app.orders_with_status(OrderStatus::Paid).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_idempotency_key_sent_twenty_times_concurrently_makes_one_order_and_one_charge() {
    // A slow gateway keeps the first request in flight while the other nineteen arrive.
    let app = spawn_app_with(|c| c.payment_latency = std::time::Duration::from_millis(100)).await;
    let body = checkout_body(&[(2, 1)], test_cards::APPROVED);
    let send = || app.checkout_with(&[("idempotency-key", "retry-7f3e")], &body);
    let responses = join_all((0..20).map(|_| send())).await;
    let mut order_ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 201);
        order_ids.push(response.json::<Value>().await.expect("json")["order_id"].clone());
    }
    order_ids.dedup();
    assert_eq!(order_ids.len(), 1, "every retry must see the first order");
    assert_eq!(app.order_count().await, 1);
    assert_eq!(app.stock().await[1], (2, 99));
    let charges = app
        .spans()
        .0
        .iter()
        .filter(|s| s.name == "payment.charge")
        .count();
    assert_eq!(charges, 1, "one charge for one key");
}

#[tokio::test]
async fn a_replayed_decline_is_the_first_answer_and_a_changed_body_is_refused() {
    let app = spawn_app().await;
    let key = [("idempotency-key", "k-1")];
    let first = app
        .checkout_with(&key, &checkout_body(&[(1, 1)], test_cards::DECLINED))
        .await;
    assert_eq!(first.status(), 402);
    let first: Value = first.json().await.expect("json");
    let again = app
        .checkout_with(&key, &checkout_body(&[(1, 1)], test_cards::DECLINED))
        .await;
    assert_eq!(again.status(), 402);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.expect("json"), first);

    let changed = app
        .checkout_with(&key, &checkout_body(&[(1, 3)], test_cards::DECLINED))
        .await;
    assert_eq!(changed.status(), 422);
    assert_eq!(
        changed.json::<Value>().await.expect("json")["error"]["code"],
        "idempotency_key_reused"
    );
    assert_eq!(app.order_count().await, 1);

    let bad_key = app
        .checkout_with(
            &[("idempotency-key", "")],
            &checkout_body(&[(1, 1)], test_cards::APPROVED),
        )
        .await;
    assert_eq!(bad_key.status(), 400);
}

#[tokio::test]
async fn unknown_orders_and_routes_give_404_json() {
    let app = spawn_app().await;
    for path in ["/api/orders/does-not-exist", "/api/nothing-here"] {
        let response = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.json::<Value>().await.expect("json")["error"]["code"],
            "not_found"
        );
    }
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_retry_after_a_gateway_failure_replays_the_502_and_charges_nothing_more() {
    let app = spawn_app().await;
    let body = checkout_body(&[(1, 1)], test_cards::GATEWAY_ERROR);
    let send = || app.checkout_with(&[("idempotency-key", "after-502")], &body);
    assert_eq!(send().await.status(), 502);
    let retry = send().await;
    assert_eq!(retry.status(), 502);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(app.order_count().await, 1);
    assert_eq!(
        app.spans()
            .0
            .iter()
            .filter(|s| s.name == "payment.charge")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_client_that_goes_away_mid_payment_leaves_a_settled_order() {
    let app = spawn_app_with(|c| c.payment_latency = std::time::Duration::from_millis(300)).await;
    let cut_off = app
        .client
        .post(app.url("/api/checkout"))
        .timeout(std::time::Duration::from_millis(50))
        .json(&checkout_body(&[(1, 5)], test_cards::DECLINED))
        .send()
        .await;
    assert!(
        cut_off.is_err(),
        "the client gives up before the gateway answers"
    );
    // The checkout carries on without its client; wait (bounded) for it to settle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.orders_with_status(OrderStatus::Declined).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned checkout never settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.orders_with_status(OrderStatus::Pending).await, 0);
    assert_eq!(app.stock().await[0], (1, 100), "its stock was given back");
}

#[tokio::test]
async fn pending_orders_are_recovered_only_once_their_claim_expires() {
    let first = spawn_app().await;
    let url = first.database_url().clone();
    // What crashes between reserving and settling leave behind: an order of an older version
    // (no claim), one of a replica that stopped renewing (expired), one of a live replica.
    let mut db = first.db().await;
    for (id, product, claim) in [
        ("unclaimed", 2, "NULL, NULL"),
        ("expired", 3, "'gone-replica', '2000-01-01T00:00:00.000Z'"),
        ("live", 4, "'live-replica', '2999-01-01T00:00:00.000Z'"),
    ] {
        let claim = if on_postgres() {
            claim.replace(".000Z'", ".000Z'::timestamptz")
        } else {
            claim.to_owned()
        };
        for statement in [
            format!("UPDATE products SET stock = stock - 4 WHERE id = {product}"),
            format!(
                "INSERT INTO orders (id, status, total_cents, email, claimed_by, claimed_until) \
                 VALUES ('{id}', 'pending', 100, 'x@example.com', {claim})"
            ),
            format!(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) \
                 VALUES ('{id}', {product}, 4, 25)"
            ),
        ] {
            sqlx::query(&statement)
                .execute(&mut db)
                .await
                .expect("setup");
        }
    }
    drop(db);

    let restarted = spawn_app_with(|c| c.database_url = url).await;
    let stock = restarted.stock().await;
    assert_eq!(stock[1], (2, 100), "the unclaimed order's stock came back");
    assert_eq!(stock[2], (3, 100), "the expired claim's stock came back");
    assert_eq!(stock[3], (4, 96), "a live replica's order keeps its stock");
    assert_eq!(restarted.orders_with_status(OrderStatus::Failed).await, 2);
    assert_eq!(restarted.orders_with_status(OrderStatus::Pending).await, 1);
}

#[tokio::test]
async fn checkouts_past_the_in_flight_cap_get_503_with_retry_after_and_write_nothing() {
    let app = spawn_app_with(|c| {
        c.max_inflight_checkouts = 2;
        c.payment_latency = std::time::Duration::from_millis(300);
    })
    .await;
    let stock_before = app.stock().await;
    let body = checkout_body(&[(1, 1)], test_cards::APPROVED);
    let responses = join_all((0..5).map(|_| app.checkout(&body))).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 503, 503, 503]);
    for response in responses.into_iter().filter(|r| r.status() == 503) {
        assert_eq!(response.headers()["retry-after"], "1");
        let body: Value = response.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], "overloaded");
    }
    assert_eq!(app.order_count().await, 2, "the refused ones wrote nothing");
    let stock_after = app.stock().await;
    assert_eq!(stock_before[0].1 - stock_after[0].1, 2);
    let again = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::APPROVED))
        .await;
    assert_eq!(again.status(), 201, "permits come back when checkouts end");
}

#[tokio::test]
async fn idempotency_keys_past_their_retention_are_forgotten_and_younger_ones_replay() {
    let app = spawn_app().await;
    let body = checkout_body(&[(1, 1)], test_cards::APPROVED);
    for key in ["old-key", "new-key"] {
        let first = app.checkout_with(&[("idempotency-key", key)], &body).await;
        assert_eq!(first.status(), 201);
    }
    app.age_idempotency_key("old-key", 25).await;
    let pruned = app
        .server_db()
        .await
        .prune_idempotency_keys(std::time::Duration::from_secs(24 * 3600))
        .await
        .expect("pruned");
    assert_eq!(pruned, 1, "only the key older than the retention");

    let orders = app.order_count().await;
    let old = app
        .checkout_with(&[("idempotency-key", "old-key")], &body)
        .await;
    assert_eq!(old.status(), 201);
    assert!(
        old.headers().get("idempotent-replayed").is_none(),
        "a forgotten key is a new checkout"
    );
    assert_eq!(app.order_count().await, orders + 1);
    let young = app
        .checkout_with(&[("idempotency-key", "new-key")], &body)
        .await;
    assert_eq!(young.headers()["idempotent-replayed"], "true");
    assert_eq!(app.order_count().await, orders + 1);
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_past_the_wait_gets_409_in_progress_then_the_answer() {
    // A gateway slower than the 10 s a retry waits for the first request's answer.
    let app = spawn_app_with(|c| c.payment_latency = std::time::Duration::from_secs(11)).await;
    let body = checkout_body(&[(1, 1)], test_cards::APPROVED);
    let key = [("idempotency-key", "slow-7f3e")];
    let (first, retry) = tokio::join!(app.checkout_with(&key, &body), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        (app.checkout_with(&key, &body).await, started.elapsed())
    });
    let (retry, waited) = retry;
    assert_eq!(retry.status(), 409);
    assert_eq!(retry.headers()["retry-after"], "1");
    assert!(waited >= std::time::Duration::from_secs(9), "{waited:?}");
    let error: Value = retry.json().await.expect("a JSON error");
    assert_eq!(error["error"]["code"], "idempotency_key_in_progress");

    assert_eq!(first.status(), 201);
    let placed: Value = first.json().await.expect("json");
    let again = app.checkout_with(&key, &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let replayed: Value = again.json().await.expect("json");
    assert_eq!(replayed["order_id"], placed["order_id"]);
    assert_eq!(app.order_count().await, 1);
}

/// What a holder of `key` that stopped before storing its answer leaves behind: the key without
/// an answer, its lease long expired (and, with `order_pending`, its order still pending too).
async fn abandon_key(app: &TestApp, key: &str, order_pending: bool) {
    let expired = if on_postgres() {
        "'2000-01-01T00:00:00.000Z'::timestamptz"
    } else {
        "'2000-01-01T00:00:00.000Z'"
    };
    let mut db = app.db().await;
    sqlx::query(&format!(
        "UPDATE idempotency_keys SET status_code = NULL, body = NULL, claimed_by = 'gone', \
         claimed_until = {expired} WHERE key = $1"
    ))
    .bind(key)
    .execute(&mut db)
    .await
    .expect("key abandoned");
    if order_pending {
        sqlx::query(&format!(
            "UPDATE orders SET status = 'pending', claimed_by = 'gone', claimed_until = {expired} \
             WHERE id = (SELECT order_id FROM idempotency_keys WHERE key = $1)"
        ))
        .bind(key)
        .execute(&mut db)
        .await
        .expect("order left pending");
    }
}

#[tokio::test]
async fn a_retry_after_its_holder_stopped_once_paid_gets_that_order_and_no_second_charge() {
    let app = spawn_app().await;
    let body = checkout_body(&[(2, 1)], test_cards::APPROVED);
    let key = [("idempotency-key", "stopped-after-paying")];
    let first = app.checkout_with(&key, &body).await;
    assert_eq!(first.status(), 201);
    let placed: Value = first.json().await.expect("json");
    abandon_key(&app, "stopped-after-paying", false).await;
    let stock = app.stock().await;

    let retry = app.checkout_with(&key, &body).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let answered: Value = retry.json().await.expect("json");
    assert_eq!(answered, placed, "the paid order is the answer");
    assert_eq!(app.order_count().await, 1, "no second order");
    assert_eq!(app.stock().await, stock, "no stock taken again");
    let again = app.checkout_with(&key, &body).await;
    assert_eq!(
        again.json::<Value>().await.expect("json"),
        placed,
        "and stored"
    );
}

#[tokio::test]
async fn a_retry_after_its_holder_stopped_mid_payment_fails_that_order_and_places_a_new_one() {
    let app = spawn_app().await;
    let body = checkout_body(&[(2, 1)], test_cards::APPROVED);
    let key = [("idempotency-key", "stopped-mid-payment")];
    let first = app.checkout_with(&key, &body).await;
    assert_eq!(first.status(), 201);
    let placed: Value = first.json().await.expect("json");
    abandon_key(&app, "stopped-mid-payment", true).await;

    let retry = app.checkout_with(&key, &body).await;
    assert_eq!(retry.status(), 201);
    assert!(retry.headers().get("idempotent-replayed").is_none());
    let answered: Value = retry.json().await.expect("json");
    assert_ne!(answered["order_id"], placed["order_id"], "a new order");
    assert_eq!(
        app.orders_with_status(OrderStatus::Failed).await,
        1,
        "the stopped one"
    );
    assert_eq!(app.orders_with_status(OrderStatus::Paid).await, 1);
    assert_eq!(
        app.stock().await[1],
        (2, 99),
        "the failed order's unit came back"
    );
}
