//! Persistence: the embedded SQLite store, or PostgreSQL for replicas on
//! several machines (keys, nonces, server metadata; the ledger on each lives
//! in `billing`). Traits live with their domain (`auth::keys::KeyStore`);
//! this module owns connections and migrations.

mod postgres;
mod sqlite;
mod writer;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use writer::{CommitFailed, GroupWriter};

use crate::auth::keys::KeyStore;
use crate::auth::wallet::NonceStore;

/// Everything the server keeps outside the ledger.
#[async_trait::async_trait]
pub trait Store: KeyStore + NonceStore {
    /// A cheap query, for `/health`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Registers this process as a server on the store, for as long as it
    /// lives. True when no other server is running on it, so that every
    /// open hold was left by a stopped process; false when others are, or
    /// when the store cannot tell (holds are then released by age).
    async fn claim_server(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
}

/// A failure of the store; its text goes to logs, never to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Other(String),
}

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
