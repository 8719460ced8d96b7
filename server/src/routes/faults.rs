//! `GET`/`PUT /api/faults`: the faults in force, and changing them at run time. Routed only with
//! `FAULTS_ENDPOINT=1` (see [`crate::faults`]).

use axum::{Json, extract::State};

use super::AppState;
use crate::{
    error::AppError,
    extract::JsonObject,
    faults::{FaultSettings, FaultsUpdate},
};

/// The faults in force.
pub async fn show(State(state): State<AppState>) -> Json<FaultSettings> {
    Json(state.faults.settings())
}

/// Changes the faults named in the body; answers with all of them.
pub async fn update(
    State(state): State<AppState>,
    JsonObject(update): JsonObject<FaultsUpdate>,
) -> Result<Json<FaultSettings>, AppError> {
    Ok(Json(state.faults.update(update)?))
}
