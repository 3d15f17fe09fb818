//! CORS (DESIGN §2): `/v1/*` may be called from any origin, without
//! credentials; `/api/v1/*` only from `server.cors_origins`. Preflight
//! requests are answered here, before authentication.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const EXPOSED: &str = "x-request-id, x-veil-cost-usd, x-veil-overhead-ms, retry-after, retry-after-ms, \
     x-ratelimit-limit-rpm, x-ratelimit-remaining-rpm, x-ratelimit-reset-rpm, x-ratelimit-limit-tpm, \
     x-ratelimit-remaining-tpm, x-ratelimit-reset-tpm, x-ratelimit-limit-requests, \
     x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, \
     x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens";
const DEFAULT_ALLOWED_HEADERS: &str = "authorization, content-type, x-api-key, x-request-id, \
     x-wallet-address, x-wallet-message, x-wallet-signature";

pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    let allow_origin = if path == "/v1" || path.starts_with("/v1/") {
        Some(HeaderValue::from_static("*"))
    } else if path.starts_with("/api/v1/") {
        let listed =
            origin.to_str().is_ok_and(|o| state.config.server.cors_origins.iter().any(|a| a == o));
        listed.then_some(origin)
    } else {
        None
    };
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let Some(allow_origin) = allow_origin else {
            return StatusCode::FORBIDDEN.into_response();
        };
        let requested = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            requested.unwrap_or(HeaderValue::from_static(DEFAULT_ALLOWED_HEADERS)),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    }
    let mut response = next.run(req).await;
    if let Some(allow_origin) = allow_origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}
