//! `AppState`: the shared parts every handler needs, built once from config.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::KeyService;
use crate::auth::wallet::WalletAuth;
use crate::billing::stripe::StripeClient;
use crate::billing::{Ledger, PgLedger, SqliteLedger};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::limits::{LocalLimiter, RateLimiter, RedisLimiter};
use crate::redact::pipeline::Pipeline;
use crate::redact::{PassThrough, RequestRedactor};
use crate::store::{PgStore, SqliteStore, Store};
use crate::upstream::Catalog;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyService>,
    pub catalog: Arc<Catalog>,
    pub limiter: Arc<dyn RateLimiter>,
    pub ledger: Arc<dyn Ledger>,
    pub redactor: Arc<dyn RequestRedactor>,
    /// The text pipeline (also used by `/v1/pii/preview`).
    pub pipeline: Arc<Pipeline>,
    /// `[redaction]` and `[media]` defaults for requests that set none.
    pub redact_defaults: Arc<crate::redact::request::Defaults>,
    /// Face and OCR models (`None` when `[media]` is off).
    pub media: Option<Arc<crate::media::Media>>,
    /// Limits of fetching remote images.
    pub fetch_policy: Arc<crate::fetch::FetchPolicy>,
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
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`AppState::build`], with the clock given (tests hold time still).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let Stores { store, ledger } = open_stores(&config, clock.clone()).await?;
        let keys = Arc::new(
            KeyService::new(store.clone(), Duration::from_millis(config.auth.key_cache_ms))
                .await
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
        let redact_defaults = Arc::new(crate::redact::request::Defaults {
            text: crate::redact::default_text_config(&config.redaction)?,
            image: config.media.image_options(),
            pdf: config.media.pdf_options(),
        });
        let media = if config.redaction.enabled {
            crate::media::load(&config.media, &config.redaction.onnxruntime_library)?
        } else {
            None
        };
        let fetch_policy =
            config.media.fetch_policy().map_err(|(key, e)| anyhow::anyhow!("{key}: {e}"))?;
        let redactor: Arc<dyn RequestRedactor> = if config.redaction.enabled {
            Arc::new(crate::redact::ChatRedactor {
                pipeline: pipeline.clone(),
                defaults: (*redact_defaults).clone(),
                media: media.clone(),
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
            media,
            fetch_policy: Arc::new(fetch_policy),
            wallet_auth: Arc::new(WalletAuth::new(store.clone(), clock.clone())),
            stripe,
            webhook_secrets: Arc::new(webhook_secrets),
            ledger,
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

/// The configured store and the ledger on it.
pub struct Stores {
    pub store: Arc<dyn Store>,
    pub ledger: Arc<dyn Ledger>,
}

/// Opens `database_url`: an SQLite file, or a PostgreSQL pool (both
/// migrated before they are returned).
pub async fn open_stores(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Stores> {
    if let Some(path) = config.database_url.sqlite_path() {
        let store = Arc::new(
            SqliteStore::open(std::path::Path::new(path))
                .with_context(|| format!("cannot open the SQLite database at {path}"))?,
        );
        let ledger = SqliteLedger::new(store.clone(), clock).context("cannot start the ledger")?;
        return Ok(Stores { store, ledger: Arc::new(ledger) });
    }
    let store = PgStore::connect(&config.database_url.0, config.database_max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot open the PostgreSQL database {}",
                config.database_url.without_credentials()
            )
        })?;
    let ledger = PgLedger::new(&store, clock);
    Ok(Stores { store: Arc::new(store), ledger: Arc::new(ledger) })
}
