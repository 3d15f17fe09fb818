//! Stripe: creating a Checkout Session through the REST API, and verifying
//! webhook signatures. Only what Veil uses; the base URL is configurable so
//! tests run a local fake of the one endpoint.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::StripeConfig;

/// What a checkout needs from a pack.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub wallet: String,
    pub pack_id: String,
    pub pack_name: String,
    pub price_cents: i64,
    pub credits_micro: i64,
    pub success_url: String,
    pub cancel_url: String,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("payments are not configured (no secret key in ${0})")]
    NotConfigured(String),
    #[error("cannot reach Stripe: {0}")]
    Transport(String),
    #[error("Stripe answered {status}: {message}")]
    Api { status: u16, message: String },
}

pub struct StripeClient {
    endpoint: String,
    secret_key: Option<String>,
    secret_key_env: String,
    http: reqwest::Client,
}

impl StripeClient {
    /// Reads the secret key from the environment variable the config names.
    pub fn from_config(config: &StripeConfig) -> anyhow::Result<Self> {
        Ok(Self {
            endpoint: format!("{}/v1/checkout/sessions", config.api_base.trim_end_matches('/')),
            secret_key: std::env::var(&config.secret_key_env).ok().filter(|k| !k.is_empty()),
            secret_key_env: config.secret_key_env.clone(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
        })
    }

    /// `POST /v1/checkout/sessions`, form-encoded, with an Idempotency-Key.
    pub async fn create_checkout(
        &self,
        req: &CheckoutRequest,
    ) -> Result<CheckoutSession, StripeError> {
        let key = self
            .secret_key
            .as_ref()
            .ok_or_else(|| StripeError::NotConfigured(self.secret_key_env.clone()))?;
        let form: Vec<(&str, String)> = vec![
            ("mode", "payment".into()),
            ("success_url", req.success_url.clone()),
            ("cancel_url", req.cancel_url.clone()),
            ("client_reference_id", req.wallet.clone()),
            ("line_items[0][quantity]", "1".into()),
            ("line_items[0][price_data][currency]", "usd".into()),
            ("line_items[0][price_data][unit_amount]", req.price_cents.to_string()),
            ("line_items[0][price_data][product_data][name]", req.pack_name.clone()),
            ("metadata[wallet]", req.wallet.clone()),
            ("metadata[pack_id]", req.pack_id.clone()),
            ("metadata[credits_micro_usd]", req.credits_micro.to_string()),
        ];
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| StripeError::Transport(e.to_string()))?;
        let response = self
            .http
            .post(&self.endpoint)
            .bearer_auth(key)
            .header("Idempotency-Key", &req.idempotency_key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| StripeError::Transport(e.to_string()))?;
        let status = response.status();
        let json: Value =
            response.json().await.map_err(|e| StripeError::Transport(e.to_string()))?;
        if !status.is_success() {
            let message =
                json.pointer("/error/message").and_then(Value::as_str).unwrap_or("no message");
            return Err(StripeError::Api { status: status.as_u16(), message: message.to_owned() });
        }
        match (json.get("id").and_then(Value::as_str), json.get("url").and_then(Value::as_str)) {
            (Some(id), Some(url)) => Ok(CheckoutSession { id: id.to_owned(), url: url.to_owned() }),
            _ => Err(StripeError::Api {
                status: status.as_u16(),
                message: "session without id or url".into(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Verifies a `Stripe-Signature` header (`t=...,v1=...[,v1=...]`): some
/// `v1` must be HMAC-SHA256 of `"{t}.{body}"` under one of `secrets`
/// (several during a rotation), and `t` within `tolerance_s` of `now_s`.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secrets: &[String],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.extend(hex::decode(sig).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::Malformed)?;
    if signatures.is_empty() {
        return Err(WebhookError::Malformed);
    }
    if (now_s - timestamp).abs() > tolerance_s {
        return Err(WebhookError::Stale);
    }
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { continue };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        if signatures.iter().any(|sig| bool::from(sig.as_slice().ct_eq(expected.as_slice()))) {
            return Ok(());
        }
    }
    Err(WebhookError::Mismatch)
}

/// Signs a payload as Stripe does (for tests and local tooling).
pub fn sign_payload(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;

    #[test]
    fn accepts_a_valid_signature_and_any_rotated_secret() {
        let header = sign_payload("whsec_new", 1_000, BODY);
        let secrets = ["whsec_old".to_string(), "whsec_new".to_string()];
        assert_eq!(verify_signature(&header, BODY, &secrets, 1_100, 300), Ok(()));
        // Stripe sends one v1 per active secret while a secret is rolled.
        let old = sign_payload("whsec_old", 1_000, BODY);
        let both = format!("{header},{}", old.split(',').nth(1).unwrap());
        assert_eq!(verify_signature(&both, BODY, &["whsec_old".into()], 1_000, 300), Ok(()));
    }

    #[test]
    fn refuses_wrong_secret_stale_time_tampering_and_junk() {
        let header = sign_payload("whsec_a", 1_000, BODY);
        assert_eq!(
            verify_signature(&header, BODY, &["whsec_b".into()], 1_000, 300),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify_signature(&header, BODY, &["whsec_a".into()], 1_301, 300),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify_signature(&header, b"{}", &["whsec_a".into()], 1_000, 300),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify_signature("v1=abc", BODY, &["whsec_a".into()], 1_000, 300),
            Err(WebhookError::Malformed)
        );
        assert_eq!(
            verify_signature("t=1000", BODY, &["whsec_a".into()], 1_000, 300),
            Err(WebhookError::Malformed)
        );
    }
}
