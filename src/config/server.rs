//! The `[server]`, `[auth]` and `[limits]` sections: how the HTTP server,
//! key lookups and the rate limiter behave.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest accepted request body.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Longest wait for a TCP/TLS connection to a provider.
    #[serde(default = "default_connect_timeout_secs")]
    pub upstream_connect_timeout_secs: f64,
    /// How long SIGINT/SIGTERM waits for in-flight requests before closing them.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: f64,
    /// Origins allowed to call `/api/v1/*` from a browser (`/v1/*` allows any).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// The URL users reach Veil at, for Stripe's redirect pages; empty:
    /// `http://{listen}`.
    #[serde(default)]
    pub public_url: String,
    /// Management calls per minute per wallet (after its signature checks).
    #[serde(default = "default_management_rpm")]
    pub management_rpm: u32,
    /// Management calls per minute per client IP (before any check).
    #[serde(default = "default_management_ip_rpm")]
    pub management_ip_rpm: u32,
}

fn default_management_rpm() -> u32 {
    60
}
fn default_management_ip_rpm() -> u32 {
    600
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_body_limit(),
            upstream_connect_timeout_secs: default_connect_timeout_secs(),
            shutdown_grace_secs: default_grace(),
            cors_origins: Vec::new(),
            public_url: String::new(),
            management_rpm: default_management_rpm(),
            management_ip_rpm: default_management_ip_rpm(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a looked-up key is trusted before the store is asked again
    /// (bounds how late a revocation made by another process takes effect).
    #[serde(default = "default_key_cache_ms")]
    pub key_cache_ms: u64,
    /// How often batched `last_used_at` times are written.
    #[serde(default = "default_touch_flush")]
    pub last_used_flush_secs: f64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { key_cache_ms: default_key_cache_ms(), last_used_flush_secs: default_touch_flush() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// With `redis_url` set, what happens while Redis cannot be reached:
    /// `closed` refuses requests with 503, `open` admits them unlimited.
    #[serde(default = "default_redis_failure")]
    pub on_redis_failure: crate::limits::RedisFailure,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { on_redis_failure: default_redis_failure() }
    }
}

fn default_redis_failure() -> crate::limits::RedisFailure {
    crate::limits::RedisFailure::Closed
}

fn default_connect_timeout_secs() -> f64 {
    10.0
}
fn default_body_limit() -> usize {
    32 * 1024 * 1024
}
fn default_grace() -> f64 {
    30.0
}
fn default_key_cache_ms() -> u64 {
    1000
}
fn default_touch_flush() -> f64 {
    10.0
}
