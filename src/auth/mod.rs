//! Who is calling: API keys for `/v1/*` (this module) and, later, wallet
//! signatures for `/api/v1/*`.
//!
//! [`KeyService`] turns a presented secret into an [`ApiKeyRecord`]: shape
//! check, peppered hash, a short-lived cache in front of the store, and
//! `last_used_at` times collected in memory and written in batches (no write
//! per request).

pub mod keys;
pub mod wallet;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::store::{StoreError, now_ms};
use keys::{ApiKeyRecord, KeyMode, KeyStore, NewKey, Scope};

/// Where the pepper is kept when `VEIL_KEY_PEPPER` is not set.
const PEPPER_META_KEY: &str = "key_pepper";

/// Cached lookups: key hash → record and when it was read.
type KeyCache = HashMap<[u8; 32], (Arc<ApiKeyRecord>, Instant)>;

/// Resolves API keys; shared by every request.
pub struct KeyService {
    store: Arc<dyn KeyStore>,
    pepper: Vec<u8>,
    cache_ttl: Duration,
    /// Positive lookups by hash; revocations made through this process evict
    /// at once, others are seen after `cache_ttl`.
    cache: Mutex<KeyCache>,
    /// `last_used_at` per key id, waiting for the next flush.
    touches: Mutex<HashMap<String, i64>>,
}

/// What `KeyService::create` returns: the record and its one-time secret.
pub struct CreatedKey {
    pub record: ApiKeyRecord,
    pub secret: String,
}

/// Options of a new key.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub wallet: String,
    pub name: String,
    pub mode: KeyMode,
    pub plan: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub daily_requests: Option<u64>,
    pub scopes: Vec<Scope>,
}

impl KeySpec {
    /// A key on the `free` plan, with every scope and no per-key overrides.
    pub fn new(wallet: impl Into<String>, name: impl Into<String>, mode: KeyMode) -> Self {
        Self {
            wallet: wallet.into(),
            name: name.into(),
            mode,
            plan: "free".into(),
            rpm: None,
            tpm: None,
            daily_requests: None,
            scopes: Scope::ALL.to_vec(),
        }
    }
}

impl KeyService {
    /// A key for the redaction `hash` operator, derived from the pepper so
    /// every replica hashes a value the same way.
    pub fn hash_key(&self) -> Vec<u8> {
        keys::hash_secret(&self.pepper, "veil:redaction-hash").to_vec()
    }

    /// The pepper comes from `VEIL_KEY_PEPPER` when set, else from the store
    /// (generated once), so the CLI and the server hash alike.
    pub async fn new(store: Arc<dyn KeyStore>, cache_ttl: Duration) -> Result<Self, StoreError> {
        let pepper = match std::env::var("VEIL_KEY_PEPPER") {
            Ok(p) if !p.is_empty() => p,
            _ => store.meta_get_or_insert(PEPPER_META_KEY, &crate::ids::base62(43)).await?,
        };
        Ok(Self {
            store,
            pepper: pepper.into_bytes(),
            cache_ttl,
            cache: Mutex::new(HashMap::new()),
            touches: Mutex::new(HashMap::new()),
        })
    }

    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    /// Creates and stores a key; the secret is only in the return value.
    pub async fn create(&self, spec: KeySpec) -> Result<CreatedKey, StoreError> {
        let secret = keys::generate_secret(spec.mode);
        let record = ApiKeyRecord {
            id: format!("key_{}", crate::ids::base62(16)),
            wallet: spec.wallet,
            name: spec.name,
            prefix: secret.prefix,
            mode: spec.mode,
            active: true,
            plan: spec.plan,
            rpm: spec.rpm,
            tpm: spec.tpm,
            daily_requests: spec.daily_requests,
            scopes: spec.scopes,
            created_at_ms: now_ms(),
            last_used_at_ms: None,
        };
        let hash = keys::hash_secret(&self.pepper, &secret.secret);
        self.store.insert_key(&NewKey { record: record.clone(), hash }).await?;
        Ok(CreatedKey { record, secret: secret.secret })
    }

    /// Revokes a key and forgets it from this process's cache.
    pub async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        let revoked = self.store.revoke_key(id, now_ms()).await?;
        self.lock_cache().retain(|_, (record, _)| record.id != id);
        Ok(revoked)
    }

    /// Resolves the key sent with a request: from the cache when it was
    /// looked up less than the cache's time ago, else from the store.
    pub async fn authenticate(&self, secret: &str) -> Result<Arc<ApiKeyRecord>, ApiError> {
        self.authenticate_at(secret, Instant::now()).await
    }

    /// [`KeyService::authenticate`] at a given instant (tests move time).
    pub async fn authenticate_at(
        &self,
        secret: &str,
        now: Instant,
    ) -> Result<Arc<ApiKeyRecord>, ApiError> {
        let hash = self.hash_presented(secret)?;
        match self.cached(&hash, now) {
            Some(record) => self.admit(record),
            None => self.load(hash, now).await,
        }
    }

    /// Refuses malformed keys without a lookup, hashes the others.
    fn hash_presented(&self, secret: &str) -> Result<[u8; 32], ApiError> {
        if !keys::looks_like_key(secret) {
            return Err(ApiError::InvalidApiKey);
        }
        Ok(keys::hash_secret(&self.pepper, secret))
    }

    fn cached(&self, hash: &[u8; 32], now: Instant) -> Option<Arc<ApiKeyRecord>> {
        let cache = self.lock_cache();
        let (record, at) = cache.get(hash)?;
        (now.saturating_duration_since(*at) < self.cache_ttl).then(|| record.clone())
    }

    async fn load(&self, hash: [u8; 32], now: Instant) -> Result<Arc<ApiKeyRecord>, ApiError> {
        let found = self.store.find_key_by_hash(&hash).await?.ok_or(ApiError::InvalidApiKey)?;
        let record = Arc::new(found);
        if !self.cache_ttl.is_zero() {
            self.lock_cache().insert(hash, (record.clone(), now));
        }
        self.admit(record)
    }

    fn admit(&self, record: Arc<ApiKeyRecord>) -> Result<Arc<ApiKeyRecord>, ApiError> {
        if !record.active {
            return Err(ApiError::InactiveApiKey);
        }
        self.lock_touches().insert(record.id.clone(), now_ms());
        Ok(record)
    }

    /// Writes the collected `last_used_at` times; returns how many.
    pub async fn flush_touches(&self) -> Result<usize, StoreError> {
        let batch: Vec<(String, i64)> = self.lock_touches().drain().collect();
        if !batch.is_empty() {
            self.store.touch_keys(&batch).await?;
        }
        Ok(batch.len())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_touches(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.touches.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The key sent with a request: `Authorization: Bearer <key>` or
/// `X-API-Key: <key>`. `None` when neither header carries one.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|k| !k.is_empty());
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    async fn service(ttl_ms: u64) -> KeyService {
        let store: Arc<dyn KeyStore> = Arc::new(SqliteStore::open_in_memory().unwrap());
        KeyService::new(store, Duration::from_millis(ttl_ms)).await.unwrap()
    }

    fn spec() -> KeySpec {
        KeySpec::new("0x0000000000000000000000000000000000000001", "ci", KeyMode::Test)
    }

    #[tokio::test]
    async fn created_key_authenticates_and_revoked_key_is_inactive() {
        let keys = service(60_000).await;
        let created = keys.create(spec()).await.unwrap();
        let now = Instant::now();
        assert_eq!(keys.authenticate_at(&created.secret, now).await.unwrap().id, created.record.id);
        assert!(keys.revoke(&created.record.id).await.unwrap());
        assert!(matches!(
            keys.authenticate_at(&created.secret, now).await,
            Err(ApiError::InactiveApiKey)
        ));
    }

    #[tokio::test]
    async fn unknown_and_malformed_keys_are_invalid() {
        let keys = service(0).await;
        let other = keys::generate_secret(KeyMode::Live).secret;
        assert!(matches!(
            keys.authenticate_at(&other, Instant::now()).await,
            Err(ApiError::InvalidApiKey)
        ));
        assert!(matches!(
            keys.authenticate_at("nope", Instant::now()).await,
            Err(ApiError::InvalidApiKey)
        ));
    }

    #[tokio::test]
    async fn cache_expires_so_foreign_revocations_are_seen() {
        let keys = service(1_000).await;
        let created = keys.create(spec()).await.unwrap();
        let t0 = Instant::now();
        keys.authenticate_at(&created.secret, t0).await.unwrap();
        // Revoked behind the service's back, as another process would.
        keys.store().revoke_key(&created.record.id, 1).await.unwrap();
        assert!(
            keys.authenticate_at(&created.secret, t0 + Duration::from_millis(500)).await.is_ok()
        );
        let later = t0 + Duration::from_millis(1_500);
        assert!(matches!(
            keys.authenticate_at(&created.secret, later).await,
            Err(ApiError::InactiveApiKey)
        ));
    }

    #[tokio::test]
    async fn last_used_is_written_in_batches() {
        let keys = service(60_000).await;
        let created = keys.create(spec()).await.unwrap();
        for _ in 0..5 {
            keys.authenticate_at(&created.secret, Instant::now()).await.unwrap();
        }
        let stored = keys.store().find_key(&created.record.id).await.unwrap().unwrap();
        assert_eq!(stored.last_used_at_ms, None);
        assert_eq!(keys.flush_touches().await.unwrap(), 1);
        let stored = keys.store().find_key(&created.record.id).await.unwrap().unwrap();
        assert!(stored.last_used_at_ms.is_some());
    }

    #[test]
    fn both_headers_carry_keys() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", "vk_a".parse().unwrap());
        assert_eq!(presented_key(&h), Some("vk_a"));
        h.insert("authorization", "Bearer vk_b".parse().unwrap());
        assert_eq!(presented_key(&h), Some("vk_b"));
    }
}
