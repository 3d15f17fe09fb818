//! Per-key request limits (RPM, TPM, daily quota). This module owns the
//! admission decision; the metering issue fills in real limiters. Until then
//! [`Unlimited`] admits everything, so the pipeline stage exists and is a
//! no-op.

use crate::auth::keys::ApiKeyRecord;
use crate::error::ApiError;

/// What the limiter is asked to admit.
pub struct LimitRequest<'a> {
    pub key: &'a ApiKeyRecord,
    /// Tokens reserved up front (prompt + output cap).
    pub tokens: u64,
}

/// An admitted request, to correct at settlement.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    pub reserved_tokens: u64,
}

pub trait RateLimiter: Send + Sync {
    fn admit(&self, request: &LimitRequest<'_>, now_ms: i64) -> Result<Admission, ApiError>;
    /// Replaces the reservation with the tokens really used.
    fn settle(&self, key_id: &str, admission: &Admission, actual_tokens: u64, now_ms: i64);
}

/// Admits everything.
pub struct Unlimited;

impl RateLimiter for Unlimited {
    fn admit(&self, request: &LimitRequest<'_>, _now_ms: i64) -> Result<Admission, ApiError> {
        Ok(Admission { reserved_tokens: request.tokens })
    }

    fn settle(&self, _key_id: &str, _admission: &Admission, _actual: u64, _now_ms: i64) {}
}
