//! `GET /health`: liveness and store reachability.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await;
    let store_ok = matches!(ping, Ok(Ok(())));
    let status = if store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if store_ok { "ok" } else { "degraded" },
        "store": if store_ok { "ok" } else { "unreachable" },
        "version": env!("CARGO_PKG_VERSION"),
        "models": state.catalog.iter().count(),
    });
    (status, Json(body))
}
