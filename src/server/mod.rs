//! The HTTP server: router, layer stack, graceful shutdown.
//!
//! # Layer stack, outermost first
//!
//! 1. `request_id` — adds `RequestId` to the extensions, `X-Request-Id` to
//!    every response (the client's when acceptable), one log line per request.
//! 2. body limit — `server.max_body_bytes`; over it, 413 `request_too_large`
//!    (raised by the `JsonObject` extractor).
//! 3. `require_api_key` (on `/v1/*` only) — 401s; adds `AuthedKey`.
//! 4. `rate_limit_headers` (on `/v1/*` only) — `X-RateLimit-*` and OpenAI's
//!    `x-ratelimit-*` on every authenticated response, from the handler's
//!    `LimitStatus` response extension or the limiter's current state.
//! 5. handler — scope check, then the pipeline (limits → hold → redaction →
//!    upstream → settle) in `handlers::chat`.
//!
//! `cors` sits between 1 and 2 and answers preflight requests itself.
//!
//! `/v1/*` needs an API key; `/api/v1/*` needs a wallet signature
//! (`handlers::management::authorize`, called by each handler, which also
//! rate-limits per IP and per wallet). The allowlist of routes that need
//! neither: `GET /health`, `GET /api/v1/billing/credit-packs`,
//! `GET /api/v1/billing/{success,cancel}`, and `POST /api/v1/billing/webhook`
//! (which verifies `Stripe-Signature` instead).

mod cors;
mod envelope;
mod extract;
pub mod handlers;
mod layers;

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::routing::{delete, get, post};
use tokio::net::TcpListener;

use crate::auth::KeySpec;
use crate::auth::keys::KeyMode;
use crate::billing::money::usd_f64_to_micro;
use crate::billing::{Account, Credit, EntryKind};
use crate::error::ApiError;
use crate::state::AppState;

pub use extract::{AuthedKey, JsonObject, RequestId};

/// Wallet that owns the bootstrap test key.
pub const BOOTSTRAP_WALLET: &str = "0x0000000000000000000000000000000000000001";

/// The whole application; tests call this and serve it on `127.0.0.1:0`.
pub fn app(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/models", get(handlers::models::list))
        .route("/models/{id}", get(handlers::models::retrieve))
        .route("/chat/completions", post(handlers::chat::completions))
        .route("/pii/preview", post(handlers::preview::preview))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            layers::rate_limit_headers,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), layers::require_api_key));
    use handlers::{billing, keys};
    let api = Router::new()
        .route("/keys", get(keys::list_get).post(keys::list_or_create))
        .route("/keys/{key_id}", delete(keys::revoke))
        .route("/billing/credit-packs", get(billing::credit_packs))
        .route("/billing/balance", get(billing::balance_get).post(billing::balance_post))
        .route("/billing/ledger", get(billing::ledger_get).post(billing::ledger_post))
        .route("/billing/checkout", post(billing::checkout))
        .route("/billing/success", get(billing::success))
        .route("/billing/cancel", get(billing::cancel))
        .route("/billing/webhook", post(billing::webhook));
    Router::new()
        .route("/health", get(handlers::health::health))
        .nest("/v1", v1)
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config.server.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors::cors))
        .layer(axum::middleware::from_fn(layers::request_id))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("Route {}", uri.path().chars().take(200).collect::<String>()))
}

/// Creates the bootstrap test key, with `billing.bootstrap_test_usd` of
/// test credits, when the store has no key at all; returns its secret so
/// the caller can show it once.
pub async fn bootstrap_key(state: &AppState) -> anyhow::Result<Option<String>> {
    let keys = &state.keys;
    if keys.store().count_keys().await? > 0 {
        return Ok(None);
    }
    let created = keys.create(KeySpec::new(BOOTSTRAP_WALLET, "bootstrap", KeyMode::Test)).await?;
    let amount = usd_f64_to_micro(state.config.billing.bootstrap_test_usd);
    if amount > 0 {
        let account = Account { wallet: BOOTSTRAP_WALLET.into(), mode: KeyMode::Test };
        let credit =
            Credit { account, kind: EntryKind::Grant, amount, reference: Some("bootstrap".into()) };
        state.ledger.credit(credit).await?;
    }
    Ok(Some(created.secret))
}

/// Binds `config.listen` and serves until SIGINT/SIGTERM, then drains.
pub async fn run(state: AppState) -> anyhow::Result<()> {
    let addr = state.config.listen.clone();
    let listener =
        TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    serve(listener, state).await
}

/// Serves on an already bound listener until shutdown is signalled (or
/// `state.shutdown` is cancelled), then drains in-flight requests for at
/// most `server.shutdown_grace_secs` and waits for background settlements.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    // Alone on the store: every open hold is a stopped process's.
    if state.store.claim_server().await? {
        let released = state.ledger.release_stale_holds(state.clock.now_ms() + 1).await?;
        if released > 0 {
            tracing::warn!(
                released,
                "released holds left open by a stopped process (nothing charged)"
            );
        }
    } else {
        release_stale_holds(&state).await?;
    }
    if state.config.bootstrap_key
        && let Some(secret) = bootstrap_key(&state).await?
    {
        println!("Bootstrap test key (shown once, store it now):\n{secret}");
    }
    // Load the tokenizers before accepting traffic, so no request pays for it.
    tokio::task::spawn_blocking(crate::tokens::warm_up).await?;
    let flusher = spawn_touch_flusher(&state);
    let sweeper = spawn_hold_sweeper(&state);
    tracing::info!(addr = %local, models = state.catalog.iter().count(), "veil listening");
    println!("Veil listening on http://{local}");

    let shutdown = state.shutdown.clone();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let grace = Duration::from_secs_f64(state.config.server.shutdown_grace_secs);
    let tasks = state.tasks.clone();
    let keys = state.keys.clone();
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown({
            let shutdown = shutdown.clone();
            async move { shutdown.cancelled().await }
        })
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result?,
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "grace period over; closing open connections");
        }
    }
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(30), tasks.wait()).await.is_err() {
        tracing::error!(pending = tasks.len(), "background settlements did not finish in time");
    }
    let _ = flusher.await;
    let _ = sweeper.await;
    keys.flush_touches().await?;
    tracing::info!("veil stopped");
    Ok(())
}

/// Writes batched `last_used_at` times every `auth.last_used_flush_secs`
/// until shutdown.
fn spawn_touch_flusher(state: &AppState) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs_f64(state.config.auth.last_used_flush_secs);
    let keys = state.keys.clone();
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            if let Err(err) = keys.flush_touches().await {
                tracing::warn!(error = %err, "could not write last_used_at");
            }
        }
    })
}

/// How old an open hold must be before any replica may release it: no
/// request outlives its provider's timeout plus the shutdown grace, so an
/// older open hold belongs to a process that died.
pub fn stale_hold_after(config: &crate::config::Config) -> Duration {
    let longest = config.providers.iter().map(|p| p.timeout_secs).fold(0.0, f64::max);
    Duration::from_secs_f64(longest + config.server.shutdown_grace_secs) + STALE_HOLD_MARGIN
}

/// Added to [`stale_hold_after`] for clock skew between replicas.
const STALE_HOLD_MARGIN: Duration = Duration::from_secs(60);

/// How often a running server looks for stale holds.
const HOLD_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Releases (uncharged) the open holds older than [`stale_hold_after`]:
/// those of a replica that crashed. Holds of live replicas are younger.
async fn release_stale_holds(state: &AppState) -> anyhow::Result<u64> {
    let age = i64::try_from(stale_hold_after(&state.config).as_millis()).unwrap_or(i64::MAX);
    let released = state.ledger.release_stale_holds(state.clock.now_ms() - age).await?;
    if released > 0 {
        tracing::warn!(released, "released holds left open by a stopped process (nothing charged)");
    }
    Ok(released)
}

fn spawn_hold_sweeper(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOLD_SWEEP_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = state.shutdown.cancelled() => return,
            }
            if let Err(err) = release_stale_holds(&state).await {
                tracing::warn!(error = %err, "could not release stale holds");
            }
        }
    })
}

async fn wait_for_signal(shutdown: tokio_util::sync::CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
        () = shutdown.cancelled() => return,
    }
    tracing::info!("shutdown signal received; draining in-flight requests");
    shutdown.cancel();
}
