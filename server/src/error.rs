//! `AppError`: every way a request can fail, and the JSON body each one answers with.
//!
//! Client errors say what is wrong and which field; server errors stay opaque to the client and are
//! logged with the trace id so that the log line and the trace find each other.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use checkout_api::{ErrorBody, ErrorCode, ErrorDetail};
use opentelemetry::trace::TraceContextExt;

use crate::domain::Invalid;

/// How long a client should wait after [`AppError::Overloaded`]: a checkout takes well under it.
const RETRY_AFTER_SECONDS: &str = "1";

/// An error that becomes a `{ "error": { "code", "message", "field"? } }` response.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A field of the body is malformed or out of range (422).
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(Invalid),
    /// The body is not JSON of the expected shape (422).
    #[error("{0}")]
    InvalidJson(String),
    /// The body is larger than the server accepts (413).
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The route exists but not for this method (405).
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// The body is not declared as JSON (415).
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// The checkout names a product that is not in the catalog (422).
    #[error("product {product_id} does not exist")]
    UnknownProduct {
        /// The JSON path of the line item.
        field: String,
        /// The id that was not found.
        product_id: i64,
    },
    /// Not enough stock for a line item (409).
    #[error("not enough stock for product {product_id}")]
    OutOfStock {
        /// The JSON path of the line item.
        field: String,
        /// The product that ran out.
        product_id: i64,
    },
    /// The card was declined by the gateway (402); `code` tells why.
    #[error("{message}")]
    PaymentDeclined {
        /// [`ErrorCode::CardDeclined`] or [`ErrorCode::InsufficientFunds`].
        code: ErrorCode,
        /// A message for the customer.
        message: &'static str,
    },
    /// The payment gateway failed (502); nothing was charged and no stock was taken.
    #[error("the payment provider is unavailable; nothing was charged, please try again")]
    PaymentGateway,
    /// The `Idempotency-Key` was used before with a different body (422).
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// The `Idempotency-Key` header is not a short printable token (400).
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    IdempotencyKeyInvalid,
    /// No such resource (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Too many checkouts in progress (503, with `Retry-After`); nothing was done.
    #[error("the shop is busy; nothing was charged, please try again in a moment")]
    Overloaded,
    /// The first request with this `Idempotency-Key` is still running (409, with `Retry-After`).
    #[error("a request with this Idempotency-Key is still in progress; retry to get its answer")]
    IdempotencyKeyInProgress,
    /// The order's claim expired while its payment ran and another replica failed it (500).
    #[error("order {0} was recovered by another replica before it was settled")]
    ClaimLost(String),
    /// Anything else: a bug or a database failure (500). The detail is logged, never sent.
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<tokio::task::JoinError> for AppError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::Internal(InternalError::Task(error))
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(InternalError::Database(error))
    }
}

impl AppError {
    /// The HTTP status for this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_)
            | Self::InvalidJson(_)
            | Self::UnknownProduct { .. }
            | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::IdempotencyKeyInvalid => StatusCode::BAD_REQUEST,
            Self::OutOfStock { .. } | Self::IdempotencyKeyInProgress => StatusCode::CONFLICT,
            Self::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::PaymentGateway => StatusCode::BAD_GATEWAY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::ClaimLost(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code in the body.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::InvalidJson(_) => ErrorCode::InvalidJson,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::UnknownProduct { .. } => ErrorCode::UnknownProduct,
            Self::OutOfStock { .. } => ErrorCode::OutOfStock,
            Self::PaymentDeclined { code, .. } => *code,
            Self::PaymentGateway => ErrorCode::PaymentGatewayError,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInvalid => ErrorCode::IdempotencyKeyInvalid,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Overloaded => ErrorCode::Overloaded,
            Self::IdempotencyKeyInProgress => ErrorCode::IdempotencyKeyInProgress,
            Self::Internal(_) | Self::ClaimLost(_) => ErrorCode::InternalError,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid(invalid) => Some(&invalid.field),
            Self::UnknownProduct { field, .. } | Self::OutOfStock { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The JSON body sent to the client.
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            Self::Internal(_) | Self::ClaimLost(_) => "internal server error".to_owned(),
            other => other.to_string(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                field: self.field().map(str::to_owned),
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Internal(_) | Self::ClaimLost(_) = &self {
            let trace_id = opentelemetry::Context::current()
                .span()
                .span_context()
                .trace_id();
            tracing::error!(%trace_id, error = %self, "request failed");
        }
        let mut response = (self.status_code(), Json(self.body())).into_response();
        if matches!(self, Self::Overloaded | Self::IdempotencyKeyInProgress) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<Invalid> for AppError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(invalid)
    }
}

/// A failure the client cannot fix; its text is logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// The database refused or failed a statement.
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    /// The task running a checkout panicked or was cancelled.
    #[error("checkout task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// An answer to store under an idempotency key could not be written as JSON.
    #[error("idempotent answer: {0}")]
    Answer(#[source] serde_json::Error),
}
