//! The Redis limiter: the same buckets as [`super::LocalLimiter`], kept in
//! one Redis hash per key and changed only by one Lua script per call, so
//! admission is atomic across every replica sharing the server (no
//! GET-then-SET). Hashes expire once idle past the day they count.
//!
//! If Redis cannot be reached, [`RedisFailure`] decides: `Closed` (the
//! default) refuses requests with 503, `Open` admits them unlimited. The
//! connection manager reconnects by itself, so service resumes when Redis
//! is back.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::RwLock;

use super::local::window;
use super::{
    Admission, KeyLimits, LimitError, LimitKind, LimitStatus, RateLimiter, Rejection, Window,
};

/// What to do when Redis does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisFailure {
    /// Refuse requests (503) until Redis answers again.
    Closed,
    /// Admit requests without limits until Redis answers again.
    Open,
}

/// Refills, checks and reserves in one step. ARGV: now_ms, rpm, tpm,
/// daily, tokens, mode (`admit`, `settle` with tokens = reserved - actual,
/// or `peek`). Returns {verdict, retry_ms, requests, tokens}; verdict 0 is
/// admitted, 1 daily, 2 rpm, 3 too large, 4 tpm.
const SCRIPT: &str = r#"
local key = KEYS[1]
local now, rpm, tpm, daily = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local want, mode = tonumber(ARGV[5]), ARGV[6]
local DAY = 86400000
local h = redis.call('HMGET', key, 'req', 'tok', 'ts', 'day', 'cnt')
local req = tonumber(h[1]) or rpm
local tok = tonumber(h[2]) or tpm
local ts = tonumber(h[3]) or now
local day = tonumber(h[4]) or math.floor(now / DAY)
local cnt = tonumber(h[5]) or 0
local elapsed = math.max(0, now - ts)
req = math.min(rpm, req + elapsed * rpm / 60000)
tok = math.min(tpm, tok + elapsed * tpm / 60000)
ts = math.max(ts, now)
local today = math.floor(now / DAY)
if today ~= day then day = today; cnt = 0 end
local verdict, retry = 0, 0
if mode == 'admit' then
  if cnt >= daily then verdict = 1; retry = (day + 1) * DAY - now
  elseif req < 1 then verdict = 2; retry = math.ceil((1 - req) * 60000 / rpm)
  elseif want > tpm then verdict = 3; retry = 60000
  elseif tok < want then verdict = 4; retry = math.ceil((want - tok) * 60000 / tpm)
  else req = req - 1; tok = tok - want; cnt = cnt + 1 end
elseif mode == 'settle' then
  tok = math.min(tpm, tok + want)
end
if mode ~= 'peek' then
  redis.call('HSET', key, 'req', tostring(req), 'tok', tostring(tok), 'ts', tostring(ts),
             'day', tostring(day), 'cnt', tostring(cnt))
  -- Relative, so the caller's clock need not match the server's.
  redis.call('PEXPIRE', key, math.max((day + 1) * DAY - now, 60000))
end
return {verdict, retry, tostring(req), tostring(tok)}
"#;

/// After a failed connect, calls fail at once for this long instead of each
/// waiting for its own attempt.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

pub struct RedisLimiter {
    client: redis::Client,
    /// Set once the first connection succeeds; it reconnects by itself.
    conn: RwLock<Option<ConnectionManager>>,
    last_failed_connect: std::sync::Mutex<Option<std::time::Instant>>,
    script: redis::Script,
    on_failure: RedisFailure,
}

type Reply = (i64, i64, String, String);

impl RedisLimiter {
    /// Connects now; fails when Redis cannot be reached.
    pub async fn connect(url: &str, on_failure: RedisFailure) -> anyhow::Result<Self> {
        let limiter = Self::connect_lazy(url, on_failure)?;
        limiter.connection().await.map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
        Ok(limiter)
    }

    /// Connects on first use (so Veil starts while Redis is down, under the
    /// failure policy).
    pub fn connect_lazy(url: &str, on_failure: RedisFailure) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
        Ok(Self {
            client,
            conn: RwLock::new(None),
            last_failed_connect: std::sync::Mutex::new(None),
            script: redis::Script::new(SCRIPT),
            on_failure,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        if let Some(conn) = self.conn.read().await.as_ref() {
            return Ok(conn.clone());
        }
        let recently_failed =
            |at: &Option<std::time::Instant>| at.is_some_and(|t| t.elapsed() < RECONNECT_EVERY);
        if recently_failed(&self.last_failed_connect.lock().unwrap_or_else(|p| p.into_inner())) {
            return Err("Redis unreachable (retrying every second)".into());
        }
        let mut slot = self.conn.write().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100));
        match ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(conn) => {
                *slot = Some(conn.clone());
                Ok(conn)
            }
            Err(err) => {
                *self.last_failed_connect.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(std::time::Instant::now());
                Err(err.to_string())
            }
        }
    }

    async fn run(
        &self,
        limits: &KeyLimits,
        now_ms: i64,
        tokens: i64,
        mode: &str,
    ) -> Result<Reply, String> {
        let mut conn = self.connection().await?;
        self.script
            .key(format!("veil:rl:{}", limits.key_id))
            .arg(now_ms)
            .arg(limits.rpm)
            .arg(limits.tpm)
            .arg(limits.daily)
            .arg(tokens)
            .arg(mode)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }
}

fn status(limits: &KeyLimits, requests: &str, tokens: &str) -> LimitStatus {
    let parse = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    LimitStatus {
        requests: window(parse(requests), limits.rpm),
        tokens: window(parse(tokens), limits.tpm),
    }
}

/// What the headers show while Redis is down and the policy is `Open`.
fn unlimited(limits: &KeyLimits) -> LimitStatus {
    LimitStatus {
        requests: Window { limit: limits.rpm, remaining: limits.rpm, reset_ms: 0 },
        tokens: Window { limit: limits.tpm, remaining: limits.tpm, reset_ms: 0 },
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn admit(
        &self,
        limits: &KeyLimits,
        tokens: u64,
        now_ms: i64,
    ) -> Result<Admission, LimitError> {
        let (verdict, retry, requests, left) = match self
            .run(limits, now_ms, signed(tokens), "admit")
            .await
        {
            Ok(reply) => reply,
            Err(err) => {
                return match self.on_failure {
                    RedisFailure::Closed => Err(LimitError::Unavailable(err)),
                    RedisFailure::Open => {
                        tracing::warn!(error = %err, "Redis unreachable; admitting without limits (policy: open)");
                        Ok(Admission { reserved_tokens: 0, status: unlimited(limits) })
                    }
                };
            }
        };
        let status = status(limits, &requests, &left);
        let (kind, limit, requested) = match verdict {
            0 => return Ok(Admission { reserved_tokens: tokens, status }),
            1 => (LimitKind::Daily, limits.daily, 1),
            2 => (LimitKind::Rpm, limits.rpm, 1),
            3 => (LimitKind::TpmTooLarge, limits.tpm, tokens),
            _ => (LimitKind::Tpm, limits.tpm, tokens),
        };
        let retry_after_ms = u64::try_from(retry).unwrap_or(0);
        Err(LimitError::Rejected(Rejection { kind, retry_after_ms, limit, requested, status }))
    }

    async fn settle(&self, limits: &KeyLimits, reserved: u64, actual: u64, now_ms: i64) {
        if reserved == 0 && actual == 0 {
            return;
        }
        let correction = signed(reserved) - signed(actual);
        if let Err(err) = self.run(limits, now_ms, correction, "settle").await {
            tracing::warn!(error = %err, "could not correct the TPM reservation in Redis");
        }
    }

    async fn peek(&self, limits: &KeyLimits, now_ms: i64) -> LimitStatus {
        match self.run(limits, now_ms, 0, "peek").await {
            Ok((_, _, requests, tokens)) => status(limits, &requests, &tokens),
            Err(_) => unlimited(limits),
        }
    }
}
