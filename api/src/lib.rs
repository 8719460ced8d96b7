//! The JSON contract between the checkout page and the server, in one place so the two cannot
//! drift: the server serialises and deserialises these types, and the page builds and reads them.
//!
//! Serde types only: no server or browser dependency, so the page pays for nothing else.
//!
//! - `GET /api/products` answers `Vec<`[`Product`]`>`.
//! - `POST /api/checkout` takes a [`CheckoutRequest`] and answers 201 with [`OrderPlaced`], or
//!   with an [`ErrorBody`] (as every error of every route does).
//! - `GET /api/orders/{id}` answers an [`Order`].

use serde::{Deserialize, Serialize};

/// The most of one product a single checkout may buy (across all its lines).
pub const MAX_QUANTITY: i64 = 99;
/// The most line items a single checkout may carry.
pub const MAX_LINE_ITEMS: usize = 50;

/// The simulated payment gateway's test cards, as a customer types them. This is their one
/// definition: the server's simulated gateway answers each as its name says (any other valid card
/// is approved), the page's buttons fill in the first two, and every test pays with them.
pub mod test_cards {
    /// Approved.
    pub const APPROVED: &str = "4242 4242 4242 4242";
    /// Declined by the issuer.
    pub const DECLINED: &str = "4000 0000 0000 0002";
    /// Declined for insufficient funds.
    pub const INSUFFICIENT_FUNDS: &str = "4000 0000 0000 9995";
    /// The gateway fails; nothing is charged.
    pub const GATEWAY_ERROR: &str = "4000 0000 0000 0119";
    /// Every test card.
    pub const ALL: [&str; 4] = [APPROVED, DECLINED, INSUFFICIENT_FUNDS, GATEWAY_ERROR];
}

/// The names of the trace's own attributes and spans, which page and server both record: their
/// one place in code, beside the `opentelemetry-semantic-conventions` constants for OpenTelemetry's
/// names. Each is defined in the project's semantic-convention registry (`semconv/model/`), with its
/// type, meaning and examples; the constants are written by hand (Weaver, which could generate them,
/// is not installable from the registries the build machines reach) and a test holds them to the
/// registry (`test-support/src/schema.rs`).
pub mod semconv {
    /// `int`: how many items the cart holds.
    pub const CHECKOUT_ITEM_COUNT: &str = "checkout.item_count";
    /// `int`: the cart's total in cents.
    pub const CHECKOUT_TOTAL_CENTS: &str = "checkout.total_cents";
    /// `string`: the id of the order placed.
    pub const CHECKOUT_ORDER_ID: &str = "checkout.order_id";
    /// `int[]`: the ids of the products asked for.
    pub const PRODUCT_IDS: &str = "product.ids";
    /// `int`: how many products the operation concerns.
    pub const PRODUCT_COUNT: &str = "product.count";
    /// `int`: how many of the products asked for exist.
    pub const PRODUCT_FOUND: &str = "product.found";
    /// enum: the card's brand (`visa` …).
    pub const PAYMENT_CARD_BRAND: &str = "payment.card.brand";
    /// `string`: the card number's last four digits, and nothing more of it.
    pub const PAYMENT_CARD_LAST4: &str = "payment.card.last4";
    /// `int`: the amount charged, in cents.
    pub const PAYMENT_AMOUNT_CENTS: &str = "payment.amount_cents";
    /// `string`: the ISO 4217 currency.
    pub const PAYMENT_CURRENCY: &str = "payment.currency";
    /// enum: how the gateway answered (`approved` …).
    pub const PAYMENT_OUTCOME: &str = "payment.outcome";
    /// `string`: the gateway's id of an approved charge.
    pub const PAYMENT_CHARGE_ID: &str = "payment.charge_id";

    /// Every attribute above, with its registry type (`enum` for a set of members).
    pub const ATTRIBUTES: [(&str, &str); 12] = [
        (CHECKOUT_ITEM_COUNT, "int"),
        (CHECKOUT_TOTAL_CENTS, "int"),
        (CHECKOUT_ORDER_ID, "string"),
        (PRODUCT_IDS, "int[]"),
        (PRODUCT_COUNT, "int"),
        (PRODUCT_FOUND, "int"),
        (PAYMENT_CARD_BRAND, "enum"),
        (PAYMENT_CARD_LAST4, "string"),
        (PAYMENT_AMOUNT_CENTS, "int"),
        (PAYMENT_CURRENCY, "string"),
        (PAYMENT_OUTCOME, "enum"),
        (PAYMENT_CHARGE_ID, "string"),
    ];

    /// The page's checkout, from the click to the answer.
    pub const SPAN_CHECKOUT: &str = "checkout";
    /// The page's load of the catalog.
    pub const SPAN_CATALOG_LOAD: &str = "catalog.load";
    /// The server's read of the checkout's products.
    pub const SPAN_PRODUCT_LOOKUP: &str = "product.lookup";
    /// The server's charge of the card.
    pub const SPAN_PAYMENT_CHARGE: &str = "payment.charge";
    /// The server's start-up against its database.
    pub const SPAN_DB_MIGRATE: &str = "db.migrate";

    /// Every span name above.
    pub const SPANS: [&str; 5] = [
        SPAN_CHECKOUT,
        SPAN_CATALOG_LOAD,
        SPAN_PRODUCT_LOOKUP,
        SPAN_PAYMENT_CHARGE,
        SPAN_DB_MIGRATE,
    ];
}

/// A product of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// The catalog id.
    pub id: i64,
    /// What it is called.
    pub name: String,
    /// One line about it.
    pub description: String,
    /// The price in cents.
    pub price_cents: i64,
    /// How many are left.
    pub stock: i64,
}

/// The body of `POST /api/checkout`, as sent (the server validates every field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutRequest {
    /// What to buy.
    pub items: Vec<LineItemRequest>,
    /// How to pay.
    pub card: CardRequest,
    /// Where to send the receipt.
    pub email: String,
}

/// One `{ "product_id", "quantity" }` of a checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItemRequest {
    /// The catalog id.
    pub product_id: i64,
    /// How many, `1..=MAX_QUANTITY`.
    pub quantity: i64,
}

/// The card fields of a checkout, as typed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRequest {
    /// The card number; spaces and dashes allowed.
    pub number: String,
    /// `MM/YY`.
    pub expiry: String,
    /// 3–4 digits.
    pub cvc: String,
}

/// Card data never reaches a log line, not even through `{:?}`.
impl std::fmt::Debug for CardRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardRequest { .. }")
    }
}

/// The 201 answer to a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The new order's id.
    pub order_id: String,
    /// What was charged, in cents.
    pub total_cents: i64,
    /// Always [`OrderStatus::Paid`] in a 201.
    pub status: OrderStatus,
    /// The trace this checkout belongs to.
    pub trace_id: String,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock taken, payment not settled yet.
    Pending,
    /// Charged.
    Paid,
    /// The card was declined; the stock was given back.
    Declined,
    /// The gateway failed; nothing was charged and the stock was given back.
    Failed,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 4] = [Self::Pending, Self::Paid, Self::Declined, Self::Failed];

    /// The status named `name` (as [`as_str`](Self::as_str) writes it), if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// The status as stored and sent: `pending`, `paid`, `declined` or `failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::Declined => "declined",
            Self::Failed => "failed",
        }
    }
}

/// An order as `GET /api/orders/{id}` answers it (the email stays in the database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order id (a UUID).
    pub order_id: String,
    /// Where it stands.
    pub status: OrderStatus,
    /// The sum of its lines, in cents.
    pub total_cents: i64,
    /// The trace of the checkout that placed it.
    pub trace_id: Option<String>,
    /// When it was placed (UTC, RFC 3339).
    pub created_at: String,
    /// Its lines, by product id.
    pub items: Vec<OrderLine>,
}

/// One line of an [`Order`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The product bought.
    pub product_id: i64,
    /// The product's name.
    pub name: String,
    /// The units bought.
    pub quantity: i64,
    /// The price paid for each unit, in cents.
    pub unit_price_cents: i64,
}

/// Every error answer: `{ "error": { "code", "message", "field"? } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable and machine-readable.
    pub code: ErrorCode,
    /// For people: what is wrong, and what to do about it when the client can.
    pub message: String,
    /// The JSON path of the offending field (`items[0].quantity`), when one field is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The machine-readable reason of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A field is malformed or out of range (422).
    ValidationFailed,
    /// The body is not JSON of the expected shape (422).
    InvalidJson,
    /// The body is not declared as JSON (415).
    UnsupportedMediaType,
    /// The body is too large (413).
    PayloadTooLarge,
    /// The route exists, not for this method (405).
    MethodNotAllowed,
    /// The checkout names a product not in the catalog (422).
    UnknownProduct,
    /// Not enough stock (409).
    OutOfStock,
    /// The card was declined (402).
    CardDeclined,
    /// The card was declined for insufficient funds (402).
    InsufficientFunds,
    /// The payment gateway failed; nothing was charged (502).
    PaymentGatewayError,
    /// The `Idempotency-Key` was used before with another body (422).
    IdempotencyKeyReused,
    /// The `Idempotency-Key` header is malformed (400).
    IdempotencyKeyInvalid,
    /// No such resource (404).
    NotFound,
    /// A server failure (500); the detail is logged, never sent.
    InternalError,
    /// Too many checkouts are in progress (503); retry after the `Retry-After` seconds.
    Overloaded,
    /// A request with this `Idempotency-Key` is still being processed (409); retry after the
    /// `Retry-After` seconds to get its answer.
    IdempotencyKeyInProgress,
    /// Too many requests from this client address (429), answered by the public edge (nginx,
    /// `web/nginx.conf`) before the server sees them; retry after the `Retry-After` seconds.
    RateLimited,
    /// A code this version does not know (a newer server's); only ever read, never sent.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code the server or its edge sends (all but [`ErrorCode::Unknown`]).
    pub const SENT: [ErrorCode; 17] = [
        Self::ValidationFailed,
        Self::InvalidJson,
        Self::UnsupportedMediaType,
        Self::PayloadTooLarge,
        Self::MethodNotAllowed,
        Self::UnknownProduct,
        Self::OutOfStock,
        Self::CardDeclined,
        Self::InsufficientFunds,
        Self::PaymentGatewayError,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInvalid,
        Self::NotFound,
        Self::InternalError,
        Self::Overloaded,
        Self::IdempotencyKeyInProgress,
        Self::RateLimited,
    ];

    /// The code as sent (`out_of_stock`; serde writes the same, which a test checks).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::InvalidJson => "invalid_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnknownProduct => "unknown_product",
            Self::OutOfStock => "out_of_stock",
            Self::CardDeclined => "card_declined",
            Self::InsufficientFunds => "insufficient_funds",
            Self::PaymentGatewayError => "payment_gateway_error",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInvalid => "idempotency_key_invalid",
            Self::NotFound => "not_found",
            Self::InternalError => "internal_error",
            Self::Overloaded => "overloaded",
            Self::IdempotencyKeyInProgress => "idempotency_key_in_progress",
            Self::RateLimited => "rate_limited",
            Self::Unknown => "unknown",
        }
    }

    /// The code named `name`; [`ErrorCode::Unknown`] for a name this version does not know, as
    /// serde reads it.
    pub fn parse(name: &str) -> Self {
        Self::SENT
            .into_iter()
            .find(|code| code.as_str() == name)
            .unwrap_or(Self::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_error_body_reads_and_writes_the_documented_shape() {
        let wire =
            json!({ "error": { "code": "out_of_stock", "message": "m", "field": "items[0]" } });
        let body: ErrorBody = serde_json::from_value(wire.clone()).expect("reads");
        assert_eq!(body.error.code, ErrorCode::OutOfStock);
        assert_eq!(body.error.field.as_deref(), Some("items[0]"));
        assert_eq!(serde_json::to_value(&body).expect("writes"), wire);

        let no_field = json!({ "error": { "code": "card_declined", "message": "m" } });
        let body: ErrorBody = serde_json::from_value(no_field.clone()).expect("reads");
        assert_eq!(body.error.field, None);
        assert_eq!(serde_json::to_value(&body).expect("writes"), no_field);
    }

    /// The page reads bodies without serde (web/src/json.rs), by these names: they must be
    /// serde's.
    #[test]
    fn the_hand_written_names_are_serdes() {
        for code in ErrorCode::SENT {
            assert_eq!(serde_json::to_value(code).expect("writes"), code.as_str());
            assert_eq!(ErrorCode::parse(code.as_str()), code);
        }
        assert_eq!(ErrorCode::parse("from_the_future"), ErrorCode::Unknown);
        for status in OrderStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).expect("writes"),
                status.as_str()
            );
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("lost"), None);
    }

    #[test]
    fn an_unknown_error_code_is_still_read() {
        let body: ErrorBody = serde_json::from_value(
            json!({ "error": { "code": "from_the_future", "message": "m" } }),
        )
        .expect("reads");
        assert_eq!(body.error.code, ErrorCode::Unknown);
    }

    #[test]
    fn an_order_status_is_sent_as_its_lowercase_name() {
        for status in [
            OrderStatus::Pending,
            OrderStatus::Paid,
            OrderStatus::Declined,
            OrderStatus::Failed,
        ] {
            assert_eq!(
                serde_json::to_value(status).expect("writes"),
                json!(status.as_str())
            );
        }
    }

    #[test]
    fn card_details_never_show_in_debug_output() {
        let card = CardRequest {
            number: "4242424242424242".into(),
            expiry: "12/34".into(),
            cvc: "123".into(),
        };
        let shown = format!("{card:?}");
        assert!(!shown.contains("4242") && !shown.contains("123"), "{shown}");
    }
}
