//! `/api/v1/keys`: a wallet lists, creates and revokes its API keys with
//! signed messages. `POST /api/v1/keys` lists or creates, as the signed
//! action says; the secret is returned once, at creation.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::management::{authorize, iso_time};
use crate::auth::KeySpec;
use crate::auth::keys::{ApiKeyRecord, KeyMode, Scope};
use crate::auth::wallet::{Action, parse_message};
use crate::error::ApiError;
use crate::limits::KeyLimits;
use crate::server::envelope::{Envelope, EnvelopeResult, OptionalJson};
use crate::state::AppState;

/// Active keys a wallet may hold.
pub const MAX_ACTIVE_KEYS: usize = 100;

type Peer = ConnectInfo<std::net::SocketAddr>;

fn key_json(state: &AppState, key: &ApiKeyRecord) -> Value {
    let limits = KeyLimits::resolve(key, &state.config.plans);
    json!({
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "mode": key.mode.as_str(),
        "status": if key.active { "active" } else { "revoked" },
        "plan": key.plan,
        "limits": {"rpm": limits.rpm, "tpm": limits.tpm, "dailyRequests": limits.daily},
        "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "createdAt": iso_time(key.created_at_ms),
        "lastUsedAt": key.last_used_at_ms.map(iso_time),
    })
}

async fn list(state: &AppState, wallet: String) -> EnvelopeResult<Value> {
    let keys = state.keys.store().list_keys(&wallet).await.map_err(ApiError::from)?;
    let data: Vec<Value> = keys.iter().map(|k| key_json(state, k)).collect();
    Ok(Envelope(json!({ "keys": data })))
}

/// `GET /api/v1/keys` (credentials in headers).
pub async fn list_get(
    State(state): State<AppState>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
) -> EnvelopeResult<Value> {
    let wallet = authorize(&state, peer, &headers, None, Action::KeysList, None).await?;
    list(&state, wallet.address).await
}

/// `POST /api/v1/keys`: `keys.list` or `keys.create`, per the signed action.
pub async fn list_or_create(
    State(state): State<AppState>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson,
) -> EnvelopeResult<Value> {
    let signed_action =
        body.get("message").and_then(Value::as_str).and_then(parse_message).and_then(|m| m.action);
    if signed_action.as_deref() != Some(Action::KeysCreate.as_str()) {
        let wallet = authorize(&state, peer, &headers, Some(&body), Action::KeysList, None).await?;
        return list(&state, wallet.address).await;
    }
    let wallet = authorize(&state, peer, &headers, Some(&body), Action::KeysCreate, None).await?;
    let spec = create_spec(&body, wallet.address)?;
    let keys = &state.keys;
    let active = keys
        .store()
        .list_keys(&spec.wallet)
        .await
        .map_err(ApiError::from)?
        .iter()
        .filter(|k| k.active)
        .count();
    if active >= MAX_ACTIVE_KEYS {
        let message =
            format!("This wallet already has {MAX_ACTIVE_KEYS} active keys; revoke one first.");
        return Err(ApiError::validation("name", message).into());
    }
    let created = keys.create(spec).await.map_err(ApiError::from)?;
    let mut data = key_json(&state, &created.record);
    data["key"] = Value::String(created.secret);
    Ok(Envelope(data))
}

fn create_spec(body: &Map<String, Value>, wallet: String) -> Result<KeySpec, ApiError> {
    let name = match body.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(n)) if n.chars().count() <= 100 => n.clone(),
        Some(_) => {
            return Err(ApiError::validation(
                "name",
                "`name` must be a string of at most 100 characters.",
            ));
        }
    };
    let mode = match body.get("mode").and_then(Value::as_str) {
        None => KeyMode::Live,
        Some(m) => KeyMode::parse(m)
            .ok_or_else(|| ApiError::validation("mode", "`mode` must be \"live\" or \"test\"."))?,
    };
    let scopes = match body.get("scopes") {
        None | Some(Value::Null) => Scope::ALL.to_vec(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| s.as_str().and_then(Scope::parse))
            .collect::<Option<Vec<_>>>()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::validation(
                    "scopes",
                    "`scopes` must list some of \"chat\", \"pii_preview\", \"models\".",
                )
            })?,
        Some(_) => return Err(ApiError::validation("scopes", "`scopes` must be an array.")),
    };
    // The plan and its limits are the operator's to set, not the wallet's.
    Ok(KeySpec {
        wallet,
        name,
        mode,
        plan: "free".into(),
        rpm: None,
        tpm: None,
        daily_requests: None,
        scopes,
    })
}

/// `DELETE /api/v1/keys/{keyId}`. Revoking a revoked key is a success.
pub async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(peer): Peer,
    Path(key_id): Path<String>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson,
) -> EnvelopeResult<Value> {
    let wallet =
        authorize(&state, peer, &headers, Some(&body), Action::KeysRevoke, Some(&key_id)).await?;
    let keys = &state.keys;
    let not_found = || ApiError::NotFound(format!("Key {key_id}"));
    let key =
        keys.store().find_key(&key_id).await.map_err(ApiError::from)?.ok_or_else(not_found)?;
    if key.wallet != wallet.address {
        return Err(not_found().into());
    }
    keys.revoke(&key_id).await.map_err(ApiError::from)?;
    let record =
        keys.store().find_key(&key_id).await.map_err(ApiError::from)?.ok_or_else(not_found)?;
    Ok(Envelope(key_json(&state, &record)))
}
