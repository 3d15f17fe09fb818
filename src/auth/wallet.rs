//! Wallet-signed management calls (DESIGN §8): EIP-191 `personal_sign`
//! recovery, the signed message's format, and the checks in their fixed
//! order, each with its own error code.
//!
//! The message is UTF-8 text a wallet shows to its owner:
//!
//! ```text
//! Veil API request
//! Action: keys.revoke
//! Key ID: key_8Jx2...
//! Nonce: 4f1c9a0b7d2e6a35
//! Timestamp: 2026-11-23T08:00:00Z
//! ```
//!
//! Credentials travel in the JSON body (`walletAddress`, `message`,
//! `signature`) or in the headers `X-Wallet-Address`, `X-Wallet-Message`
//! (base64url of the message) and `X-Wallet-Signature`; never in the query.

use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use serde_json::{Map, Value};
use sha3::{Digest, Keccak256};

use super::keys::normalize_wallet;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::store::StoreError;

/// First line of every signed message.
pub const MESSAGE_HEADER: &str = "Veil API request";
/// Accepted distance between the message's timestamp and now.
pub const WINDOW_MS: i64 = 300_000;

/// The management actions a message may authorize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    KeysList,
    KeysCreate,
    KeysRevoke,
    BillingBalance,
    BillingLedger,
    BillingCheckout,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeysList => "keys.list",
            Self::KeysCreate => "keys.create",
            Self::KeysRevoke => "keys.revoke",
            Self::BillingBalance => "billing.balance",
            Self::BillingLedger => "billing.ledger",
            Self::BillingCheckout => "billing.checkout",
        }
    }
}

/// Credentials as sent, before any check.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub wallet_address: String,
    pub message: String,
    pub signature: String,
}

/// A wallet that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWallet {
    /// Lower-case `0x` address.
    pub address: String,
    pub nonce: String,
}

fn wallet_error(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::WalletAuth { code, message: message.into() }
}

/// Reads credentials from the body (when it has them) or the headers.
pub fn credentials(
    headers: &HeaderMap,
    body: Option<&Map<String, Value>>,
) -> Result<Credentials, ApiError> {
    let from_body =
        |field: &str| body.and_then(|b| b.get(field)).and_then(Value::as_str).map(str::to_owned);
    if let (Some(wallet_address), Some(message), Some(signature)) =
        (from_body("walletAddress"), from_body("message"), from_body("signature"))
    {
        return Ok(Credentials { wallet_address, message, signature });
    }
    let header = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).map(str::to_owned)
    };
    match (header("x-wallet-address"), header("x-wallet-message"), header("x-wallet-signature")) {
        (Some(wallet_address), Some(encoded), Some(signature)) => {
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    ApiError::validation(
                        "X-Wallet-Message",
                        "X-Wallet-Message must be base64url of UTF-8 text.",
                    )
                })?;
            Ok(Credentials { wallet_address, message: decoded, signature })
        }
        _ => Err(ApiError::MissingWalletAuth),
    }
}

/// keccak256("\x19Ethereum Signed Message:\n" + len + message).
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

/// The address that signed `message` with `signature_hex` (65 bytes r‖s‖v,
/// v ∈ {27, 28} or {0, 1}), lower-case `0x` hex.
pub fn recover_address(message: &str, signature_hex: &str) -> Result<String, String> {
    let hex = signature_hex.strip_prefix("0x").unwrap_or(signature_hex);
    let bytes = hex::decode(hex).map_err(|e| format!("signature is not hex: {e}"))?;
    let [body @ .., v] = bytes.as_slice() else {
        return Err("signature is empty".into());
    };
    if body.len() != 64 {
        return Err(format!("signature must be 65 bytes, got {}", bytes.len()));
    }
    let v = match *v {
        27 | 28 => v - 27,
        0 | 1 => *v,
        other => return Err(format!("signature v must be 27 or 28, got {other}")),
    };
    let mut signature = Signature::from_slice(body).map_err(|e| format!("signature: {e}"))?;
    let mut recovery = RecoveryId::from_byte(v).ok_or("bad recovery id")?;
    if let Some(low) = signature.normalize_s() {
        // The same signature with s mirrored into the lower half.
        signature = low;
        recovery = RecoveryId::new(!recovery.is_y_odd(), recovery.is_x_reduced());
    }
    let key =
        VerifyingKey::recover_from_prehash(&eip191_hash(message.as_bytes()), &signature, recovery)
            .map_err(|e| format!("recovery failed: {e}"))?;
    let point = key.to_encoded_point(false);
    let digest = Keccak256::digest(&point.as_bytes()[1..]);
    Ok(format!("0x{}", hex::encode(&digest[12..])))
}

/// The fields of a signed message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedMessage {
    pub action: Option<String>,
    pub key_id: Option<String>,
    pub nonce: Option<String>,
    pub timestamp: Option<String>,
}

/// Parses the message; `None` when it is not a Veil request at all.
pub fn parse_message(message: &str) -> Option<SignedMessage> {
    let mut lines = message.lines().map(str::trim_end);
    if lines.next()? != MESSAGE_HEADER {
        return None;
    }
    let mut parsed = SignedMessage::default();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = Some(value.trim().to_owned());
        match name.trim() {
            "Action" => parsed.action = value,
            "Key ID" => parsed.key_id = value,
            "Nonce" => parsed.nonce = value,
            "Timestamp" => parsed.timestamp = value,
            _ => {}
        }
    }
    Some(parsed)
}

/// Where used nonces are remembered (SQLite or PostgreSQL).
#[async_trait::async_trait]
pub trait NonceStore: Send + Sync {
    /// Records `nonce` for `wallet` until `expires_at_ms`; false when it was
    /// already recorded (a replay). Also forgets expired nonces.
    async fn use_nonce(
        &self,
        wallet: &str,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// Verifies credentials for one route.
pub struct WalletAuth {
    nonces: Arc<dyn NonceStore>,
    clock: Arc<dyn Clock>,
}

impl WalletAuth {
    pub fn new(nonces: Arc<dyn NonceStore>, clock: Arc<dyn Clock>) -> Self {
        Self { nonces, clock }
    }

    /// The checks of DESIGN §8, in order: signature parses and recovers →
    /// recovered address is `walletAddress` → action → key id → timestamp
    /// within ±300 s → nonce unseen.
    pub async fn verify(
        &self,
        credentials: Credentials,
        action: Action,
        key_id: Option<&str>,
    ) -> Result<VerifiedWallet, ApiError> {
        let claimed = normalize_wallet(&credentials.wallet_address).ok_or_else(|| {
            ApiError::validation(
                "walletAddress",
                "walletAddress must be 0x followed by 40 hex digits.",
            )
        })?;
        let message = credentials.message;
        let signature = credentials.signature;
        let recovered = tokio::task::spawn_blocking(move || {
            recover_address(&message, &signature).map(|a| (a, message))
        })
        .await
        .map_err(ApiError::internal)?;
        let (recovered, message) = recovered.map_err(|reason| {
            wallet_error(
                "SIGNATURE_VERIFY_ERROR",
                format!("The signature could not be verified: {reason}."),
            )
        })?;
        if recovered != claimed {
            return Err(wallet_error(
                "SIGNATURE_INVALID",
                "The signature was not made by walletAddress.",
            ));
        }
        let parsed = parse_message(&message).ok_or_else(|| {
            wallet_error(
                "SIGNATURE_INVALID",
                format!("The signed message must start with \"{MESSAGE_HEADER}\"."),
            )
        })?;
        if parsed.action.as_deref() != Some(action.as_str()) {
            return Err(wallet_error(
                "ACTION_MISMATCH",
                format!("The signed action must be `{}` for this route.", action.as_str()),
            ));
        }
        if let Some(expected) = key_id
            && parsed.key_id.as_deref() != Some(expected)
        {
            return Err(wallet_error(
                "KEY_ID_MISMATCH",
                "The signed Key ID is not the key in the path.",
            ));
        }
        let now = self.clock.now_ms();
        let signed_at = parsed
            .timestamp
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
            .ok_or_else(|| {
                wallet_error("MESSAGE_EXPIRED", "The signed Timestamp is missing or not RFC 3339.")
            })?;
        if (now - signed_at).abs() > WINDOW_MS {
            return Err(wallet_error(
                "MESSAGE_EXPIRED",
                "The signed Timestamp is more than 300 seconds from now.",
            ));
        }
        let nonce = parsed
            .nonce
            .filter(|n| (8..=128).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                wallet_error(
                    "NONCE_REPLAY",
                    "The signed Nonce must be 8 to 128 visible characters.",
                )
            })?;
        let fresh = self.nonces.use_nonce(&claimed, &nonce, signed_at + WINDOW_MS, now).await?;
        if !fresh {
            return Err(wallet_error(
                "NONCE_REPLAY",
                "This nonce was already used by this wallet.",
            ));
        }
        Ok(VerifiedWallet { address: claimed, nonce })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with eth-account: Account.from_key("0x" + "11" * 32).sign_message(encode_defunct(text=MSG)).
    const ADDRESS: &str = "0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a";
    const MSG: &str = "Veil API request\nAction: keys.list\nNonce: 4f1c9a0b7d2e6a35\nTimestamp: 2026-11-23T08:00:00Z";
    const SIG: &str = "cb22977453c51040695ce67b15198d9c1bd0ff1dbbe4606e0893fc6773c78b6257b39d2733c1c506370cdf2c14ffd1ee0d64cad31b77c0a8d019807c603355941b";

    #[test]
    fn recovers_the_address_eth_account_signed_with() {
        assert_eq!(recover_address(MSG, SIG).unwrap(), ADDRESS);
        assert_eq!(recover_address(MSG, &format!("0x{SIG}")).unwrap(), ADDRESS);
    }

    #[test]
    fn a_changed_message_recovers_another_address() {
        let tampered = MSG.replace("keys.list", "keys.create");
        assert_ne!(recover_address(&tampered, SIG).unwrap(), ADDRESS);
    }

    #[test]
    fn malformed_signatures_are_errors() {
        assert!(recover_address(MSG, "0xzz").is_err());
        assert!(recover_address(MSG, &SIG[..128]).is_err());
        let bad_v = format!("{}05", &SIG[..128]);
        assert!(recover_address(MSG, &bad_v).is_err());
        assert!(recover_address(MSG, "").is_err());
    }

    fn auth_at(iso: &str) -> (WalletAuth, Arc<crate::clock::ManualClock>) {
        let now = chrono::DateTime::parse_from_rfc3339(iso).unwrap().timestamp_millis();
        let clock = Arc::new(crate::clock::ManualClock::new(now));
        let store = Arc::new(crate::store::SqliteStore::open_in_memory().unwrap());
        (WalletAuth::new(store, clock.clone()), clock)
    }

    fn creds(address: &str) -> Credentials {
        Credentials { wallet_address: address.into(), message: MSG.into(), signature: SIG.into() }
    }

    fn code(result: Result<VerifiedWallet, ApiError>) -> String {
        result.map(|_| "ok".to_string()).unwrap_or_else(|e| e.code().to_string())
    }

    #[tokio::test]
    async fn checks_run_in_the_documented_order() {
        let (auth, clock) = auth_at("2026-11-23T08:04:59Z");
        let other = "0x0000000000000000000000000000000000000001";
        // Address before action: a wrong wallet with a wrong action is SIGNATURE_INVALID.
        assert_eq!(
            code(auth.verify(creds(other), Action::KeysCreate, None).await),
            "SIGNATURE_INVALID"
        );
        // Action before time.
        clock.advance_ms(3_600_000);
        assert_eq!(
            code(auth.verify(creds(ADDRESS), Action::KeysCreate, None).await),
            "ACTION_MISMATCH"
        );
        assert_eq!(
            code(auth.verify(creds(ADDRESS), Action::KeysList, None).await),
            "MESSAGE_EXPIRED"
        );
        clock.set(
            chrono::DateTime::parse_from_rfc3339("2026-11-23T07:55:00Z")
                .unwrap()
                .timestamp_millis(),
        );
        // Key id is checked when the route has one.
        assert_eq!(
            code(auth.verify(creds(ADDRESS), Action::KeysList, Some("key_1")).await),
            "KEY_ID_MISMATCH"
        );
        // The checksummed (mixed-case) form of the address is the same wallet.
        let checksummed = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A";
        assert_eq!(code(auth.verify(creds(checksummed), Action::KeysList, None).await), "ok");
        assert_eq!(code(auth.verify(creds(ADDRESS), Action::KeysList, None).await), "NONCE_REPLAY");
    }

    #[test]
    fn messages_parse() {
        let parsed = parse_message(MSG).unwrap();
        assert_eq!(parsed.action.as_deref(), Some("keys.list"));
        assert_eq!(parsed.nonce.as_deref(), Some("4f1c9a0b7d2e6a35"));
        assert_eq!(parsed.key_id, None);
        assert!(parse_message("Hello\nAction: keys.list").is_none());
        let crlf = MSG.replace('\n', "\r\n");
        assert_eq!(
            parse_message(&crlf).unwrap().timestamp.as_deref(),
            Some("2026-11-23T08:00:00Z")
        );
    }
}
