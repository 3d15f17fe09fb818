//! `AppState`: the shared parts every handler needs, built once from config.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::KeyService;
use crate::auth::wallet::WalletAuth;
use crate::billing::stripe::StripeClient;
use crate::billing::{Ledger, SqliteLedger};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::limits::{LocalLimiter, RateLimiter, RedisLimiter};
use crate::redact::pipeline::Pipeline;
use crate::redact::{PassThrough, RequestRedactor};
use crate::store::SqliteStore;
use crate::upstream::Catalog;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<SqliteStore>,
    pub keys: Arc<KeyService>,
    pub catalog: Arc<Catalog>,
    pub limiter: Arc<dyn RateLimiter>,
    pub ledger: Arc<dyn Ledger>,
    pub redactor: Arc<dyn RequestRedactor>,
    /// The text pipeline (also used by `/v1/pii/preview`).
    pub pipeline: Arc<Pipeline>,
    /// `[redaction]` defaults for requests that set none, parsed once.
    pub redact_defaults: Arc<crate::redact::pipeline::TextConfig>,
    /// Bounds redaction jobs on the blocking pool.
    pub redact_slots: Arc<tokio::sync::Semaphore>,
    pub wallet_auth: Arc<WalletAuth>,
    pub stripe: Arc<StripeClient>,
    /// Webhook signing secrets (several during a rotation); empty: the
    /// webhook refuses every delivery.
    pub webhook_secrets: Arc<Vec<String>>,
    pub clock: Arc<dyn Clock>,
    /// Work that must outlive the request that started it (settlement after
    /// a client hangs up); shutdown waits for it.
    pub tasks: TaskTracker,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Opens the store and builds every part from `config`.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock))
    }

    /// As [`AppState::build`], with the clock given (tests hold time still).
    pub fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = Arc::new(open_store(&config)?);
        let keys = Arc::new(
            KeyService::new(store.clone(), Duration::from_millis(config.auth.key_cache_ms))
                .context("cannot prepare API key hashing")?,
        );
        let catalog = Arc::new(Catalog::from_config(&config)?);
        let stripe = Arc::new(StripeClient::from_config(&config.billing.stripe)?);
        let webhook_secrets: Vec<String> = std::env::var(&config.billing.stripe.webhook_secret_env)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let pipeline = crate::redact::build_pipeline(&config.redaction, keys.hash_key())?;
        let redact_defaults = Arc::new(crate::redact::default_text_config(&config.redaction)?);
        let redactor: Arc<dyn RequestRedactor> = if config.redaction.enabled {
            Arc::new(crate::redact::ChatRedactor {
                pipeline: pipeline.clone(),
                defaults: (*redact_defaults).clone(),
            })
        } else {
            Arc::new(PassThrough)
        };
        Ok(Self {
            redact_slots: Arc::new(tokio::sync::Semaphore::new(
                config.redaction.max_concurrent.max(1),
            )),
            pipeline,
            redact_defaults,
            wallet_auth: Arc::new(WalletAuth::new(store.clone(), clock.clone())),
            stripe,
            webhook_secrets: Arc::new(webhook_secrets),
            ledger: Arc::new(
                SqliteLedger::new(store.clone(), clock.clone())
                    .context("cannot start the ledger")?,
            ),
            store,
            keys,
            catalog,
            limiter: build_limiter(&config)?,
            redactor,
            clock,
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            config: Arc::new(config),
        })
    }
}

/// In process, or on Redis (shared by replicas) when `redis_url` is set.
fn build_limiter(config: &Config) -> anyhow::Result<Arc<dyn RateLimiter>> {
    if config.redis_url.is_empty() {
        return Ok(Arc::new(LocalLimiter::new()));
    }
    Ok(Arc::new(RedisLimiter::connect_lazy(&config.redis_url, config.limits.on_redis_failure)?))
}

/// Opens the configured store.
pub fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    let Some(path) = config.database_url.sqlite_path() else {
        anyhow::bail!("database_url: only sqlite:// is supported by this build");
    };
    SqliteStore::open(std::path::Path::new(path))
        .with_context(|| format!("cannot open the SQLite database at {path}"))
}
