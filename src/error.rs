//! One error type for every request path, and its one mapping to HTTP.
//!
//! `ApiError` knows its status code, its machine-readable `code` and the OpenAI
//! `type`. `/v1/*` responses use OpenAI's shape
//! (`{"error":{"message","type","param","code"}}`); `/api/v1/*` uses the
//! management envelope (`{"success":false,"error":{"code","message"}}`).
//! 5xx bodies are generic; their detail is logged here, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Everything a handler can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "You didn't provide an API key. Send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`."
    )]
    MissingApiKey,
    #[error("Incorrect API key provided.")]
    InvalidApiKey,
    #[error("This API key has been revoked.")]
    InactiveApiKey,
    #[error(
        "Wallet authentication is required: send walletAddress, message and signature in the JSON body, or the X-Wallet-Address, X-Wallet-Message (base64url) and X-Wallet-Signature headers."
    )]
    MissingWalletAuth,
    /// A failed wallet check (DESIGN §8); `code` is its upper-case code.
    #[error("{message}")]
    WalletAuth { code: &'static str, message: String },
    #[error("This API key is not allowed to use {0}.")]
    EndpointNotAllowed(&'static str),
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    InvalidModel(String),
    /// `GET /v1/models/{id}` for a model that is not served (404, as OpenAI).
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    /// 404; the text names what was not found (`Route /v1/x`, `Key key_1`).
    #[error("{0} not found.")]
    NotFound(String),
    /// The body is not JSON at all, or a parameter has an unusable value.
    #[error("{message}")]
    InvalidParams { message: String, param: Option<String> },
    /// The body is JSON but violates the request schema; `param` names the field.
    #[error("{message}")]
    Validation { message: String, param: Option<String> },
    #[error("{0}")]
    RequestTooLarge(String),
    #[error("{0}")]
    InsufficientCredits(String),
    /// 429 from a limit; `code` is one of the DESIGN §4 codes.
    #[error("{message}")]
    RateLimited { code: &'static str, message: String, retry_after_ms: u64 },
    /// The provider failed before the first byte (connect error, 5xx, bad body).
    #[error("The upstream provider failed to answer.")]
    Upstream(String),
    #[error("The upstream provider did not answer in time.")]
    UpstreamTimeout,
    /// A provider's own 4xx, relayed in our shape with its status.
    #[error("{message}")]
    UpstreamRejected {
        status: StatusCode,
        message: String,
        kind: String,
        param: Option<String>,
        code: Option<String>,
    },
    #[error("The server is shutting down; retry shortly.")]
    Unavailable,
    /// A feature whose secrets the operator has not configured (503).
    #[error("{0} is not configured on this server.")]
    NotConfigured(&'static str),
    /// A Stripe webhook whose signature does not verify (400).
    #[error("The Stripe-Signature header does not verify: {0}.")]
    WebhookSignature(String),
    #[error("A billing operation failed.")]
    Billing(String),
    #[error("An internal error occurred.")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for a schema violation on `param`.
    pub fn validation(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation { message: message.into(), param: Some(param.into()) }
    }

    /// Shorthand for an internal failure whose detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingApiKey
            | Self::InvalidApiKey
            | Self::InactiveApiKey
            | Self::MissingWalletAuth => StatusCode::UNAUTHORIZED,
            Self::EndpointNotAllowed(_) | Self::WalletAuth { .. } => StatusCode::FORBIDDEN,
            Self::InvalidModel(_) | Self::InvalidParams { .. } | Self::Validation { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::ModelNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InsufficientCredits(_) => StatusCode::PAYMENT_REQUIRED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::UpstreamRejected { status, .. } => *status,
            Self::Unavailable | Self::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::WebhookSignature(_) => StatusCode::BAD_REQUEST,
            Self::Billing(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code of DESIGN §4.
    pub fn code(&self) -> &str {
        match self {
            Self::MissingApiKey => "missing_api_key",
            Self::InvalidApiKey => "invalid_api_key",
            Self::InactiveApiKey => "inactive_api_key",
            Self::MissingWalletAuth => "missing_wallet_auth",
            Self::WalletAuth { code, .. } => code,
            Self::EndpointNotAllowed(_) => "endpoint_not_allowed",
            Self::InvalidModel(_) => "invalid_model",
            Self::ModelNotFound(_) => "model_not_found",
            Self::NotFound(_) => "not_found",
            Self::InvalidParams { .. } => "invalid_params",
            Self::Validation { .. } => "validation_error",
            Self::RequestTooLarge(_) => "request_too_large",
            Self::InsufficientCredits(_) => "insufficient_credits",
            Self::RateLimited { code, .. } => code,
            Self::Upstream(_) => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamRejected { code, .. } => code.as_deref().unwrap_or("upstream_error"),
            Self::Unavailable => "service_unavailable",
            Self::NotConfigured(_) => "not_configured",
            Self::WebhookSignature(_) => "invalid_signature",
            Self::Billing(_) => "billing_error",
            Self::Internal(_) => "internal_error",
        }
    }

    /// OpenAI's `error.type`.
    fn kind(&self) -> &str {
        match self {
            Self::MissingApiKey
            | Self::InvalidApiKey
            | Self::InactiveApiKey
            | Self::MissingWalletAuth => "authentication_error",
            Self::EndpointNotAllowed(_) | Self::WalletAuth { .. } => "permission_error",
            Self::InsufficientCredits(_) => "insufficient_quota",
            Self::RateLimited { .. } => "rate_limit_error",
            Self::UpstreamRejected { kind, .. } => kind,
            Self::Upstream(_)
            | Self::UpstreamTimeout
            | Self::Unavailable
            | Self::NotConfigured(_) => "api_error",
            Self::Billing(_) | Self::Internal(_) => "server_error",
            _ => "invalid_request_error",
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidParams { param, .. }
            | Self::Validation { param, .. }
            | Self::UpstreamRejected { param, .. } => param.as_deref(),
            Self::InvalidModel(_) | Self::ModelNotFound(_) => Some("model"),
            _ => None,
        }
    }

    /// The OpenAI-shaped body, `{"error":{...}}`, with real JSON nulls.
    pub fn openai_body(&self) -> Value {
        json!({
            "error": {
                "message": self.to_string(),
                "type": self.kind(),
                "param": self.param(),
                "code": self.code(),
            }
        })
    }

    /// The management envelope, `{"success":false,"error":{...}}`.
    pub fn envelope_body(&self) -> Value {
        json!({ "success": false, "error": { "code": self.code(), "message": self.to_string() } })
    }

    fn log(&self) {
        match self {
            Self::Internal(detail) | Self::Billing(detail) => {
                tracing::error!(code = self.code(), detail = %detail, "request failed");
            }
            Self::Upstream(detail) => {
                tracing::warn!(code = self.code(), detail = %detail, "upstream failed");
            }
            _ => {}
        }
    }

    fn with_headers(&self, mut response: Response) -> Response {
        if let Self::RateLimited { retry_after_ms, .. } = self {
            let headers = response.headers_mut();
            let secs = retry_after_ms.div_ceil(1000).max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            headers.insert("retry-after-ms", HeaderValue::from(*retry_after_ms));
        }
        response
    }

    /// The response in the management envelope, for `/api/v1/*`.
    pub fn into_envelope_response(self) -> Response {
        self.log();
        let response = (self.status(), axum::Json(self.envelope_body())).into_response();
        self.with_headers(response)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let response = (self.status(), axum::Json(self.openai_body())).into_response();
        self.with_headers(response)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_shape_has_real_nulls() {
        let body = ApiError::MissingApiKey.openai_body();
        assert_eq!(body["error"]["code"], "missing_api_key");
        assert_eq!(body["error"]["type"], "authentication_error");
        assert!(body["error"]["param"].is_null());
    }

    #[test]
    fn internal_detail_is_not_sent() {
        let err = ApiError::internal("disk /var/secret full");
        assert!(!err.openai_body().to_string().contains("secret"));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn rate_limited_carries_retry_headers() {
        let err = ApiError::RateLimited {
            code: "rate_limit_exceeded_rpm",
            message: "slow down".into(),
            retry_after_ms: 1500,
        };
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(response.headers()["retry-after-ms"], "1500");
    }
}
