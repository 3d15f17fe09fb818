//! Persistence: the embedded SQLite store (keys, server metadata; the ledger
//! and nonces join it in their own modules). Traits live with their domain
//! (`auth::keys::KeyStore`); this module owns connections and migrations.

mod sqlite;
mod writer;

pub use sqlite::SqliteStore;
pub use writer::{CommitFailed, GroupWriter};

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
