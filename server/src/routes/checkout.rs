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
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use checkout_api::{ErrorCode, OrderPlaced, OrderStatus, Product, semconv};
use opentelemetry::{KeyValue, Value, context::FutureExt as _, trace::SpanKind};
use tracing::Instrument as _;

use super::AppState;
use crate::{
    db::ReserveError,
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
    let key = idempotency::key(&headers)?;
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
    let fingerprint = idempotency::fingerprint(&checkout);
    let guard = match idempotency::begin(&state.db, key, fingerprint).await? {
        Turn::Replay(replay) => return Ok(replay.into_response()),
        Turn::Run(guard) => guard,
    };
    // A holder that stopped after its charge went through left a paid order: that is the key's
    // answer, rather than a second charge.
    if let Some(order_id) = guard.earlier_order()
        && let Some(placed) = paid_order(&state, order_id).await?
    {
        let replay = guard.answer(StatusCode::CREATED, &placed).await?;
        return Ok(replay.into_response());
    }
    let result = place_order(&state, &checkout, Some(guard.key())).await;
    guard.finish(StatusCode::CREATED, &result).await?;
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
        .filter(|order| order.status == OrderStatus::Paid)
        .map(|order| OrderPlaced {
            order_id: order.order_id,
            total_cents: order.total_cents,
            status: order.status,
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
                OrderStatus::Paid,
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
            let status = if declined == PaymentError::Gateway {
                OrderStatus::Failed
            } else {
                OrderStatus::Declined
            };
            settle(state, &order_id, checkout, status, None).await?;
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
    status: OrderStatus,
    payment_ref: Option<&str>,
) -> Result<(), AppError> {
    let settled = state
        .db
        .settle_order(order_id, &checkout.items, status, payment_ref)
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
        semconv::SPAN_PRODUCT_LOOKUP,
        SpanKind::Internal,
        vec![
            KeyValue::new(semconv::PRODUCT_IDS, Value::Array(ids.clone().into())),
            KeyValue::new(
                semconv::PRODUCT_COUNT,
                i64::try_from(ids.len()).unwrap_or(i64::MAX),
            ),
        ],
        lookup,
        |span, result| {
            if let Ok(found) = result {
                span.set_attribute(KeyValue::new(
                    semconv::PRODUCT_FOUND,
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
