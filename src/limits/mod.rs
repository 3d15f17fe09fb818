//! Per-key request limits: requests per minute, tokens per minute, and a
//! daily request quota that resets at 00:00 UTC.
//!
//! RPM and TPM are token buckets that refill continuously (a full bucket
//! after one minute, as OpenAI describes its limits): a key may burst up to
//! its limit, then gets one more request every `60 / rpm` seconds. TPM
//! reserves prompt tokens plus the output cap at admission and is corrected
//! with the real usage at settlement. Implementations take the time as a
//! parameter, so tests control it.

mod local;
mod redis;

use std::collections::BTreeMap;

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue};

pub use local::LocalLimiter;
pub use redis::{RedisFailure, RedisLimiter};

use crate::auth::keys::ApiKeyRecord;
use crate::config::PlanConfig;
use crate::error::ApiError;

/// A key's effective limits: its plan, with its own overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLimits {
    pub key_id: String,
    pub rpm: u64,
    pub tpm: u64,
    pub daily: u64,
}

impl KeyLimits {
    /// Falls back to the `free` plan when the key's plan is no longer
    /// configured.
    pub fn resolve(key: &ApiKeyRecord, plans: &BTreeMap<String, PlanConfig>) -> Self {
        let plan = plans
            .get(&key.plan)
            .or_else(|| plans.get("free"))
            .copied()
            .unwrap_or(PlanConfig { rpm: 60, tpm: 100_000, daily_requests: 10_000 });
        Self {
            key_id: key.id.clone(),
            rpm: u64::from(key.rpm.unwrap_or(plan.rpm)),
            tpm: key.tpm.unwrap_or(plan.tpm),
            daily: key.daily_requests.unwrap_or(plan.daily_requests),
        }
    }
}

/// One bucket's state, as the headers report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub limit: u64,
    pub remaining: u64,
    /// Milliseconds until the bucket is full again.
    pub reset_ms: u64,
}

/// What the rate-limit headers of a response show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitStatus {
    pub requests: Window,
    pub tokens: Window,
}

/// An admitted request: what it reserved, and the state after admission.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    pub reserved_tokens: u64,
    pub status: LimitStatus,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Rpm,
    Tpm,
    /// The request alone needs more tokens than the TPM limit allows.
    TpmTooLarge,
    Daily,
}

/// A refused request.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub kind: LimitKind,
    pub retry_after_ms: u64,
    pub limit: u64,
    pub requested: u64,
    pub status: LimitStatus,
}

/// Why a request was not admitted.
#[derive(Debug, Clone)]
pub enum LimitError {
    /// A limit refuses it (429).
    Rejected(Rejection),
    /// The limiter's store cannot be reached and the policy is to fail
    /// closed (503).
    Unavailable(String),
}

impl LimitError {
    pub fn into_api_error(self) -> ApiError {
        match self {
            Self::Rejected(rejection) => rejection.into_api_error(),
            Self::Unavailable(detail) => {
                tracing::error!(detail = %detail, "rate limiter unavailable; refusing requests");
                ApiError::Unavailable
            }
        }
    }
}

impl From<Rejection> for LimitError {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

impl Rejection {
    pub fn into_api_error(self) -> ApiError {
        let wait = format_duration(self.retry_after_ms);
        let (code, message) = match self.kind {
            LimitKind::Rpm => (
                "rate_limit_exceeded_rpm",
                format!("Rate limit reached: {} requests per minute. Retry in {wait}.", self.limit),
            ),
            LimitKind::Tpm => (
                "rate_limit_exceeded_tpm",
                format!(
                    "Rate limit reached: {} tokens per minute; this request reserves {}. Retry in {wait}.",
                    self.limit, self.requested
                ),
            ),
            LimitKind::TpmTooLarge => (
                "rate_limit_exceeded_tpm",
                format!(
                    "Request too large: it reserves {} tokens (prompt + max output) and the key's limit \
                     is {} tokens per minute. Lower max_tokens or shorten the prompt.",
                    self.requested, self.limit
                ),
            ),
            LimitKind::Daily => (
                "quota_exceeded",
                format!(
                    "Daily quota of {} requests reached; it resets at 00:00 UTC, in {wait}.",
                    self.limit
                ),
            ),
        };
        ApiError::RateLimited { code, message, retry_after_ms: self.retry_after_ms }
    }
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Admits one request reserving `tokens`, or says which limit refuses
    /// it. A refused request consumes nothing.
    async fn admit(
        &self,
        limits: &KeyLimits,
        tokens: u64,
        now_ms: i64,
    ) -> Result<Admission, LimitError>;
    /// Replaces the reservation with the tokens really used.
    async fn settle(&self, limits: &KeyLimits, reserved: u64, actual: u64, now_ms: i64);
    /// The current state, without consuming anything.
    async fn peek(&self, limits: &KeyLimits, now_ms: i64) -> LimitStatus;
}

/// Writes Veil's and OpenAI's rate-limit headers.
pub fn write_headers(headers: &mut HeaderMap, status: &LimitStatus) {
    let secs = |ms: u64| HeaderValue::from(ms.div_ceil(1000));
    let pairs = [
        ("x-ratelimit-limit-rpm", HeaderValue::from(status.requests.limit)),
        ("x-ratelimit-remaining-rpm", HeaderValue::from(status.requests.remaining)),
        ("x-ratelimit-reset-rpm", secs(status.requests.reset_ms)),
        ("x-ratelimit-limit-tpm", HeaderValue::from(status.tokens.limit)),
        ("x-ratelimit-remaining-tpm", HeaderValue::from(status.tokens.remaining)),
        ("x-ratelimit-reset-tpm", secs(status.tokens.reset_ms)),
        ("x-ratelimit-limit-requests", HeaderValue::from(status.requests.limit)),
        ("x-ratelimit-remaining-requests", HeaderValue::from(status.requests.remaining)),
        ("x-ratelimit-limit-tokens", HeaderValue::from(status.tokens.limit)),
        ("x-ratelimit-remaining-tokens", HeaderValue::from(status.tokens.remaining)),
    ];
    for (name, value) in pairs {
        headers.insert(name, value);
    }
    for (name, ms) in [
        ("x-ratelimit-reset-requests", status.requests.reset_ms),
        ("x-ratelimit-reset-tokens", status.tokens.reset_ms),
    ] {
        if let Ok(value) = HeaderValue::from_str(&format_duration(ms)) {
            headers.insert(name, value);
        }
    }
}

/// A duration as OpenAI's headers write it (Go's style): `20ms`, `1s`,
/// `1.5s`, `6m0s`, `1h2m3s`.
pub fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = ms % 3_600_000 / 60_000;
    let millis = ms % 60_000;
    let seconds = if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        let text = format!("{}.{:03}", millis / 1000, millis % 1000);
        format!("{}s", text.trim_end_matches('0'))
    };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_look_like_openais() {
        assert_eq!(format_duration(20), "20ms");
        assert_eq!(format_duration(1000), "1s");
        assert_eq!(format_duration(1500), "1.5s");
        assert_eq!(format_duration(360_000), "6m0s");
        assert_eq!(format_duration(3_723_250), "1h2m3.25s");
    }

    #[test]
    fn rejections_map_to_the_design_codes() {
        let r = |kind| Rejection {
            kind,
            retry_after_ms: 1200,
            limit: 3,
            requested: 9,
            status: LimitStatus::default(),
        };
        assert_eq!(r(LimitKind::Rpm).into_api_error().code(), "rate_limit_exceeded_rpm");
        assert_eq!(r(LimitKind::Tpm).into_api_error().code(), "rate_limit_exceeded_tpm");
        assert_eq!(r(LimitKind::TpmTooLarge).into_api_error().code(), "rate_limit_exceeded_tpm");
        assert_eq!(r(LimitKind::Daily).into_api_error().code(), "quota_exceeded");
    }
}
