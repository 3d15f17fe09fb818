//! The in-process limiter: one mutex-guarded map of per-key buckets. Exact
//! within one process; several replicas share limits through Redis instead.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    Admission, KeyLimits, LimitError, LimitKind, LimitStatus, RateLimiter, Rejection, Window,
};

const MINUTE_MS: f64 = 60_000.0;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy)]
struct Buckets {
    /// Request tokens available (≤ rpm).
    requests: f64,
    /// Token tokens available (≤ tpm; negative after an under-reservation).
    tokens: f64,
    updated_ms: i64,
    /// UTC day (days since the epoch) the `day_count` belongs to.
    day: i64,
    day_count: u64,
}

#[derive(Default)]
pub struct LocalLimiter {
    keys: Mutex<HashMap<String, Buckets>>,
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_buckets<T>(
        &self,
        limits: &KeyLimits,
        now_ms: i64,
        f: impl FnOnce(&mut Buckets) -> T,
    ) -> T {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let buckets = keys.entry(limits.key_id.clone()).or_insert(Buckets {
            requests: limits.rpm as f64,
            tokens: limits.tpm as f64,
            updated_ms: now_ms,
            day: now_ms.div_euclid(DAY_MS),
            day_count: 0,
        });
        refill(buckets, limits, now_ms);
        f(buckets)
    }
}

fn refill(b: &mut Buckets, limits: &KeyLimits, now_ms: i64) {
    let elapsed = (now_ms - b.updated_ms).max(0) as f64;
    b.requests = (b.requests + elapsed * limits.rpm as f64 / MINUTE_MS).min(limits.rpm as f64);
    b.tokens = (b.tokens + elapsed * limits.tpm as f64 / MINUTE_MS).min(limits.tpm as f64);
    b.updated_ms = b.updated_ms.max(now_ms);
    let day = now_ms.div_euclid(DAY_MS);
    if day != b.day {
        b.day = day;
        b.day_count = 0;
    }
}

/// Milliseconds until `missing` more units refill at `per_minute`.
fn wait_ms(missing: f64, per_minute: u64) -> u64 {
    if missing <= 0.0 || per_minute == 0 {
        return 0;
    }
    (missing * MINUTE_MS / per_minute as f64).ceil() as u64
}

pub(super) fn window(available: f64, limit: u64) -> Window {
    Window {
        limit,
        remaining: available.max(0.0).floor() as u64,
        reset_ms: wait_ms(limit as f64 - available, limit),
    }
}

fn status(b: &Buckets, limits: &KeyLimits) -> LimitStatus {
    LimitStatus { requests: window(b.requests, limits.rpm), tokens: window(b.tokens, limits.tpm) }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn admit(
        &self,
        limits: &KeyLimits,
        tokens: u64,
        now_ms: i64,
    ) -> Result<Admission, LimitError> {
        self.with_buckets(limits, now_ms, |b| admit(b, limits, tokens, now_ms))
            .map_err(LimitError::from)
    }

    async fn settle(&self, limits: &KeyLimits, reserved: u64, actual: u64, now_ms: i64) {
        self.with_buckets(limits, now_ms, |b| {
            b.tokens = (b.tokens + reserved as f64 - actual as f64).min(limits.tpm as f64);
        });
    }

    async fn peek(&self, limits: &KeyLimits, now_ms: i64) -> LimitStatus {
        self.with_buckets(limits, now_ms, |b| status(b, limits))
    }
}

/// Checks the daily quota, then RPM, then TPM; consumes only when all pass.
fn admit(
    b: &mut Buckets,
    limits: &KeyLimits,
    tokens: u64,
    now_ms: i64,
) -> Result<Admission, Rejection> {
    let reject = |kind, retry_after_ms, limit, requested, b: &Buckets| Rejection {
        kind,
        retry_after_ms,
        limit,
        requested,
        status: status(b, limits),
    };
    if b.day_count >= limits.daily {
        let midnight = (b.day + 1) * DAY_MS;
        return Err(reject(LimitKind::Daily, (midnight - now_ms) as u64, limits.daily, 1, b));
    }
    if b.requests < 1.0 {
        return Err(reject(
            LimitKind::Rpm,
            wait_ms(1.0 - b.requests, limits.rpm),
            limits.rpm,
            1,
            b,
        ));
    }
    if tokens > limits.tpm {
        return Err(reject(LimitKind::TpmTooLarge, 60_000, limits.tpm, tokens, b));
    }
    if b.tokens < tokens as f64 {
        let wait = wait_ms(tokens as f64 - b.tokens, limits.tpm);
        return Err(reject(LimitKind::Tpm, wait, limits.tpm, tokens, b));
    }
    b.requests -= 1.0;
    b.tokens -= tokens as f64;
    b.day_count += 1;
    Ok(Admission { reserved_tokens: tokens, status: status(b, limits) })
}
