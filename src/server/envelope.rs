//! The management API's envelope: `{"success":true,"data":...}` and
//! `{"success":false,"error":{"code","message"}}`, with an extractor whose
//! rejections use it too.

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::extract::JsonObject;
use crate::error::ApiError;

/// A successful management response.
pub struct Envelope<T>(pub T);

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        axum::Json(json!({"success": true, "data": self.0})).into_response()
    }
}

/// An `ApiError` rendered in the envelope.
pub struct EnvelopeError(pub ApiError);

impl From<ApiError> for EnvelopeError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl IntoResponse for EnvelopeError {
    fn into_response(self) -> Response {
        self.0.into_envelope_response()
    }
}

pub type EnvelopeResult<T> = Result<Envelope<T>, EnvelopeError>;

/// A JSON object body, or an empty one when no body was sent (credentials
/// may come in headers).
pub struct OptionalJson(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJson {
    type Rejection = EnvelopeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "0");
        if empty {
            return Ok(Self(Map::new()));
        }
        match JsonObject::from_request(req, state).await {
            Ok(JsonObject(map)) => Ok(Self(map)),
            Err(err) => Err(EnvelopeError(err)),
        }
    }
}
