//! `GET /api/orders/{id}`: an order and its lines.

use axum::{
    Json,
    extract::{Path, State},
};
use checkout_api::Order;

use super::AppState;
use crate::error::AppError;

/// The order, or 404.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Order>, AppError> {
    state
        .db
        .order(&id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("order"))
}
