//! `POST /api/checkout`: validate, reserve stock and record the order, charge, settle.
//!
//! The order of the steps is what keeps money and stock consistent:
//! 1. every field is validated before anything is written (422 writes nothing);
//! 2. one transaction takes the stock (never below zero) and records a *pending* order (409 when
//!    stock runs out, rolled back whole);
//! 3. the card is charged outside any transaction, so a slow gateway never holds the write lock;
//! 4. the order is settled: *paid*, or *declined*/*failed* with its stock given back in the same
//!    transaction. A rejected or failed checkout leaves no paid order and no stock taken.

use std::{sync::Arc, time::Instant};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use checkout_api::{ErrorCode, OrderPlaced, OrderStatus, Product};
use opentelemetry::{KeyValue, Value, context::FutureExt as _, trace::SpanKind};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use super::AppState;
use crate::{
    db::{ReserveError, Settlement, StoredResponse},
    domain::{Checkout, CheckoutRequest, LineItem, YearMonth},
    error::AppError,
    extract::JsonObject,
    idempotency::{self, Turn},
    payment::PaymentError,
    telemetry::{
        self,
        timing::{self, Part},
    },
};

/// The 201 answer: the order's body with its `Location`.
struct Created(OrderPlaced);

impl IntoResponse for Created {
    fn into_response(self) -> Response {
        let location = format!("/api/orders/{}", self.0.order_id);
        (
            StatusCode::CREATED,
            [(header::LOCATION, location)],
            Json(self.0),
        )
            .into_response()
    }
}

/// Places an order; with an `Idempotency-Key`, a retry replays the first answer instead.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonObject(request): JsonObject<CheckoutRequest>,
) -> Result<Response, AppError> {
    let checkout = Checkout::parse(request, YearMonth::now())?;
    let key = idempotency_key(&headers)?.map(str::to_owned);
    // The permit goes with the task, so detached checkouts count until they end: they cannot pile
    // up behind a slow gateway past the request timeout.
    let permit = Arc::clone(&state.checkouts)
        .try_acquire_owned()
        .map_err(|_| AppError::Overloaded)?;
    // A checkout runs to its end even when the client goes away or the request times out: cut off
    // between reserving stock and settling, it would leave a pending order holding stock.
    tokio::spawn(
        async move {
            let _permit = permit;
            checkout_once(state, key, checkout).await
        }
        .with_current_context()
        .in_current_span(),
    )
    .await?
}

/// Places the order, or with an idempotency key replays the answer the key already has.
async fn checkout_once(
    state: AppState,
    key: Option<String>,
    checkout: Checkout,
) -> Result<Response, AppError> {
    let Some(key) = key else {
        return Ok(place_order(&state, &checkout, None)
            .await
            .map(Created)
            .into_response());
    };
    let fingerprint = fingerprint(&checkout);
    let earlier_order = match idempotency::claim(&state.db, &key, &fingerprint).await? {
        Turn::Replay(stored) => return Ok(replay(stored)),
        Turn::Run { earlier_order } => earlier_order,
    };
    // A holder that stopped after its charge went through left a paid order: that is the key's
    // answer, rather than a second charge.
    if let Some(order_id) = earlier_order
        && let Some(placed) = paid_order(&state, &order_id).await?
    {
        let body = serde_json::to_string(&placed).unwrap_or_default();
        state
            .db
            .answer_key(&key, StatusCode::CREATED.as_u16(), &body)
            .await?;
        return Ok(replay(StoredResponse {
            fingerprint,
            status_code: StatusCode::CREATED.as_u16(),
            body,
        }));
    }
    let result = place_order(&state, &checkout, Some(&key)).await;
    let (status, body) = match &result {
        Ok(placed) => (StatusCode::CREATED, serde_json::to_string(placed)),
        Err(error) => (error.status_code(), serde_json::to_string(&error.body())),
    };
    // Serialising these types cannot fail (string keys, no maps); if it ever did, the answer is
    // not stored and a retry runs again, as after an internal error.
    let body = body.unwrap_or_default();
    // Every settled answer is the key's answer, a 502 included (its order is recorded as failed).
    // Only an internal error, after which the state is unknown, leaves the key free to retry.
    if status != StatusCode::INTERNAL_SERVER_ERROR && !body.is_empty() {
        state.db.answer_key(&key, status.as_u16(), &body).await?;
    } else {
        state.db.release_key(&key).await?;
    }
    Ok(result.map(Created).into_response())
}

/// The order `order_id` as its 201 answer, if it was paid. Its replica stopped, so that replica's
/// expired orders are recovered first: a pending one is failed (stock returned), not left pending.
async fn paid_order(state: &AppState, order_id: &str) -> Result<Option<OrderPlaced>, AppError> {
    state.db.recover_expired_orders().await?;
    Ok(state
        .db
        .order(order_id)
        .await?
        .filter(|order| order.status == "paid")
        .map(|order| OrderPlaced {
            order_id: order.order_id,
            total_cents: order.total_cents,
            status: OrderStatus::Paid,
            trace_id: order.trace_id.unwrap_or_default(),
        }))
}

/// Checks out: looks the products up, reserves them in a pending order (named on the idempotency
/// `key` this request holds), charges, settles.
async fn place_order(
    state: &AppState,
    checkout: &Checkout,
    key: Option<&str>,
) -> Result<OrderPlaced, AppError> {
    let products = lookup_products(state, checkout).await?;
    let mut total_cents = 0_i64;
    for item in &checkout.items {
        let product = products
            .iter()
            .find(|p| p.id == item.product_id)
            .ok_or_else(|| AppError::UnknownProduct {
                field: item.field(),
                product_id: item.product_id,
            })?;
        total_cents += product.price_cents * item.quantity;
    }

    let order_id = uuid::Uuid::new_v4().to_string();
    let trace_id = telemetry::current_trace_id();
    state
        .db
        .reserve_order(
            &order_id,
            &checkout.items,
            total_cents,
            checkout.email.as_str(),
            &trace_id,
            key,
        )
        .await
        .map_err(|error| match error {
            ReserveError::OutOfStock(product_id) => AppError::OutOfStock {
                field: field_of(&checkout.items, product_id),
                product_id,
            },
            ReserveError::Database(error) => error.into(),
        })?;

    match state.payments.charge(&checkout.card, total_cents).await {
        Ok(charge) => {
            settle(
                state,
                &order_id,
                checkout,
                Settlement::Paid,
                Some(&charge.id),
            )
            .await?;
            Ok(OrderPlaced {
                order_id,
                total_cents,
                status: OrderStatus::Paid,
                trace_id,
            })
        }
        Err(declined) => {
            let settlement = if declined == PaymentError::Gateway {
                Settlement::Failed
            } else {
                Settlement::Declined
            };
            settle(state, &order_id, checkout, settlement, None).await?;
            tracing::info!(outcome = declined.error_type(), "payment not completed");
            Err(match declined {
                PaymentError::Declined => AppError::PaymentDeclined {
                    code: ErrorCode::CardDeclined,
                    message: "Your card was declined. Try another card.",
                },
                PaymentError::InsufficientFunds => AppError::PaymentDeclined {
                    code: ErrorCode::InsufficientFunds,
                    message: "Your card was declined for insufficient funds.",
                },
                PaymentError::Gateway => AppError::PaymentGateway,
            })
        }
    }
}

/// Settles the order this replica reserved; an error if its claim was lost meanwhile.
async fn settle(
    state: &AppState,
    order_id: &str,
    checkout: &Checkout,
    settlement: Settlement,
    payment_ref: Option<&str>,
) -> Result<(), AppError> {
    let settled = state
        .db
        .settle_order(order_id, &checkout.items, settlement, payment_ref)
        .await?;
    if settled {
        Ok(())
    } else {
        Err(AppError::ClaimLost(order_id.to_owned()))
    }
}

/// Looks the products of the checkout up in a `product.lookup` span.
async fn lookup_products(state: &AppState, checkout: &Checkout) -> Result<Vec<Product>, AppError> {
    let ids = checkout.product_ids();
    let lookup = async {
        let started = Instant::now();
        let result = state.db.products_by_ids(&ids).await;
        timing::record(Part::ProductLookup, started.elapsed());
        result
    };
    let found = telemetry::in_span(
        &state.tracer,
        "product.lookup",
        SpanKind::Internal,
        vec![
            KeyValue::new("product.ids", Value::Array(ids.clone().into())),
            KeyValue::new(
                "product.count",
                i64::try_from(ids.len()).unwrap_or(i64::MAX),
            ),
        ],
        lookup,
        |span, result| {
            if let Ok(found) = result {
                span.set_attribute(KeyValue::new(
                    "product.found",
                    i64::try_from(found.len()).unwrap_or(i64::MAX),
                ));
            }
        },
    )
    .await?;
    Ok(found)
}

fn field_of(items: &[LineItem], product_id: i64) -> String {
    items
        .iter()
        .find(|item| item.product_id == product_id)
        .map_or_else(|| "items".to_owned(), LineItem::field)
}

/// The `Idempotency-Key` header, if present and well-formed.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if idempotency::is_valid_key(key) => Ok(Some(key)),
        _ => Err(AppError::IdempotencyKeyInvalid),
    }
}

/// What identifies "the same request" for a key: the lines, the card's last four and the email.
/// Only this digest is stored, never the card number.
fn fingerprint(checkout: &Checkout) -> String {
    let mut hasher = Sha256::new();
    for item in &checkout.items {
        hasher.update(format!("{}x{};", item.product_id, item.quantity));
    }
    hasher.update(checkout.card.last4());
    hasher.update(checkout.email.as_str());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn replay(stored: StoredResponse) -> Response {
    let status =
        StatusCode::from_u16(stored.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        stored.body,
    )
        .into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
