//! The ledger on PostgreSQL, for replicas on several machines. Same rules
//! as the SQLite ledger: each operation is one transaction; the
//! conditional `UPDATE ... WHERE balance - held >= $n` takes the account's
//! row lock and rechecks the condition, and the table's CHECKs refuse a
//! negative balance whatever happens. Migrations under `migrations/postgres`
//! run at connect, under an advisory lock so replicas may start together.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, Row, Transaction};

use super::{
    Account, Balance, Credit, Credited, ENTRY_COLUMNS, Entry, EntryKind, EntryQuery, FlatCharge,
    HOLD_COLUMNS, HoldReceipt, Ledger, LedgerError, NewEntry, NewHold, OpenHold, Settle,
    Settlement, Usage, hold_id, hold_row,
};
use crate::auth::keys::KeyMode;
use crate::clock::Clock;
use std::sync::Arc;

const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_ledger.sql")];

/// Any fixed number; holds the migration lock across replicas.
const MIGRATION_LOCK: i64 = 0x0076_6569_6c6d_6967;

#[derive(Clone)]
pub struct PgLedger {
    pool: Pool,
    clock: Arc<dyn Clock>,
}

fn store_error(err: impl std::fmt::Display) -> LedgerError {
    LedgerError::Store(err.to_string())
}

impl PgLedger {
    /// Connects (a pool of up to `max_connections`) and migrates.
    pub async fn connect(
        url: &str,
        max_connections: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LedgerError> {
        let config: tokio_postgres::Config = url.parse().map_err(store_error)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(store_error)?;
        let ledger = Self { pool, clock };
        ledger.migrate().await?;
        Ok(ledger)
    }

    async fn migrate(&self) -> Result<(), LedgerError> {
        let mut client = self.pool.get().await.map_err(store_error)?;
        let tx = client.transaction().await.map_err(store_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(store_error)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS veil_migrations (version INT PRIMARY KEY)")
            .await
            .map_err(store_error)?;
        let done: i64 = tx
            .query_one("SELECT count(*) FROM veil_migrations", &[])
            .await
            .map_err(store_error)?
            .get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            tx.batch_execute(sql).await.map_err(store_error)?;
            tx.execute("INSERT INTO veil_migrations (version) VALUES ($1)", &[&(i as i32 + 1)])
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }

    /// Runs `f` in one transaction.
    async fn tx<T, F>(&self, f: F) -> Result<T, LedgerError>
    where
        F: for<'a> FnOnce(
            &'a Transaction<'a>,
            i64,
        ) -> futures_util::future::BoxFuture<'a, Result<T, LedgerError>>,
    {
        let now = self.clock.now_ms();
        let mut client = self.pool.get().await.map_err(store_error)?;
        let tx = client.transaction().await.map_err(store_error)?;
        let out = f(&tx, now).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(out)
    }
}

fn mode_of(s: &str) -> KeyMode {
    KeyMode::parse(s).unwrap_or(KeyMode::Test)
}

fn tokens(n: Option<u64>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

fn entry_from_row(row: &Row) -> Entry {
    let mode: String = row.get(2);
    let kind: String = row.get(3);
    Entry {
        id: row.get(0),
        wallet: row.get(1),
        mode: mode_of(&mode),
        kind: EntryKind::parse(&kind).unwrap_or(EntryKind::Adjustment),
        amount: row.get(4),
        balance_after: row.get(5),
        available_after: row.get(6),
        key_id: row.get(7),
        request_id: row.get(8),
        hold_id: row.get(9),
        model: row.get(10),
        prompt_tokens: row.get::<_, Option<i64>>(11).map(|n| n.max(0) as u64),
        completion_tokens: row.get::<_, Option<i64>>(12).map(|n| n.max(0) as u64),
        reference: row.get(13),
        created_at_ms: row.get(14),
    }
}

async fn insert_entry(
    tx: &Transaction<'_>,
    account: &Account,
    (balance, held): (i64, i64),
    e: &NewEntry<'_>,
    now: i64,
) -> Result<Entry, LedgerError> {
    let kind = e.kind.ok_or_else(|| LedgerError::Store("entry without kind".into()))?;
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO ledger_entries (wallet, mode, kind, amount, balance_after, available_after, \
                 key_id, request_id, hold_id, model, prompt_tokens, completion_tokens, reference, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {ENTRY_COLUMNS}"
            ),
            &[
                &account.wallet,
                &account.mode.as_str(),
                &kind.as_str(),
                &e.amount,
                &balance,
                &(balance - held),
                &e.key_id,
                &e.request_id,
                &e.hold_id,
                &e.model,
                &tokens(e.prompt_tokens),
                &tokens(e.completion_tokens),
                &e.reference,
                &now,
            ],
        )
        .await
        .map_err(store_error)?;
    Ok(entry_from_row(&row))
}

async fn ensure_account(tx: &Transaction<'_>, account: &Account) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO accounts (wallet, mode) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&account.wallet, &account.mode.as_str()],
    )
    .await
    .map_err(store_error)?;
    Ok(())
}

/// (balance, held), locking the account row for the rest of the transaction.
async fn lock_account(tx: &Transaction<'_>, account: &Account) -> Result<(i64, i64), LedgerError> {
    ensure_account(tx, account).await?;
    let row = tx
        .query_one(
            "SELECT balance, held FROM accounts WHERE wallet = $1 AND mode = $2 FOR UPDATE",
            &[&account.wallet, &account.mode.as_str()],
        )
        .await
        .map_err(store_error)?;
    Ok((row.get(0), row.get(1)))
}

struct HoldRow {
    id: i64,
    account: Account,
    amount: i64,
    key_id: Option<String>,
    request_id: Option<String>,
    model: Option<String>,
    status: String,
    charged: Option<i64>,
}

fn hold_from_row(row: &Row) -> HoldRow {
    let mode: String = row.get(2);
    HoldRow {
        id: row.get(0),
        account: Account { wallet: row.get(1), mode: mode_of(&mode) },
        amount: row.get(3),
        key_id: row.get(4),
        request_id: row.get(5),
        model: row.get(6),
        status: row.get(7),
        charged: row.get(8),
    }
}

/// Releases the hold and charges what the account can pay of `cost`
/// (`release` then `settle`, so no entry shows negative available credits).
async fn close_hold(
    tx: &Transaction<'_>,
    hold: &HoldRow,
    cost: i64,
    usage: Option<Usage>,
    now: i64,
) -> Result<i64, LedgerError> {
    let (balance, held) = lock_account(tx, &hold.account).await?;
    let charge = cost.clamp(0, (balance - held + hold.amount).max(0));
    let hold_id = hold_id(hold.id);
    let base = NewEntry {
        key_id: hold.key_id.as_deref(),
        request_id: hold.request_id.as_deref(),
        hold_id: Some(&hold_id),
        model: hold.model.as_deref(),
        ..NewEntry::default()
    };
    let held = held - hold.amount;
    tx.execute(
        "UPDATE accounts SET held = $3, open_holds = open_holds - 1 WHERE wallet = $1 AND mode = $2",
        &[&hold.account.wallet, &hold.account.mode.as_str(), &held],
    )
    .await
    .map_err(store_error)?;
    let release = NewEntry { kind: Some(EntryKind::Release), amount: hold.amount, ..base };
    insert_entry(tx, &hold.account, (balance, held), &release, now).await?;
    let status = if usage.is_some() { "settled" } else { "released" };
    if let Some(usage) = usage {
        let balance = balance - charge;
        tx.execute(
            "UPDATE accounts SET balance = $3 WHERE wallet = $1 AND mode = $2",
            &[&hold.account.wallet, &hold.account.mode.as_str(), &balance],
        )
        .await
        .map_err(store_error)?;
        let settle = NewEntry {
            kind: Some(EntryKind::Settle),
            amount: -charge,
            key_id: hold.key_id.as_deref(),
            request_id: hold.request_id.as_deref(),
            hold_id: Some(&hold_id),
            model: hold.model.as_deref(),
            prompt_tokens: Some(usage.prompt_tokens),
            completion_tokens: Some(usage.completion_tokens),
            reference: None,
        };
        insert_entry(tx, &hold.account, (balance, held), &settle, now).await?;
    }
    tx.execute(
        "UPDATE holds SET status = $2, charged = $3, closed_at = $4 WHERE id = $1",
        &[&hold.id, &status, &charge, &now],
    )
    .await
    .map_err(store_error)?;
    Ok(charge)
}

#[async_trait]
impl Ledger for PgLedger {
    async fn credit(&self, credit: Credit) -> Result<Credited, LedgerError> {
        super::check_credit(&credit)?;
        self.tx(move |tx, now| {
            Box::pin(async move {
                let (balance, held) = lock_account(tx, &credit.account).await?;
                if let Some(reference) = &credit.reference {
                    // Under the account lock: a concurrent duplicate waits here.
                    let existing = tx
                        .query_opt(
                            &format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE kind = $1 AND reference = $2"),
                            &[&credit.kind.as_str(), reference],
                        )
                        .await
                        .map_err(store_error)?;
                    if let Some(row) = existing {
                        return Ok(Credited { entry: entry_from_row(&row), new: false });
                    }
                }
                if balance - held + credit.amount < 0 {
                    return Err(LedgerError::InsufficientCredits { needed: -credit.amount, available: balance - held });
                }
                let balance = balance + credit.amount;
                tx.execute(
                    "UPDATE accounts SET balance = $3 WHERE wallet = $1 AND mode = $2",
                    &[&credit.account.wallet, &credit.account.mode.as_str(), &balance],
                )
                .await
                .map_err(store_error)?;
                let entry = NewEntry {
                    kind: Some(credit.kind),
                    amount: credit.amount,
                    reference: credit.reference.as_deref(),
                    ..NewEntry::default()
                };
                let entry = insert_entry(tx, &credit.account, (balance, held), &entry, now).await?;
                Ok(Credited { entry, new: true })
            })
        })
        .await
    }

    async fn hold(&self, hold: NewHold) -> Result<HoldReceipt, LedgerError> {
        super::check_not_negative(hold.amount, "hold")?;
        self.tx(move |tx, now| {
            Box::pin(async move {
                let (balance, held) = lock_account(tx, &hold.account).await?;
                if balance - held < hold.amount {
                    return Err(LedgerError::InsufficientCredits { needed: hold.amount, available: balance - held });
                }
                let held = held + hold.amount;
                tx.execute(
                    "UPDATE accounts SET held = $3, open_holds = open_holds + 1 WHERE wallet = $1 AND mode = $2",
                    &[&hold.account.wallet, &hold.account.mode.as_str(), &held],
                )
                .await
                .map_err(store_error)?;
                let id: i64 = tx
                    .query_one(
                        "INSERT INTO holds (wallet, mode, key_id, request_id, model, amount, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                        &[
                            &hold.account.wallet,
                            &hold.account.mode.as_str(),
                            &hold.key_id,
                            &hold.request_id,
                            &hold.model,
                            &hold.amount,
                            &now,
                        ],
                    )
                    .await
                    .map_err(store_error)?
                    .get(0);
                let hold_id = hold_id(id);
                let entry = NewEntry {
                    kind: Some(EntryKind::Hold),
                    amount: -hold.amount,
                    key_id: Some(&hold.key_id),
                    request_id: Some(&hold.request_id),
                    hold_id: Some(&hold_id),
                    model: Some(&hold.model),
                    reference: hold.reference.as_deref(),
                    ..NewEntry::default()
                };
                insert_entry(tx, &hold.account, (balance, held), &entry, now).await?;
                Ok(HoldReceipt { hold_id, amount: hold.amount })
            })
        })
        .await
    }

    async fn settle(&self, settle: Settle) -> Result<Settlement, LedgerError> {
        let Some(id) = hold_row(&settle.hold_id) else {
            return Err(LedgerError::UnknownHold(settle.hold_id));
        };
        self.tx(move |tx, now| {
            Box::pin(async move {
                let row = tx
                    .query_opt(
                        &format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1 FOR UPDATE"),
                        &[&id],
                    )
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| LedgerError::UnknownHold(settle.hold_id.clone()))?;
                let hold = hold_from_row(&row);
                if hold.status != "open" {
                    return Ok(Settlement {
                        charged: hold.charged.unwrap_or(0),
                        already_settled: true,
                    });
                }
                let charged = close_hold(tx, &hold, settle.cost, Some(settle.usage), now).await?;
                Ok(Settlement { charged, already_settled: false })
            })
        })
        .await
    }

    async fn charge(&self, charge: FlatCharge) -> Result<Entry, LedgerError> {
        super::check_not_negative(charge.amount, "charge")?;
        self.tx(move |tx, now| {
            Box::pin(async move {
                let (balance, held) = lock_account(tx, &charge.account).await?;
                if balance - held < charge.amount {
                    return Err(LedgerError::InsufficientCredits {
                        needed: charge.amount,
                        available: balance - held,
                    });
                }
                let balance = balance - charge.amount;
                tx.execute(
                    "UPDATE accounts SET balance = $3 WHERE wallet = $1 AND mode = $2",
                    &[&charge.account.wallet, &charge.account.mode.as_str(), &balance],
                )
                .await
                .map_err(store_error)?;
                let entry = NewEntry {
                    kind: Some(charge.kind),
                    amount: -charge.amount,
                    key_id: Some(&charge.key_id),
                    request_id: Some(&charge.request_id),
                    ..NewEntry::default()
                };
                insert_entry(tx, &charge.account, (balance, held), &entry, now).await
            })
        })
        .await
    }

    async fn balance(&self, account: Account) -> Result<Balance, LedgerError> {
        let client = self.pool.get().await.map_err(store_error)?;
        let row = client
            .query_opt(
                "SELECT balance, held, open_holds FROM accounts WHERE wallet = $1 AND mode = $2",
                &[&account.wallet, &account.mode.as_str()],
            )
            .await
            .map_err(store_error)?;
        let (balance, held, open): (i64, i64, i64) =
            row.map_or((0, 0, 0), |r| (r.get(0), r.get(1), r.get(2)));
        Ok(Balance { balance, held, available: balance - held, open_holds: open.max(0) as u64 })
    }

    async fn open_holds(&self, account: Account, limit: u32) -> Result<Vec<OpenHold>, LedgerError> {
        let client = self.pool.get().await.map_err(store_error)?;
        let rows = client
            .query(
                "SELECT id, amount, key_id, request_id, model, created_at FROM holds \
                 WHERE status = 'open' AND wallet = $1 AND mode = $2 ORDER BY id LIMIT $3",
                &[&account.wallet, &account.mode.as_str(), &i64::from(limit)],
            )
            .await
            .map_err(store_error)?;
        Ok(rows
            .iter()
            .map(|r| OpenHold {
                hold_id: hold_id(r.get(0)),
                amount: r.get(1),
                key_id: r.get(2),
                request_id: r.get(3),
                model: r.get(4),
                created_at_ms: r.get(5),
            })
            .collect())
    }

    async fn entries(&self, query: EntryQuery) -> Result<Vec<Entry>, LedgerError> {
        let client = self.pool.get().await.map_err(store_error)?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE wallet = $1 \
                     AND ($2::text IS NULL OR mode = $2) AND ($3::text IS NULL OR key_id = $3) \
                     AND ($4::text IS NULL OR request_id = $4) AND ($5::bigint IS NULL OR created_at >= $5) \
                     AND ($6::bigint IS NULL OR created_at < $6) AND ($7::bigint IS NULL OR id > $7) \
                     ORDER BY id LIMIT $8"
                ),
                &[
                    &query.wallet,
                    &query.mode.map(KeyMode::as_str),
                    &query.key_id,
                    &query.request_id,
                    &query.since_ms,
                    &query.until_ms,
                    &query.after_id,
                    &i64::from(query.limit.max(1)),
                ],
            )
            .await
            .map_err(store_error)?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    async fn release_open_holds(&self) -> Result<u64, LedgerError> {
        self.tx(|tx, now| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        &format!(
                            "SELECT {HOLD_COLUMNS} FROM holds WHERE status = 'open' FOR UPDATE"
                        ),
                        &[],
                    )
                    .await
                    .map_err(store_error)?;
                for row in &rows {
                    close_hold(tx, &hold_from_row(row), 0, None, now).await?;
                }
                Ok(rows.len() as u64)
            })
        })
        .await
    }
}
