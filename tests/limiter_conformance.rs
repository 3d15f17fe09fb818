//! The limiter conformance suite: behaviour every `RateLimiter` must have,
//! written against the trait with the time given. `local_*` run it in
//! process; `redis_*` run it on the Redis server named by `TEST_REDIS_URL`
//! (CI starts one; without it those tests fail under `CI`, and say they did
//! not run otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use veil::limits::{
    Admission, KeyLimits, LimitError, LimitKind, LocalLimiter, RateLimiter, RedisFailure,
    RedisLimiter, Rejection, Window,
};

const T0: i64 = 1_764_000_000_000;
const DAY_MS: i64 = 86_400_000;

fn limits(id: &str, rpm: u64, tpm: u64, daily: u64) -> KeyLimits {
    KeyLimits { key_id: format!("{id}-{}", veil::ids::base62(8)), rpm, tpm, daily }
}

fn rejection(result: Result<Admission, LimitError>) -> Rejection {
    match result {
        Err(LimitError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

pub async fn rpm_boundary_and_retry_after(limiter: &dyn RateLimiter) {
    let l = limits("rpm", 3, 1_000_000, 1_000);
    for i in 0..3 {
        let a = limiter.admit(&l, 10, T0).await.unwrap();
        assert_eq!(a.status.requests.remaining, 2 - i);
    }
    let r = rejection(limiter.admit(&l, 10, T0).await);
    assert_eq!(r.kind, LimitKind::Rpm);
    assert_eq!(r.retry_after_ms, 20_000); // one request refills every 60/3 s
    assert!(limiter.admit(&l, 10, T0 + 19_999).await.is_err());
    assert!(limiter.admit(&l, 10, T0 + 20_000).await.is_ok());
    assert!(limiter.admit(&l, 10, T0 + 20_000).await.is_err());
}

pub async fn tpm_boundary_and_settle_correction(limiter: &dyn RateLimiter) {
    let l = limits("tpm", 1_000, 100, 1_000);
    let a = limiter.admit(&l, 60, T0).await.unwrap();
    assert_eq!(a.status.tokens.remaining, 40);
    let r = rejection(limiter.admit(&l, 41, T0).await);
    assert_eq!(r.kind, LimitKind::Tpm);
    assert_eq!(r.retry_after_ms, 600); // 1 token per 600 ms at 100 TPM
    assert!(limiter.admit(&l, 40, T0).await.is_ok());
    // The first request used only 10 of its 60: 50 come back.
    limiter.settle(&l, 60, 10, T0).await;
    assert_eq!(limiter.peek(&l, T0).await.tokens.remaining, 50);
    assert_eq!(rejection(limiter.admit(&l, 101, T0).await).kind, LimitKind::TpmTooLarge);
}

pub async fn refused_requests_consume_nothing(limiter: &dyn RateLimiter) {
    let l = limits("refused", 2, 100, 1_000);
    assert!(limiter.admit(&l, 200, T0).await.is_err());
    let s = limiter.peek(&l, T0).await;
    assert_eq!((s.requests.remaining, s.tokens.remaining), (2, 100));
}

pub async fn daily_quota_resets_at_midnight_utc(limiter: &dyn RateLimiter) {
    let l = limits("daily", 1_000, 1_000_000, 2);
    let day_start = T0.div_euclid(DAY_MS) * DAY_MS;
    let before_midnight = day_start + DAY_MS - 1_500;
    assert!(limiter.admit(&l, 1, before_midnight).await.is_ok());
    assert!(limiter.admit(&l, 1, before_midnight).await.is_ok());
    let r = rejection(limiter.admit(&l, 1, before_midnight).await);
    assert_eq!(r.kind, LimitKind::Daily);
    assert_eq!(r.retry_after_ms, 1_500);
    assert!(limiter.admit(&l, 1, day_start + DAY_MS - 1).await.is_err());
    assert!(limiter.admit(&l, 1, day_start + DAY_MS).await.is_ok());
}

pub async fn headers_report_the_full_bucket_reset(limiter: &dyn RateLimiter) {
    let l = limits("headers", 60, 6_000, 10);
    let a = limiter.admit(&l, 600, T0).await.unwrap();
    assert_eq!(a.status.requests, Window { limit: 60, remaining: 59, reset_ms: 1_000 });
    assert_eq!(a.status.tokens, Window { limit: 6_000, remaining: 5_400, reset_ms: 6_000 });
}

pub async fn keys_are_independent(limiter: &dyn RateLimiter) {
    let a = limits("a", 1, 100, 10);
    let b = limits("b", 1, 100, 10);
    assert!(limiter.admit(&a, 1, T0).await.is_ok());
    assert!(limiter.admit(&a, 1, T0).await.is_err());
    assert!(limiter.admit(&b, 1, T0).await.is_ok());
}

/// 200 concurrent admissions against RPM = 37: exactly 37 pass.
pub async fn concurrent_admissions_are_exact(limiter: Arc<dyn RateLimiter>) {
    let l = limits("concurrent", 37, 1_000_000, 1_000);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (limiter, l) = (limiter.clone(), l.clone());
            tokio::spawn(async move { limiter.admit(&l, 1, T0).await.is_ok() })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(admitted, 37);
}

macro_rules! suite {
    ($prefix:ident, $make:expr) => {
        mod $prefix {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn rpm_boundary() {
                let Some(l) = $make.await else { return };
                rpm_boundary_and_retry_after(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn tpm_boundary() {
                let Some(l) = $make.await else { return };
                tpm_boundary_and_settle_correction(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn refused_consume_nothing() {
                let Some(l) = $make.await else { return };
                refused_requests_consume_nothing(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn daily_reset() {
                let Some(l) = $make.await else { return };
                daily_quota_resets_at_midnight_utc(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn header_values() {
                let Some(l) = $make.await else { return };
                headers_report_the_full_bucket_reset(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn independent_keys() {
                let Some(l) = $make.await else { return };
                keys_are_independent(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn concurrency() {
                let Some(l) = $make.await else { return };
                concurrent_admissions_are_exact(l).await;
            }
        }
    };
}

async fn local() -> Option<Arc<dyn RateLimiter>> {
    Some(Arc::new(LocalLimiter::new()))
}

/// The Redis limiter on `TEST_REDIS_URL`; required under CI.
async fn redis() -> Option<Arc<dyn RateLimiter>> {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide TEST_REDIS_URL");
        eprintln!("TEST_REDIS_URL is not set: the Redis limiter was NOT tested");
        return None;
    };
    Some(Arc::new(RedisLimiter::connect(&url, RedisFailure::Closed).await.unwrap()))
}

suite!(local_limiter, local());
suite!(redis_limiter, redis());

#[tokio::test(flavor = "multi_thread")]
async fn redis_unreachable_follows_the_policy() {
    // Nothing listens on port 9: connecting fails at once.
    let closed = RedisLimiter::connect_lazy("redis://127.0.0.1:9/", RedisFailure::Closed).unwrap();
    let l = limits("down", 10, 1_000, 10);
    assert!(matches!(closed.admit(&l, 1, T0).await, Err(LimitError::Unavailable(_))));
    let open = RedisLimiter::connect_lazy("redis://127.0.0.1:9/", RedisFailure::Open).unwrap();
    assert!(open.admit(&l, 1, T0).await.is_ok());
}
