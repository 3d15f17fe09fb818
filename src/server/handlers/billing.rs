//! `/api/v1/billing/*`: credit packs, balance and ledger (wallet-signed),
//! Stripe Checkout, its redirect pages, and the webhook that credits a paid
//! session exactly once.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use serde_json::{Map, Value, json};

use super::management::{authorize, iso_time};
use crate::auth::keys::KeyMode;
use crate::auth::wallet::Action;
use crate::billing::money::{format_usd, usd_f64_to_micro};
use crate::billing::stripe::{CheckoutRequest, StripeError, verify_signature};
use crate::billing::{Account, Balance, Credit, Entry, EntryKind, EntryQuery, LedgerError};
use crate::config::PackConfig;
use crate::error::ApiError;
use crate::server::envelope::{Envelope, EnvelopeResult, OptionalJson};
use crate::state::AppState;

type Peer = ConnectInfo<std::net::SocketAddr>;

/// Entries per ledger page unless `limit` says otherwise (at most 200).
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

fn pack_json(pack: &PackConfig) -> Value {
    json!({
        "id": pack.id,
        "name": pack.name,
        "priceUsd": format!("{:.2}", pack.price_usd),
        "creditsUsd": format_usd(usd_f64_to_micro(pack.credits_usd)),
    })
}

/// `GET /api/v1/billing/credit-packs` (public).
pub async fn credit_packs(State(state): State<AppState>) -> Envelope<Value> {
    let packs: Vec<Value> = state.config.billing.packs.iter().map(pack_json).collect();
    Envelope(json!({ "packs": packs }))
}

fn balance_json(b: &Balance, holds: Vec<crate::billing::OpenHold>) -> Value {
    json!({
        "balanceUsd": format_usd(b.balance),
        "heldUsd": format_usd(b.held),
        "availableUsd": format_usd(b.available),
        "balanceMicroUsd": b.balance,
        "heldMicroUsd": b.held,
        "availableMicroUsd": b.available,
        "openHolds": holds.iter().map(|h| json!({
            "holdId": h.hold_id, "amountUsd": format_usd(h.amount), "keyId": h.key_id,
            "requestId": h.request_id, "model": h.model, "createdAt": iso_time(h.created_at_ms),
        })).collect::<Vec<_>>(),
    })
}

async fn balance(state: &AppState, wallet: &str) -> EnvelopeResult<Value> {
    let mut data = json!({ "wallet": wallet });
    for mode in [KeyMode::Live, KeyMode::Test] {
        let account = Account { wallet: wallet.to_owned(), mode };
        let b = state.ledger.balance(account.clone()).await.map_err(LedgerError::into_api_error)?;
        let holds =
            state.ledger.open_holds(account, 100).await.map_err(LedgerError::into_api_error)?;
        data[mode.as_str()] = balance_json(&b, holds);
    }
    Ok(Envelope(data))
}

/// `GET /api/v1/billing/balance` (credentials in headers).
pub async fn balance_get(
    State(state): State<AppState>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
) -> EnvelopeResult<Value> {
    let wallet = authorize(&state, peer, &headers, None, Action::BillingBalance, None).await?;
    balance(&state, &wallet.address).await
}

/// `POST /api/v1/billing/balance`.
pub async fn balance_post(
    State(state): State<AppState>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson,
) -> EnvelopeResult<Value> {
    let wallet =
        authorize(&state, peer, &headers, Some(&body), Action::BillingBalance, None).await?;
    balance(&state, &wallet.address).await
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "id": e.id.to_string(),
        "kind": e.kind.as_str(),
        "mode": e.mode.as_str(),
        "amountUsd": format_usd(e.amount),
        "amountMicroUsd": e.amount,
        "balanceAfterUsd": format_usd(e.balance_after),
        "availableAfterUsd": format_usd(e.available_after),
        "keyId": e.key_id,
        "requestId": e.request_id,
        "model": e.model,
        "promptTokens": e.prompt_tokens,
        "completionTokens": e.completion_tokens,
        "reference": e.reference,
        "createdAt": iso_time(e.created_at_ms),
    })
}

/// A filter value from the body (POST; strings or numbers) or the query (GET).
fn filter(
    query: &HashMap<String, String>,
    body: &Map<String, Value>,
    name: &str,
) -> Option<String> {
    match body.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => query.get(name).cloned(),
    }
}

/// RFC 3339 or Unix seconds.
fn parse_time(field: &str, value: &str) -> Result<i64, ApiError> {
    if let Ok(secs) = value.parse::<i64>() {
        return Ok(secs.saturating_mul(1000));
    }
    chrono::DateTime::parse_from_rfc3339(value).map(|t| t.timestamp_millis()).map_err(|_| {
        ApiError::validation(field, format!("`{field}` must be RFC 3339 or Unix seconds."))
    })
}

async fn ledger(
    state: &AppState,
    wallet: String,
    query: &HashMap<String, String>,
    body: &Map<String, Value>,
) -> EnvelopeResult<Value> {
    let get = |name| filter(query, body, name);
    let limit = match get("limit").as_deref() {
        None => DEFAULT_PAGE,
        Some(l) => {
            l.parse::<u32>().ok().filter(|l| (1..=MAX_PAGE).contains(l)).ok_or_else(|| {
                ApiError::validation("limit", format!("`limit` must be 1 to {MAX_PAGE}."))
            })?
        }
    };
    let after_id = get("cursor")
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::validation("cursor", "`cursor` is not one this API returned.")
            })
        })
        .transpose()?;
    let mode = get("mode")
        .as_deref()
        .map(|m| {
            KeyMode::parse(m)
                .ok_or_else(|| ApiError::validation("mode", "`mode` must be \"live\" or \"test\"."))
        })
        .transpose()?;
    let q = EntryQuery {
        wallet,
        mode,
        key_id: get("keyId"),
        request_id: get("requestId"),
        since_ms: get("from").map(|v| parse_time("from", &v)).transpose()?,
        until_ms: get("to").map(|v| parse_time("to", &v)).transpose()?,
        after_id,
        // One more than asked, to know whether there is a next page.
        limit: limit + 1,
    };
    let mut entries = state.ledger.entries(q).await.map_err(LedgerError::into_api_error)?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next = if more { entries.last().map(|e| e.id.to_string()) } else { None };
    Ok(Envelope(json!({
        "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
        "nextCursor": next,
    })))
}

/// `GET /api/v1/billing/ledger?keyId=&requestId=&from=&to=&mode=&cursor=&limit=`
/// (filters in the query, credentials in headers).
pub async fn ledger_get(
    State(state): State<AppState>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> EnvelopeResult<Value> {
    let wallet = authorize(&state, peer, &headers, None, Action::BillingLedger, None).await?;
    ledger(&state, wallet.address, &query, &Map::new()).await
}

/// `POST /api/v1/billing/ledger` (filters in the body).
pub async fn ledger_post(
    State(state): State<AppState>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson,
) -> EnvelopeResult<Value> {
    let wallet =
        authorize(&state, peer, &headers, Some(&body), Action::BillingLedger, None).await?;
    ledger(&state, wallet.address, &HashMap::new(), &body).await
}

/// `POST /api/v1/billing/checkout` with `packId`: a Stripe Checkout Session
/// whose payment credits the wallet's live balance.
pub async fn checkout(
    State(state): State<AppState>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson,
) -> EnvelopeResult<Value> {
    let wallet =
        authorize(&state, peer, &headers, Some(&body), Action::BillingCheckout, None).await?;
    let pack_id =
        body.get("packId").or_else(|| body.get("pack_id")).and_then(Value::as_str).ok_or_else(
            || ApiError::validation("packId", "`packId` names the credit pack to buy."),
        )?;
    let pack = state.config.billing.packs.iter().find(|p| p.id == pack_id).ok_or_else(|| {
        ApiError::validation("packId", format!("There is no credit pack `{pack_id}`."))
    })?;
    let base = state.config.public_url();
    let request = CheckoutRequest {
        wallet: wallet.address.clone(),
        pack_id: pack.id.clone(),
        pack_name: pack.name.clone(),
        price_cents: (pack.price_usd * 100.0).round() as i64,
        credits_micro: usd_f64_to_micro(pack.credits_usd),
        success_url: format!("{base}/api/v1/billing/success?session_id={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{base}/api/v1/billing/cancel"),
        idempotency_key: format!("veil-checkout-{}-{}", wallet.address, wallet.nonce),
    };
    let session = state.stripe.create_checkout(&request).await.map_err(|err| match err {
        StripeError::NotConfigured(_) => ApiError::NotConfigured("Stripe checkout"),
        other => ApiError::Upstream(other.to_string()),
    })?;
    Ok(Envelope(json!({
        "sessionId": session.id,
        "url": session.url,
        "pack": pack_json(pack),
    })))
}

/// `GET /api/v1/billing/success`: where Stripe sends the buyer back.
pub async fn success() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Payment received</title><h1>Payment received</h1>\
         <p>Your credits are added as soon as Stripe confirms the payment, usually within seconds.</p>",
    )
}

/// `GET /api/v1/billing/cancel`.
pub async fn cancel() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Payment cancelled</title><h1>Payment cancelled</h1><p>Nothing was charged.</p>",
    )
}

/// `POST /api/v1/billing/webhook`: verifies `Stripe-Signature`, then credits
/// a paid Checkout Session once (the session id is the ledger reference, so
/// retries and out-of-order deliveries cannot credit twice).
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> EnvelopeResult<Value> {
    if state.webhook_secrets.is_empty() {
        return Err(ApiError::NotConfigured("The Stripe webhook secret").into());
    }
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::WebhookSignature("the header is missing".into()))?;
    let now_s = state.clock.now_ms() / 1000;
    verify_signature(
        signature,
        &body,
        &state.webhook_secrets,
        now_s,
        state.config.billing.stripe.tolerance_secs,
    )
    .map_err(|e| ApiError::WebhookSignature(e.to_string()))?;
    let event: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::validation("body", "The event is not JSON."))?;
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let session = event.pointer("/data/object").cloned().unwrap_or(Value::Null);
    let paid = match kind {
        "checkout.session.completed" => {
            session.get("payment_status").and_then(Value::as_str) == Some("paid")
        }
        "checkout.session.async_payment_succeeded" => true,
        _ => false,
    };
    if !paid {
        return Ok(Envelope(json!({"received": true, "credited": false})));
    }
    let session_id = session
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("data.object.id", "The session has no id."))?;
    let wallet = session
        .pointer("/metadata/wallet")
        .and_then(Value::as_str)
        .and_then(crate::auth::keys::normalize_wallet)
        .ok_or_else(|| {
            ApiError::validation("data.object.metadata.wallet", "The session names no wallet.")
        })?;
    // Credits come from our own pack table; the metadata Veil wrote at
    // checkout is the fallback for a pack removed since.
    let pack_id = session.pointer("/metadata/pack_id").and_then(Value::as_str);
    let credits = state
        .config
        .billing
        .packs
        .iter()
        .find(|p| Some(p.id.as_str()) == pack_id)
        .map(|p| usd_f64_to_micro(p.credits_usd))
        .or_else(|| {
            session
                .pointer("/metadata/credits_micro_usd")
                .and_then(Value::as_str)
                .and_then(|c| c.parse().ok())
        })
        .filter(|c: &i64| *c > 0)
        .ok_or_else(|| {
            ApiError::validation("data.object.metadata.pack_id", "The session names no known pack.")
        })?;
    let credit = Credit {
        account: Account { wallet: wallet.clone(), mode: KeyMode::Live },
        kind: EntryKind::Purchase,
        amount: credits,
        reference: Some(session_id.to_owned()),
    };
    let credited = state.ledger.credit(credit).await.map_err(LedgerError::into_api_error)?;
    if credited.new {
        tracing::info!(session = %session_id, credits, "credit pack purchased");
    }
    Ok(Envelope(json!({"received": true, "credited": credited.new})))
}
