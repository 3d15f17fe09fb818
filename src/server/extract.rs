//! Extractors whose rejections use Veil's error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::auth::keys::ApiKeyRecord;
use crate::error::ApiError;

/// A JSON object body. Malformed JSON is 400 `invalid_params` with the
/// parser's position; a body that is JSON but not an object is 400
/// `validation_error`; a body over the limit is 413.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::RequestTooLarge(
                    "The request body is larger than this server accepts.".into(),
                )
            } else {
                ApiError::InvalidParams {
                    message: "The request body could not be read.".into(),
                    param: None,
                }
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::Validation {
                message: "The request body must be a JSON object.".into(),
                param: None,
            }),
            Err(e) => Err(ApiError::InvalidParams {
                message: format!(
                    "We could not parse the JSON body of your request: {} at line {} column {}.",
                    describe(&e),
                    e.line(),
                    e.column()
                ),
                param: None,
            }),
        }
    }
}

fn describe(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected end of input",
        Category::Syntax => "syntax error",
        Category::Data => "invalid data",
        Category::Io => "read error",
    }
}

/// The id of this request (the client's `X-Request-Id` or a new one).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .ok_or_else(|| ApiError::internal("request id layer missing"))
    }
}

/// The API key that authenticated this request.
#[derive(Debug, Clone)]
pub struct AuthedKey(pub std::sync::Arc<ApiKeyRecord>);

impl<S: Send + Sync> FromRequestParts<S> for AuthedKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AuthedKey>().cloned().ok_or(ApiError::MissingApiKey)
    }
}
