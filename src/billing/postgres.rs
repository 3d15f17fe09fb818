//! The ledger on PostgreSQL, for replicas on several machines. Same rules
//! as the SQLite ledger: each operation is one transaction; the
//! conditional `UPDATE ... WHERE balance - held >= $n` takes the account's
//! row lock and rechecks the condition, and the table's CHECKs refuse a
//! negative balance whatever happens. The pool and the migrations are the
//! store's (`store::PgStore`).

use async_trait::async_trait;
use deadpool_postgres::Pool;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{
    Account, Balance, Credit, Credited, ENTRY_COLUMNS, Entry, EntryKind, EntryQuery, FlatCharge,
    HoldReceipt, Ledger, LedgerError, NewEntry, NewHold, OpenHold, Settle, Settlement, Usage,
    hold_id, hold_row,
};
use crate::auth::keys::KeyMode;
use crate::clock::Clock;
use crate::store::PgStore;
use std::sync::Arc;

#[derive(Clone)]
pub struct PgLedger {
    pool: Pool,
    clock: Arc<dyn Clock>,
}

fn store_error(err: impl std::fmt::Display) -> LedgerError {
    LedgerError::Store(err.to_string())
}

impl PgLedger {
    /// The ledger on `store`'s pool (and its migrated schema).
    pub fn new(store: &PgStore, clock: Arc<dyn Clock>) -> Self {
        Self { pool: store.pool().clone(), clock }
    }

    /// Connects (a pool of up to `max_connections`) and migrates.
    pub async fn connect(
        url: &str,
        max_connections: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LedgerError> {
        let store = PgStore::connect(url, max_connections).await.map_err(store_error)?;
        Ok(Self::new(&store, clock))
    }

    /// Closes hold `id` (`veil_close_hold`): settles it with `usage`, or
    /// releases it uncharged when `None`. `None` for an unknown hold.
    async fn close_hold(
        &self,
        id: i64,
        cost: i64,
        usage: Option<Usage>,
    ) -> Result<Option<Settlement>, LedgerError> {
        let now = self.clock.now_ms();
        let client = self.pool.get().await.map_err(store_error)?;
        let row = one(
            &client,
            "SELECT o_found, o_already, o_charged FROM veil_close_hold($1, $2, $3, $4, $5, $6)",
            &[
                &id,
                &cost,
                &usage.is_some(),
                &tokens(usage.map(|u| u.prompt_tokens)),
                &tokens(usage.map(|u| u.completion_tokens)),
                &now,
            ],
        )
        .await
        .map_err(store_error)?;
        if !row.get::<_, bool>(0) {
            return Ok(None);
        }
        Ok(Some(Settlement { charged: row.get(2), already_settled: row.get(1) }))
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

// Statements are prepared once per connection and reused: each then costs
// one round trip instead of two (parse, then execute).

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn one<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Row, tokio_postgres::Error> {
    c.query_one(&c.prepare_cached(sql).await?, p).await
}

async fn opt<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    c.query_opt(&c.prepare_cached(sql).await?, p).await
}

async fn all<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    c.query(&c.prepare_cached(sql).await?, p).await
}

async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    c.execute(&c.prepare_cached(sql).await?, p).await
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
    let row = one(tx,
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

/// (balance, held), creating the account if needed; the row stays locked
/// for the rest of the transaction.
async fn lock_account(tx: &Transaction<'_>, account: &Account) -> Result<(i64, i64), LedgerError> {
    const LOCK: &str =
        "SELECT balance, held FROM accounts WHERE wallet = $1 AND mode = $2 FOR UPDATE";
    let key: Params<'_> = &[&account.wallet, &account.mode.as_str()];
    if let Some(row) = opt(tx, LOCK, key).await.map_err(store_error)? {
        return Ok((row.get(0), row.get(1)));
    }
    exec(tx, "INSERT INTO accounts (wallet, mode) VALUES ($1, $2) ON CONFLICT DO NOTHING", key)
        .await
        .map_err(store_error)?;
    let row = one(tx, LOCK, key).await.map_err(store_error)?;
    Ok((row.get(0), row.get(1)))
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
                    let existing = opt(tx,
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
                exec(tx,
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
        let now = self.clock.now_ms();
        let client = self.pool.get().await.map_err(store_error)?;
        let row = one(
            &client,
            "SELECT o_hold, o_available FROM veil_hold($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &hold.account.wallet,
                &hold.account.mode.as_str(),
                &hold.key_id,
                &hold.request_id,
                &hold.model,
                &hold.amount,
                &hold.reference,
                &now,
            ],
        )
        .await
        .map_err(store_error)?;
        match row.get::<_, Option<i64>>(0) {
            Some(id) => Ok(HoldReceipt { hold_id: hold_id(id), amount: hold.amount }),
            None => {
                Err(LedgerError::InsufficientCredits { needed: hold.amount, available: row.get(1) })
            }
        }
    }

    async fn settle(&self, settle: Settle) -> Result<Settlement, LedgerError> {
        let Some(id) = hold_row(&settle.hold_id) else {
            return Err(LedgerError::UnknownHold(settle.hold_id));
        };
        let usage = Some(settle.usage);
        match self.close_hold(id, settle.cost, usage).await? {
            Some(settlement) => Ok(settlement),
            None => Err(LedgerError::UnknownHold(settle.hold_id)),
        }
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
                exec(
                    tx,
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
        let row = opt(
            &client,
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
        let rows = all(
            &client,
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
        let rows = all(&client,
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

    async fn release_stale_holds(&self, created_before_ms: i64) -> Result<u64, LedgerError> {
        let client = self.pool.get().await.map_err(store_error)?;
        let rows = all(
            &client,
            "SELECT id FROM holds WHERE status = 'open' AND created_at < $1 ORDER BY id",
            &[&created_before_ms],
        )
        .await
        .map_err(store_error)?;
        drop(client);
        let mut released = 0;
        for row in &rows {
            // Closed meanwhile (settled by its request): not counted.
            if let Some(s) = self.close_hold(row.get(0), 0, None).await?
                && !s.already_settled
            {
                released += 1;
            }
        }
        Ok(released)
    }
}
