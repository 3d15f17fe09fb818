//! The key and nonce store conformance suite: behaviour every `Store` must
//! have, run on SQLite and on PostgreSQL (a fresh database per test on the
//! server of `TEST_POSTGRES_URL`; CI starts one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use veil::auth::keys::{ApiKeyRecord, KeyMode, NewKey, Scope};
use veil::store::{PgStore, SqliteStore, Store};

fn record(id: &str, wallet: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        wallet: wallet.into(),
        name: "n".into(),
        prefix: "vk_test_abcd".into(),
        mode: KeyMode::Test,
        active: true,
        plan: "free".into(),
        rpm: Some(5),
        tpm: Some(u64::from(u32::MAX) + 7),
        daily_requests: None,
        scopes: vec![Scope::Chat, Scope::Models],
        created_at_ms: 1,
        last_used_at_ms: None,
    }
}

async fn keys_round_trip_and_revoke_once(store: &dyn Store) {
    let key = NewKey { record: record("key_1", "0xabc"), hash: [7; 32] };
    store.insert_key(&key).await.unwrap();
    assert_eq!(store.find_key_by_hash(&[7; 32]).await.unwrap(), Some(key.record.clone()));
    assert_eq!(store.find_key_by_hash(&[8; 32]).await.unwrap(), None);
    assert_eq!(store.find_key("key_1").await.unwrap(), Some(key.record.clone()));
    assert_eq!(store.find_key("key_2").await.unwrap(), None);
    assert_eq!(store.list_keys("0xabc").await.unwrap(), vec![key.record.clone()]);
    assert!(store.list_keys("0xdef").await.unwrap().is_empty());
    assert_eq!(store.count_keys().await.unwrap(), 1);
    assert!(store.revoke_key("key_1", 5).await.unwrap());
    assert!(!store.revoke_key("key_1", 6).await.unwrap(), "a second revoke changes nothing");
    assert!(!store.revoke_key("key_9", 6).await.unwrap());
    assert!(!store.find_key("key_1").await.unwrap().unwrap().active);
}

async fn keys_list_in_creation_order(store: &dyn Store) {
    for (i, id) in ["key_b", "key_a", "key_c"].into_iter().enumerate() {
        let mut r = record(id, "0xabc");
        r.created_at_ms = i as i64;
        store.insert_key(&NewKey { record: r, hash: [i as u8; 32] }).await.unwrap();
    }
    let ids: Vec<String> =
        store.list_keys("0xabc").await.unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(ids, ["key_b", "key_a", "key_c"]);
}

async fn touches_keep_the_latest_time(store: &dyn Store) {
    store.insert_key(&NewKey { record: record("key_1", "0xabc"), hash: [1; 32] }).await.unwrap();
    store.insert_key(&NewKey { record: record("key_2", "0xabc"), hash: [2; 32] }).await.unwrap();
    let touches = [("key_1".into(), 50), ("key_1".into(), 40), ("key_2".into(), 7)];
    store.touch_keys(&touches).await.unwrap();
    store.touch_keys(&[("key_2".into(), 3), ("gone".into(), 9)]).await.unwrap();
    assert_eq!(store.find_key("key_1").await.unwrap().unwrap().last_used_at_ms, Some(50));
    assert_eq!(store.find_key("key_2").await.unwrap().unwrap().last_used_at_ms, Some(7));
}

async fn duplicate_hash_is_refused_and_meta_is_sticky(store: &dyn Store) {
    store.insert_key(&NewKey { record: record("key_1", "0xa"), hash: [1; 32] }).await.unwrap();
    let twin = NewKey { record: record("key_2", "0xa"), hash: [1; 32] };
    assert!(store.insert_key(&twin).await.is_err());
    assert_eq!(store.count_keys().await.unwrap(), 1);
    assert_eq!(store.meta_get_or_insert("pepper", "a").await.unwrap(), "a");
    assert_eq!(store.meta_get_or_insert("pepper", "b").await.unwrap(), "a");
}

async fn nonces_are_single_use_until_they_expire(store: &dyn Store) {
    assert!(store.use_nonce("0xa", "n1", 1_000, 0).await.unwrap());
    assert!(!store.use_nonce("0xa", "n1", 1_000, 10).await.unwrap());
    assert!(store.use_nonce("0xb", "n1", 1_000, 10).await.unwrap());
    // Once expired it is forgotten (its message can no longer be accepted anyway).
    assert!(store.use_nonce("0xa", "n1", 5_000, 2_000).await.unwrap());
}

async fn a_nonce_used_at_once_is_accepted_once(store: Arc<dyn Store>) {
    let tries = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.use_nonce("0xa", "race", 1_000, 0).await.unwrap() })
    });
    let accepted = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(accepted, 1);
}

async fn sqlite() -> Option<Arc<dyn Store>> {
    Some(Arc::new(SqliteStore::open_in_memory().unwrap()))
}

async fn postgres() -> Option<Arc<dyn Store>> {
    let url = common::fresh_postgres("the key and nonce store").await?;
    Some(Arc::new(PgStore::connect(&url, 8).await.unwrap()))
}

macro_rules! suite {
    ($prefix:ident, $make:expr) => {
        mod $prefix {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn round_trip() {
                let Some(s) = $make.await else { return };
                keys_round_trip_and_revoke_once(s.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn list_order() {
                let Some(s) = $make.await else { return };
                keys_list_in_creation_order(s.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn touches() {
                let Some(s) = $make.await else { return };
                touches_keep_the_latest_time(s.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn duplicates_and_meta() {
                let Some(s) = $make.await else { return };
                duplicate_hash_is_refused_and_meta_is_sticky(s.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn nonces() {
                let Some(s) = $make.await else { return };
                nonces_are_single_use_until_they_expire(s.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn nonce_race() {
                let Some(s) = $make.await else { return };
                a_nonce_used_at_once_is_accepted_once(s).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn ping() {
                let Some(s) = $make.await else { return };
                s.ping().await.unwrap();
            }
        }
    };
}

suite!(sqlite_store, sqlite());
suite!(postgres_store, postgres());

/// Replicas start together: the migrations run once, under a lock.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_migrating_at_once_agree() {
    let Some(url) = common::fresh_postgres("concurrent migration").await else { return };
    let connects = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PgStore::connect(&url, 2).await.map(|_| ()) })
    });
    for result in futures_util::future::join_all(connects).await {
        result.unwrap().unwrap();
    }
}
