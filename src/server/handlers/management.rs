//! What every wallet-signed route shares: rate limits, then the signature
//! checks of DESIGN §8.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::auth::wallet::{Action, VerifiedWallet, credentials};
use crate::error::ApiError;
use crate::limits::KeyLimits;
use crate::state::AppState;

/// Rate-limits the caller's IP (before any check, so floods of bad
/// signatures are cheap to refuse), verifies the credentials for `action`,
/// then rate-limits the wallet (after, so nobody can spend another wallet's
/// allowance).
pub async fn authorize(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Option<&Map<String, Value>>,
    action: Action,
    key_id: Option<&str>,
) -> Result<VerifiedWallet, ApiError> {
    let server = &state.config.server;
    limit(state, format!("mgmt-ip:{}", peer.ip()), server.management_ip_rpm).await?;
    let creds = credentials(headers, body)?;
    let wallet = state.wallet_auth.verify(creds, action, key_id).await?;
    limit(state, format!("mgmt-wallet:{}", wallet.address), server.management_rpm).await?;
    Ok(wallet)
}

async fn limit(state: &AppState, id: String, rpm: u32) -> Result<(), ApiError> {
    let limits =
        KeyLimits { key_id: id, rpm: u64::from(rpm), tpm: u64::MAX / 4, daily: u64::MAX / 4 };
    state
        .limiter
        .admit(&limits, 0, state.clock.now_ms())
        .await
        .map(|_| ())
        .map_err(crate::limits::LimitError::into_api_error)
}

/// Unix milliseconds as RFC 3339 UTC.
pub fn iso_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}
