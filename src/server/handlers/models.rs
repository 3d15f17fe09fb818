//! `GET /v1/models` and `GET /v1/models/{id}`: OpenAI `list` / `model` objects.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::auth::keys::Scope;
use crate::error::ApiError;
use crate::server::extract::AuthedKey;
use crate::state::AppState;
use crate::upstream::Model;

fn model_object(model: &Model, created: i64) -> Value {
    json!({"id": model.id, "object": "model", "created": created, "owned_by": model.provider_name})
}

pub async fn list(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
) -> Result<Json<Value>, ApiError> {
    if !key.allows(Scope::Models) {
        return Err(ApiError::EndpointNotAllowed("/v1/models"));
    }
    let created = state.catalog.created;
    let data: Vec<Value> = state.catalog.iter().map(|m| model_object(m, created)).collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

pub async fn retrieve(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !key.allows(Scope::Models) {
        return Err(ApiError::EndpointNotAllowed("/v1/models"));
    }
    let model = state.catalog.get(&id).ok_or(ApiError::ModelNotFound(id))?;
    Ok(Json(model_object(model, state.catalog.created)))
}
