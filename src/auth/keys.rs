//! API keys: their format, their hash, their record, and the store trait
//! behind them. The secret itself exists only at creation; the store keeps
//! an HMAC-SHA256 of it under the server pepper and the visible prefix.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::StoreError;

/// Characters of the secret kept for listings (`vk_test_AbCd`).
pub const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 40;

/// Whether a key spends live credits or the account's test balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyMode {
    Live,
    Test,
}

impl KeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// What a key may call (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Chat,
    PiiPreview,
    Models,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Chat, Scope::PiiPreview, Scope::Models];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::PiiPreview => "pii_preview",
            Self::Models => "models",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Parses a comma-separated list, refusing unknown names.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| Scope::parse(part).ok_or_else(|| format!("unknown scope `{part}`")))
            .collect()
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }
}

/// A freshly generated secret key.
pub struct NewSecret {
    pub secret: String,
    pub prefix: String,
}

/// Generates `vk_live_` / `vk_test_` + 40 base62 characters.
pub fn generate_secret(mode: KeyMode) -> NewSecret {
    let secret = format!("vk_{}_{}", mode.as_str(), crate::ids::base62(SECRET_LEN));
    let prefix = secret[..PREFIX_LEN].to_owned();
    NewSecret { secret, prefix }
}

/// Whether `key` has the shape of a Veil key; anything else is refused
/// without a store lookup.
pub fn looks_like_key(key: &str) -> bool {
    let body = key.strip_prefix("vk_live_").or_else(|| key.strip_prefix("vk_test_"));
    body.is_some_and(|b| b.len() == SECRET_LEN && b.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// HMAC-SHA256 of the key under the server pepper.
pub fn hash_secret(pepper: &[u8], secret: &str) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(pepper) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    /// Lower-case `0x` wallet address that owns the key.
    pub wallet: String,
    pub name: String,
    pub prefix: String,
    pub mode: KeyMode,
    pub active: bool,
    pub plan: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub daily_requests: Option<u64>,
    pub scopes: Vec<Scope>,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
}

impl ApiKeyRecord {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// What `KeyStore::insert_key` needs to create a key.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub record: ApiKeyRecord,
    pub hash: [u8; 32],
}

/// Persistence of keys and server metadata (SQLite or PostgreSQL).
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, key: &NewKey) -> Result<(), StoreError>;
    async fn find_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn find_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn list_keys(&self, wallet: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Returns false when no active key has that id.
    async fn revoke_key(&self, id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Writes a batch of `last_used_at` times (later times win).
    async fn touch_keys(&self, touches: &[(String, i64)]) -> Result<(), StoreError>;
    async fn count_keys(&self) -> Result<u64, StoreError>;
    /// Returns the stored value of `key`, storing `value` first if absent.
    async fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError>;
}

/// Normalises a wallet address to lower-case `0x` + 40 hex, or refuses it.
pub fn normalize_wallet(address: &str) -> Option<String> {
    let hex = address.strip_prefix("0x").or_else(|| address.strip_prefix("0X"))?;
    (hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("0x{}", hex.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = generate_secret(KeyMode::Test);
        assert!(key.secret.starts_with("vk_test_"));
        assert_eq!(key.secret.len(), 48);
        assert!(looks_like_key(&key.secret));
        assert_eq!(key.prefix, &key.secret[..12]);
        assert!(looks_like_key(&generate_secret(KeyMode::Live).secret));
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(!looks_like_key("sk-abc"));
        assert!(!looks_like_key("vk_test_short"));
        assert!(!looks_like_key(&format!("vk_prod_{}", "a".repeat(40))));
        assert!(!looks_like_key(&format!("vk_live_{}-", "a".repeat(39))));
    }

    #[test]
    fn hash_depends_on_pepper() {
        let key = "vk_test_x";
        assert_ne!(hash_secret(b"one", key), hash_secret(b"two", key));
        assert_eq!(hash_secret(b"one", key), hash_secret(b"one", key));
    }

    #[test]
    fn scopes_parse_and_join() {
        assert_eq!(Scope::parse_list("chat, models").unwrap(), vec![Scope::Chat, Scope::Models]);
        assert!(Scope::parse_list("chat,admin").is_err());
        assert_eq!(Scope::join(&Scope::ALL), "chat,pii_preview,models");
    }

    #[test]
    fn wallets_are_normalised() {
        let w = "0xAbCdEf0123456789abcdef0123456789ABCDEF01";
        assert_eq!(normalize_wallet(w).unwrap(), w.to_ascii_lowercase());
        assert!(normalize_wallet("0x123").is_none());
        assert!(normalize_wallet("AbCdEf0123456789abcdef0123456789ABCDEF01").is_none());
    }
}
