//! The in-process limiter: one mutex-guarded map of per-key buckets. Exact
//! within one process; several replicas share limits through Redis instead.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Admission, KeyLimits, LimitKind, LimitStatus, RateLimiter, Rejection, Window};

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

fn window(available: f64, limit: u64) -> Window {
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
    ) -> Result<Admission, Rejection> {
        self.with_buckets(limits, now_ms, |b| {
            let reject = |kind, retry_after_ms, limit, requested, b: &Buckets| Rejection {
                kind,
                retry_after_ms,
                limit,
                requested,
                status: status(b, limits),
            };
            if b.day_count >= limits.daily {
                let midnight = (b.day + 1) * DAY_MS;
                return Err(reject(
                    LimitKind::Daily,
                    (midnight - now_ms) as u64,
                    limits.daily,
                    1,
                    b,
                ));
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
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpm: u64, tpm: u64, daily: u64) -> KeyLimits {
        KeyLimits { key_id: "key_1".into(), rpm, tpm, daily }
    }

    const T0: i64 = 1_764_000_000_000;

    #[tokio::test]
    async fn rpm_boundary_and_retry_after() {
        let limiter = LocalLimiter::new();
        let l = limits(3, 1_000_000, 1_000);
        for i in 0..3 {
            let a = limiter.admit(&l, 10, T0).await.unwrap();
            assert_eq!(a.status.requests.remaining, 2 - i);
        }
        let r = limiter.admit(&l, 10, T0).await.unwrap_err();
        assert_eq!(r.kind, LimitKind::Rpm);
        assert_eq!(r.retry_after_ms, 20_000); // one request refills every 60/3 s
        assert!(limiter.admit(&l, 10, T0 + 19_999).await.is_err());
        assert!(limiter.admit(&l, 10, T0 + 20_000).await.is_ok());
        assert!(limiter.admit(&l, 10, T0 + 20_000).await.is_err());
    }

    #[tokio::test]
    async fn tpm_boundary_and_settle_correction() {
        let limiter = LocalLimiter::new();
        let l = limits(1_000, 100, 1_000);
        let a = limiter.admit(&l, 60, T0).await.unwrap();
        assert_eq!(a.status.tokens.remaining, 40);
        let r = limiter.admit(&l, 41, T0).await.unwrap_err();
        assert_eq!(r.kind, LimitKind::Tpm);
        assert_eq!(r.retry_after_ms, 600); // 1 token per 600 ms at 100 TPM
        assert!(limiter.admit(&l, 40, T0).await.is_ok());
        // The first request used only 10 of its 60: 50 come back.
        limiter.settle(&l, 60, 10, T0).await;
        assert_eq!(limiter.peek(&l, T0).await.tokens.remaining, 50);
        let big = limiter.admit(&l, 101, T0).await.unwrap_err();
        assert_eq!(big.kind, LimitKind::TpmTooLarge);
    }

    #[tokio::test]
    async fn refused_requests_consume_nothing() {
        let limiter = LocalLimiter::new();
        let l = limits(2, 100, 1_000);
        assert!(limiter.admit(&l, 200, T0).await.is_err());
        let s = limiter.peek(&l, T0).await;
        assert_eq!((s.requests.remaining, s.tokens.remaining), (2, 100));
    }

    #[tokio::test]
    async fn daily_quota_resets_at_midnight_utc() {
        let limiter = LocalLimiter::new();
        let l = limits(1_000, 1_000_000, 2);
        let day_start = T0.div_euclid(DAY_MS) * DAY_MS;
        let before_midnight = day_start + DAY_MS - 1_500;
        assert!(limiter.admit(&l, 1, before_midnight).await.is_ok());
        assert!(limiter.admit(&l, 1, before_midnight).await.is_ok());
        let r = limiter.admit(&l, 1, before_midnight).await.unwrap_err();
        assert_eq!(r.kind, LimitKind::Daily);
        assert_eq!(r.retry_after_ms, 1_500);
        assert!(limiter.admit(&l, 1, day_start + DAY_MS - 1).await.is_err());
        assert!(limiter.admit(&l, 1, day_start + DAY_MS).await.is_ok());
    }

    #[tokio::test]
    async fn headers_report_the_full_bucket_reset() {
        let limiter = LocalLimiter::new();
        let l = limits(60, 6_000, 10);
        let a = limiter.admit(&l, 600, T0).await.unwrap();
        assert_eq!(a.status.requests, Window { limit: 60, remaining: 59, reset_ms: 1_000 });
        assert_eq!(a.status.tokens, Window { limit: 6_000, remaining: 5_400, reset_ms: 6_000 });
    }

    #[tokio::test]
    async fn keys_are_independent() {
        let limiter = LocalLimiter::new();
        let a = limits(1, 100, 10);
        let b = KeyLimits { key_id: "key_2".into(), ..a.clone() };
        assert!(limiter.admit(&a, 1, T0).await.is_ok());
        assert!(limiter.admit(&a, 1, T0).await.is_err());
        assert!(limiter.admit(&b, 1, T0).await.is_ok());
    }
}
