//! Money: the prepaid credit [`Ledger`], its entries, and the errors and
//! conversions around it. Amounts are integer micro-USD.
//!
//! A chat completion places a hold (`hold`, −H on available credits) before
//! forwarding; when it ends, one transaction releases the hold (`release`,
//! +H) and charges the real cost (`settle`, −C). With no open hold, the sum
//! of a wallet's entry amounts is its balance. The store enforces
//! `balance >= 0` and `held <= balance` itself, so no interleaving of
//! requests can overspend.

pub mod money;
mod postgres;
mod sqlite;
pub mod stripe;

use async_trait::async_trait;

pub use postgres::PgLedger;
pub use sqlite::SqliteLedger;

use crate::auth::keys::KeyMode;
use crate::error::ApiError;
use money::format_usd;

/// Token counts of one finished (or interrupted) completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// The kinds of ledger entries (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Purchase,
    Grant,
    Hold,
    Settle,
    Release,
    Preview,
    Refund,
    Adjustment,
}

impl EntryKind {
    pub const ALL: [EntryKind; 8] = [
        Self::Purchase,
        Self::Grant,
        Self::Hold,
        Self::Settle,
        Self::Release,
        Self::Preview,
        Self::Refund,
        Self::Adjustment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Purchase => "purchase",
            Self::Grant => "grant",
            Self::Hold => "hold",
            Self::Settle => "settle",
            Self::Release => "release",
            Self::Preview => "preview",
            Self::Refund => "refund",
            Self::Adjustment => "adjustment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A wallet's live or test balance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account {
    /// Lower-case `0x` address.
    pub wallet: String,
    pub mode: KeyMode,
}

/// One ledger line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub id: i64,
    pub wallet: String,
    #[serde(serialize_with = "ser_mode")]
    pub mode: KeyMode,
    #[serde(serialize_with = "ser_kind")]
    pub kind: EntryKind,
    /// Change of available credits, micro-USD.
    pub amount: i64,
    /// Settled funds after this entry.
    pub balance_after: i64,
    /// Settled funds minus open holds after this entry.
    pub available_after: i64,
    pub key_id: Option<String>,
    pub request_id: Option<String>,
    pub hold_id: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub reference: Option<String>,
    pub created_at_ms: i64,
}

fn ser_mode<S: serde::Serializer>(mode: &KeyMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.as_str())
}

fn ser_kind<S: serde::Serializer>(kind: &EntryKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// Money coming in (or, for `Adjustment`, possibly going out).
#[derive(Debug, Clone)]
pub struct Credit {
    pub account: Account,
    /// `Purchase`, `Grant`, `Refund` or `Adjustment`.
    pub kind: EntryKind,
    pub amount: i64,
    /// Idempotency: a second credit of the same kind and reference does
    /// nothing and returns the first entry.
    pub reference: Option<String>,
}

/// What `Ledger::credit` did.
#[derive(Debug, Clone)]
pub struct Credited {
    pub entry: Entry,
    /// False when the reference had already been credited.
    pub new: bool,
}

/// A hold to place before forwarding a request.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub account: Account,
    pub key_id: String,
    pub request_id: String,
    pub model: String,
    pub amount: i64,
    /// Noted on the hold entry (`pii_redaction:skipped` when the client
    /// turned redaction off).
    pub reference: Option<String>,
}

/// A placed hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldReceipt {
    pub hold_id: String,
    pub amount: i64,
}

/// The outcome of a request, to settle its hold with.
#[derive(Debug, Clone)]
pub struct Settle {
    pub hold_id: String,
    /// Real cost; the charge is capped at what the account can pay.
    pub cost: i64,
    pub usage: Usage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// Micro-USD actually charged.
    pub charged: i64,
    /// The hold had been settled before; nothing changed this time.
    pub already_settled: bool,
}

/// A flat charge without a hold (`/v1/pii/preview`).
#[derive(Debug, Clone)]
pub struct FlatCharge {
    pub account: Account,
    pub kind: EntryKind,
    pub amount: i64,
    pub key_id: String,
    pub request_id: String,
}

/// Balance of one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Balance {
    pub balance: i64,
    pub held: i64,
    pub available: i64,
    pub open_holds: u64,
}

/// An open hold, as the balance API lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenHold {
    pub hold_id: String,
    pub amount: i64,
    pub key_id: Option<String>,
    pub request_id: Option<String>,
    pub model: Option<String>,
    pub created_at_ms: i64,
}

/// Which entries to list, newest last; `after_id` is the cursor.
#[derive(Debug, Clone, Default)]
pub struct EntryQuery {
    pub wallet: String,
    pub mode: Option<KeyMode>,
    pub key_id: Option<String>,
    pub request_id: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub after_id: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient credits: needs {}, available {}", format_usd(*needed), format_usd(*available))]
    InsufficientCredits { needed: i64, available: i64 },
    #[error("no hold {0}")]
    UnknownHold(String),
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    #[error("ledger store: {0}")]
    Store(String),
}

/// Settles, retrying while the store is unreachable (a database restart):
/// settling is idempotent per hold, so a retry after a commit whose answer
/// was lost returns the first outcome instead of charging twice. Gives up
/// after about 20 seconds; the hold is then released as stale.
pub async fn settle_retrying(
    ledger: &dyn Ledger,
    settle: Settle,
) -> Result<Settlement, LedgerError> {
    let mut wait = std::time::Duration::from_millis(50);
    for _ in 0..SETTLE_ATTEMPTS {
        match ledger.settle(settle.clone()).await {
            Err(LedgerError::Store(reason)) => {
                tracing::warn!(%reason, hold_id = %settle.hold_id, "settlement failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(4));
            }
            other => return other,
        }
    }
    ledger.settle(settle).await
}

/// Attempts before the last one of [`settle_retrying`] (~20 s in all).
const SETTLE_ATTEMPTS: usize = 10;

impl From<crate::store::CommitFailed> for LedgerError {
    fn from(err: crate::store::CommitFailed) -> Self {
        Self::Store(err.0)
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Store(err.to_string())
    }
}

impl LedgerError {
    pub fn into_api_error(self) -> ApiError {
        match self {
            Self::InsufficientCredits { needed, available } => {
                ApiError::InsufficientCredits(format!(
                    "Insufficient credits: this request needs a hold of ${}, ${} is available. \
                 Add credits to continue.",
                    format_usd(needed),
                    format_usd(available)
                ))
            }
            other => ApiError::Billing(other.to_string()),
        }
    }
}

// What both ledger implementations share: the checks of their inputs, the
// shape of a new entry, the columns they read, and the hold id format.

/// Refuses what no ledger may record: a credit of another kind, a zero
/// credit, or a negative one other than an adjustment.
fn check_credit(credit: &Credit) -> Result<(), LedgerError> {
    if !matches!(
        credit.kind,
        EntryKind::Purchase | EntryKind::Grant | EntryKind::Refund | EntryKind::Adjustment
    ) {
        return Err(LedgerError::InvalidAmount(format!(
            "{} is not a credit",
            credit.kind.as_str()
        )));
    }
    if credit.amount < 0 && credit.kind != EntryKind::Adjustment || credit.amount == 0 {
        return Err(LedgerError::InvalidAmount("a credit must be positive".into()));
    }
    Ok(())
}

/// Refuses a negative hold or flat charge (`what` names it).
fn check_not_negative(amount: i64, what: &str) -> Result<(), LedgerError> {
    if amount < 0 {
        return Err(LedgerError::InvalidAmount(format!("a {what} cannot be negative")));
    }
    Ok(())
}

/// An entry about to be written; its balances come from the account row.
#[derive(Default)]
struct NewEntry<'a> {
    kind: Option<EntryKind>,
    amount: i64,
    key_id: Option<&'a str>,
    request_id: Option<&'a str>,
    hold_id: Option<&'a str>,
    model: Option<&'a str>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    reference: Option<&'a str>,
}

const ENTRY_COLUMNS: &str = "id, wallet, mode, kind, amount, balance_after, available_after, key_id, \
     request_id, hold_id, model, prompt_tokens, completion_tokens, reference, created_at";

const HOLD_COLUMNS: &str = "id, wallet, mode, amount, key_id, request_id, model, status, charged";

/// Hold ids are `hold_<row id>`.
fn hold_id(row: i64) -> String {
    format!("hold_{row}")
}

fn hold_row(hold_id: &str) -> Option<i64> {
    hold_id.strip_prefix("hold_")?.parse().ok()
}

/// The prepaid credit ledger. Every method is one atomic transaction.
#[async_trait]
pub trait Ledger: Send + Sync {
    async fn credit(&self, credit: Credit) -> Result<Credited, LedgerError>;
    /// Fails with `InsufficientCredits` when available < amount.
    async fn hold(&self, hold: NewHold) -> Result<HoldReceipt, LedgerError>;
    /// Releases the hold and charges the cost, once; later calls return
    /// the first outcome with `already_settled`.
    async fn settle(&self, settle: Settle) -> Result<Settlement, LedgerError>;
    async fn charge(&self, charge: FlatCharge) -> Result<Entry, LedgerError>;
    async fn balance(&self, account: Account) -> Result<Balance, LedgerError>;
    /// The account's open holds, oldest first (at most `limit`).
    async fn open_holds(&self, account: Account, limit: u32) -> Result<Vec<OpenHold>, LedgerError>;
    async fn entries(&self, query: EntryQuery) -> Result<Vec<Entry>, LedgerError>;
    /// Releases, uncharged, the open holds taken before `created_before_ms`
    /// (left by a replica that crashed); returns how many.
    async fn release_stale_holds(&self, created_before_ms: i64) -> Result<u64, LedgerError>;
}
