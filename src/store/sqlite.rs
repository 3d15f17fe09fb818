//! SQLite in WAL mode behind one mutex-guarded connection. Every call is
//! short and synchronous; async callers use `spawn_blocking`. One connection
//! serialises writers, which is what the ledger wants anyway, and SQLite's
//! `busy_timeout` covers other processes (the CLI) writing at the same time.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::auth::keys::{ApiKeyRecord, KeyMode, KeyStore, NewKey, Scope};
use crate::auth::wallet::NonceStore;

/// Migrations in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_keys.sql"),
    include_str!("../../migrations/sqlite/0002_ledger.sql"),
    include_str!("../../migrations/sqlite/0003_wallet_nonces.sql"),
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Dropping it stops the checkpointer thread (file databases only).
    _checkpointer: Option<mpsc::Sender<()>>,
    /// The database file (none in memory), for the server lock.
    path: Option<PathBuf>,
    /// `<database>.serving`, locked shared by every server on the file.
    serving: Mutex<Option<std::fs::File>>,
}

/// How often the background thread checkpoints the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut store = Self::init(Connection::open(path)?)?;
        // Checkpoints (which fsync) run on their own connection and thread,
        // never inside a request's commit.
        store.conn().pragma_update(None, "wal_autocheckpoint", 0)?;
        store._checkpointer = Some(spawn_checkpointer(path.to_owned())?);
        store.path = Some(path.to_owned());
        Ok(store)
    }

    /// An in-memory database, for tests and benches.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            _checkpointer: None,
            path: None,
            serving: Mutex::new(None),
        })
    }

    /// The connection; a poisoned lock (a panic mid-call) is still usable
    /// because every call runs in its own transaction.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The raw connection, for tests that check the schema's own guards.
    #[doc(hidden)]
    pub fn conn_for_tests(&self) -> MutexGuard<'_, Connection> {
        self.conn()
    }
}

#[async_trait::async_trait]
impl super::Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// Every server holds a shared lock on `<database>.serving` while it
    /// runs (the OS drops it when the process dies, however it dies). A
    /// starting server that can lock it exclusively is alone.
    async fn claim_server(&self) -> Result<bool, StoreError> {
        let Some(path) = &self.path else { return Ok(true) };
        let mut name = path.as_os_str().to_owned();
        name.push(".serving");
        let io = |e: std::io::Error| StoreError::Other(format!("server lock: {e}"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&name)
            .map_err(io)?;
        let alone = match file.try_lock() {
            Ok(()) => {
                file.unlock().map_err(io)?;
                true
            }
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        };
        // Taken before the first request is served; while it is held no
        // other starting server counts itself alone.
        file.lock_shared().map_err(io)?;
        *self.serving.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
        Ok(alone)
    }
}

fn spawn_checkpointer(path: PathBuf) -> Result<mpsc::Sender<()>, StoreError> {
    let conn = Connection::open(&path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("veil-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                let result: rusqlite::Result<(i64, i64, i64)> =
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    });
                if let Err(err) = result {
                    tracing::warn!(error = %err, "WAL checkpoint failed; retrying");
                }
            }
            // A last full checkpoint so the file is compact after a clean stop.
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })
        .map_err(|e| StoreError::Other(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(stop)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let done: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()?;
    Ok(())
}

const KEY_COLUMNS: &str = "id, wallet, name, prefix, mode, status, plan, rpm, tpm, daily_requests, \
                           scopes, created_at, last_used_at";

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let mode: String = row.get(4)?;
    let status: String = row.get(5)?;
    let scopes: String = row.get(10)?;
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        wallet: row.get(1)?,
        name: row.get(2)?,
        prefix: row.get(3)?,
        mode: KeyMode::parse(&mode).unwrap_or(KeyMode::Test),
        active: status == "active",
        plan: row.get(6)?,
        rpm: row.get(7)?,
        tpm: row.get(8)?,
        daily_requests: row.get(9)?,
        scopes: scopes.split(',').filter_map(Scope::parse).collect(),
        created_at_ms: row.get(11)?,
        last_used_at_ms: row.get(12)?,
    })
}

// The calls are short and local: they run in place rather than on a
// blocking thread (keys are cached; nonces are rare).
#[async_trait::async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &NewKey) -> Result<(), StoreError> {
        let r = &key.record;
        self.conn().execute(
            "INSERT INTO api_keys (id, wallet, name, prefix, key_hash, mode, status, plan, rpm, \
             tpm, daily_requests, scopes, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                r.id,
                r.wallet,
                r.name,
                r.prefix,
                &key.hash[..],
                r.mode.as_str(),
                if r.active { "active" } else { "revoked" },
                r.plan,
                r.rpm,
                r.tpm,
                r.daily_requests,
                Scope::join(&r.scopes),
                r.created_at_ms,
            ],
        )?;
        Ok(())
    }

    async fn find_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1");
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        Ok(stmt.query_row([&hash[..]], key_from_row).optional()?)
    }

    async fn find_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1");
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        Ok(stmt.query_row([id], key_from_row).optional()?)
    }

    async fn list_keys(&self, wallet: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE wallet = ?1 ORDER BY created_at, id");
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([wallet], key_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn revoke_key(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE api_keys SET status = 'revoked', revoked_at = ?2 \
             WHERE id = ?1 AND status = 'active'",
            params![id, now_ms],
        )?;
        Ok(changed == 1)
    }

    async fn touch_keys(&self, touches: &[(String, i64)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?2) \
                 WHERE id = ?1",
            )?;
            for (id, at) in touches {
                stmt.execute(params![id, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    async fn count_keys(&self) -> Result<u64, StoreError> {
        Ok(self.conn().query_row("SELECT count(*) FROM api_keys", [], |r| r.get(0))?)
    }

    async fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?)
    }
}

#[async_trait::async_trait]
impl NonceStore for SqliteStore {
    async fn use_nonce(
        &self,
        wallet: &str,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.conn();
        conn.prepare_cached("DELETE FROM wallet_nonces WHERE expires_at < ?1")?
            .execute([now_ms])?;
        let inserted = conn
            .prepare_cached("INSERT OR IGNORE INTO wallet_nonces (wallet, nonce, expires_at) VALUES (?1, ?2, ?3)")?
            .execute(params![wallet, nonce, expires_at_ms])?;
        Ok(inserted == 1)
    }
}
