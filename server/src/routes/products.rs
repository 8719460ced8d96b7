//! `GET /api/products`: the catalog.

use axum::{Json, extract::State};
use checkout_api::Product;

use super::AppState;
use crate::error::AppError;

/// The whole catalog, with prices in cents and the stock left.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Product>>, AppError> {
    Ok(Json(state.db.products().await?))
}
