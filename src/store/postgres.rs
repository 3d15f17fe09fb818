//! PostgreSQL, for replicas on several machines: one connection pool shared
//! by the key and nonce store (here) and the ledger (`billing::postgres`).
//! Migrations under `migrations/postgres` run at connect, under an advisory
//! lock so replicas may start together.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, Row};

use super::{Store, StoreError};
use crate::auth::keys::{ApiKeyRecord, KeyMode, KeyStore, NewKey, Scope};
use crate::auth::wallet::NonceStore;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_ledger.sql"),
    include_str!("../../migrations/postgres/0002_keys.sql"),
    include_str!("../../migrations/postgres/0003_ledger_functions.sql"),
];

/// Any fixed number; holds the migration lock across replicas.
const MIGRATION_LOCK: i64 = 0x0076_6569_6c6d_6967;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

fn pg(err: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("postgres: {err}"))
}

impl PgStore {
    /// Connects a pool of up to `max_connections` and migrates.
    pub async fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(pg)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .recycle_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(pg)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// The pool, shared with the ledger.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pg)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS veil_migrations (version INT PRIMARY KEY)")
            .await
            .map_err(pg)?;
        let done: i64 =
            tx.query_one("SELECT count(*) FROM veil_migrations", &[]).await.map_err(pg)?.get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(done).unwrap_or(0)) {
            tx.batch_execute(sql).await.map_err(pg)?;
            let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
            tx.execute("INSERT INTO veil_migrations (version) VALUES ($1)", &[&version])
                .await
                .map_err(pg)?;
        }
        tx.commit().await.map_err(pg)
    }
}

const KEY_COLUMNS: &str = "id, wallet, name, prefix, mode, status, plan, rpm, tpm, daily_requests, \
                           scopes, created_at, last_used_at";

fn key_from_row(row: &Row) -> ApiKeyRecord {
    let mode: String = row.get(4);
    let status: String = row.get(5);
    let scopes: String = row.get(10);
    let count = |n: Option<i64>| n.map(|n| u64::try_from(n).unwrap_or(0));
    ApiKeyRecord {
        id: row.get(0),
        wallet: row.get(1),
        name: row.get(2),
        prefix: row.get(3),
        mode: KeyMode::parse(&mode).unwrap_or(KeyMode::Test),
        active: status == "active",
        plan: row.get(6),
        rpm: row.get::<_, Option<i64>>(7).map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        tpm: count(row.get(8)),
        daily_requests: count(row.get(9)),
        scopes: scopes.split(',').filter_map(Scope::parse).collect(),
        created_at_ms: row.get(11),
        last_used_at_ms: row.get(12),
    }
}

fn big(n: Option<u64>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

#[async_trait]
impl KeyStore for PgStore {
    async fn insert_key(&self, key: &NewKey) -> Result<(), StoreError> {
        let r = &key.record;
        self.client()
            .await?
            .execute(
                "INSERT INTO api_keys (id, wallet, name, prefix, key_hash, mode, status, plan, \
                 rpm, tpm, daily_requests, scopes, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &r.id,
                    &r.wallet,
                    &r.name,
                    &r.prefix,
                    &&key.hash[..],
                    &r.mode.as_str(),
                    &if r.active { "active" } else { "revoked" },
                    &r.plan,
                    &r.rpm.map(i64::from),
                    &big(r.tpm),
                    &big(r.daily_requests),
                    &Scope::join(&r.scopes),
                    &r.created_at_ms,
                ],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn find_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
        let row = client.query_opt(&stmt, &[&&hash[..]]).await.map_err(pg)?;
        Ok(row.as_ref().map(key_from_row))
    }

    async fn find_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        let row = self.client().await?.query_opt(&sql, &[&id]).await.map_err(pg)?;
        Ok(row.as_ref().map(key_from_row))
    }

    async fn list_keys(&self, wallet: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE wallet = $1 ORDER BY created_at, id");
        let rows = self.client().await?.query(&sql, &[&wallet]).await.map_err(pg)?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    async fn revoke_key(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE api_keys SET status = 'revoked', revoked_at = $2 \
                 WHERE id = $1 AND status = 'active'",
                &[&id, &now_ms],
            )
            .await
            .map_err(pg)?;
        Ok(changed == 1)
    }

    async fn touch_keys(&self, touches: &[(String, i64)]) -> Result<(), StoreError> {
        let (ids, times): (Vec<&str>, Vec<i64>) =
            touches.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
        // One statement for the batch; the latest time per key wins.
        self.client()
            .await?
            .execute(
                "UPDATE api_keys k SET last_used_at = greatest(coalesce(k.last_used_at, 0), t.at) \
                 FROM (SELECT id, max(at) AS at FROM unnest($1::text[], $2::bigint[]) AS u(id, at) \
                       GROUP BY id) t \
                 WHERE k.id = t.id",
                &[&ids, &times],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn count_keys(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .client()
            .await?
            .query_one("SELECT count(*) FROM api_keys", &[])
            .await
            .map_err(pg)?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &value],
            )
            .await
            .map_err(pg)?;
        let row =
            client.query_one("SELECT value FROM meta WHERE key = $1", &[&key]).await.map_err(pg)?;
        Ok(row.get(0))
    }
}

#[async_trait]
impl NonceStore for PgStore {
    async fn use_nonce(
        &self,
        wallet: &str,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM wallet_nonces WHERE expires_at < $1", &[&now_ms])
            .await
            .map_err(pg)?;
        let inserted = client
            .execute(
                "INSERT INTO wallet_nonces (wallet, nonce, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&wallet, &nonce, &expires_at_ms],
            )
            .await
            .map_err(pg)?;
        Ok(inserted == 1)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.client().await?.query_one("SELECT 1", &[]).await.map_err(pg)?;
        Ok(())
    }
}
