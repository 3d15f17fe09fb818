//! Middleware of the layer stack (the order is documented in `server/mod.rs`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::extract::{AuthedKey, RequestId};
use crate::auth::presented_key;
use crate::error::ApiError;
use crate::ids;
use crate::limits::{KeyLimits, LimitStatus, write_headers};
use crate::state::AppState;

/// Adds [`RequestId`] to the extensions and `X-Request-Id` to the response,
/// and logs one line per request (method, route, status, time; no bodies).
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| ids::is_acceptable_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(ids::request_id);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    response
}

/// Requires a valid, active API key and adds [`AuthedKey`] to the extensions.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let secret = presented_key(req.headers()).ok_or(ApiError::MissingApiKey)?;
    let key = state.keys.authenticate(secret).await?;
    req.extensions_mut().insert(AuthedKey(key));
    Ok(next.run(req).await)
}

/// Adds the rate-limit headers of DESIGN §7 to every authenticated `/v1`
/// response: the state after admission when the handler recorded it, the
/// current state otherwise (errors, free routes).
pub async fn rate_limit_headers(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let key = req.extensions().get::<AuthedKey>().cloned();
    let mut response = next.run(req).await;
    let Some(AuthedKey(key)) = key else {
        return response;
    };
    let status = match response.extensions().get::<LimitStatus>() {
        Some(status) => *status,
        None => {
            let limits = KeyLimits::resolve(&key, &state.config.plans);
            state.limiter.peek(&limits, state.clock.now_ms()).await
        }
    };
    write_headers(response.headers_mut(), &status);
    response
}
