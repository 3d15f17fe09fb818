//! The ledger on SQLite. Every write is one operation of the store's
//! [`GroupWriter`] (its own savepoint inside a group-committed
//! transaction); conditional updates plus the tables' CHECK constraints make
//! overspending impossible, whatever the interleaving of requests.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Account, Balance, Credit, Credited, ENTRY_COLUMNS, Entry, EntryKind, EntryQuery, FlatCharge,
    HOLD_COLUMNS, HoldReceipt, Ledger, LedgerError, NewEntry, NewHold, Settle, Settlement, hold_id,
    hold_row,
};
use crate::auth::keys::KeyMode;
use crate::clock::Clock;
use crate::store::{GroupWriter, SqliteStore};

#[derive(Clone)]
pub struct SqliteLedger {
    store: Arc<SqliteStore>,
    writer: GroupWriter,
    clock: Arc<dyn Clock>,
}

impl SqliteLedger {
    /// Starts the ledger's writer thread; it ends when the last clone of
    /// this ledger is dropped.
    pub fn new(store: Arc<SqliteStore>, clock: Arc<dyn Clock>) -> std::io::Result<Self> {
        let writer = GroupWriter::start(store.clone())?;
        Ok(Self { store, writer, clock })
    }

    /// Runs `f` in a group-committed write; `now` is read at the call.
    async fn write<T, F>(&self, f: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, LedgerError> + Send + 'static,
    {
        let now = self.clock.now_ms();
        self.writer.write(move |conn| f(conn, now)).await
    }

    async fn read<T, F>(&self, f: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store.conn()))
            .await
            .map_err(|e| LedgerError::Store(e.to_string()))?
    }
}

fn ensure_account(tx: &Connection, account: &Account) -> Result<(), LedgerError> {
    tx.prepare_cached("INSERT OR IGNORE INTO accounts (wallet, mode) VALUES (?1, ?2)")?
        .execute(params![account.wallet, account.mode.as_str()])?;
    Ok(())
}

/// (balance, held) of an account; zeros when it does not exist.
fn balances(conn: &Connection, account: &Account) -> Result<(i64, i64), LedgerError> {
    Ok(conn
        .prepare_cached("SELECT balance, held FROM accounts WHERE wallet = ?1 AND mode = ?2")?
        .query_row(params![account.wallet, account.mode.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0)))
}

fn insert_entry(
    tx: &Connection,
    account: &Account,
    entry: &NewEntry<'_>,
    now: i64,
) -> Result<Entry, LedgerError> {
    let kind = entry.kind.ok_or_else(|| LedgerError::Store("entry without kind".into()))?;
    let (balance, held) = balances(tx, account)?;
    tx.prepare_cached(
        "INSERT INTO ledger_entries (wallet, mode, kind, amount, balance_after, available_after, \
         key_id, request_id, hold_id, model, prompt_tokens, completion_tokens, reference, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        account.wallet,
        account.mode.as_str(),
        kind.as_str(),
        entry.amount,
        balance,
        balance - held,
        entry.key_id,
        entry.request_id,
        entry.hold_id,
        entry.model,
        entry.prompt_tokens,
        entry.completion_tokens,
        entry.reference,
        now,
    ])?;
    Ok(Entry {
        id: tx.last_insert_rowid(),
        wallet: account.wallet.clone(),
        mode: account.mode,
        kind,
        amount: entry.amount,
        balance_after: balance,
        available_after: balance - held,
        key_id: entry.key_id.map(str::to_owned),
        request_id: entry.request_id.map(str::to_owned),
        hold_id: entry.hold_id.map(str::to_owned),
        model: entry.model.map(str::to_owned),
        prompt_tokens: entry.prompt_tokens,
        completion_tokens: entry.completion_tokens,
        reference: entry.reference.map(str::to_owned),
        created_at_ms: now,
    })
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let mode: String = row.get(2)?;
    let kind: String = row.get(3)?;
    Ok(Entry {
        id: row.get(0)?,
        wallet: row.get(1)?,
        mode: KeyMode::parse(&mode).unwrap_or(KeyMode::Test),
        kind: EntryKind::parse(&kind).unwrap_or(EntryKind::Adjustment),
        amount: row.get(4)?,
        balance_after: row.get(5)?,
        available_after: row.get(6)?,
        key_id: row.get(7)?,
        request_id: row.get(8)?,
        hold_id: row.get(9)?,
        model: row.get(10)?,
        prompt_tokens: row.get(11)?,
        completion_tokens: row.get(12)?,
        reference: row.get(13)?,
        created_at_ms: row.get(14)?,
    })
}

/// Releases one open hold and charges `charge`, writing `release` then
/// `settle` (so no entry shows negative available credits).
fn close_hold(
    tx: &Connection,
    hold: &OpenHold,
    cost: i64,
    usage: Option<super::Usage>,
    now: i64,
) -> Result<i64, LedgerError> {
    let (balance, held) = balances(tx, &hold.account)?;
    // What the account can pay once this hold is released.
    let payable = balance - held + hold.amount;
    let charge = cost.clamp(0, payable.max(0));
    if charge < cost {
        tracing::warn!(hold_id = %hold.hold_id, cost, charged = charge, "cost exceeded available credits; charge capped");
    }
    tx.prepare_cached(
        "UPDATE accounts SET held = held - ?3, open_holds = open_holds - 1 WHERE wallet = ?1 AND mode = ?2",
    )?
    .execute(params![hold.account.wallet, hold.account.mode.as_str(), hold.amount])?;
    let base = NewEntry {
        key_id: hold.key_id.as_deref(),
        request_id: hold.request_id.as_deref(),
        hold_id: Some(&hold.hold_id),
        model: hold.model.as_deref(),
        ..NewEntry::default()
    };
    insert_entry(
        tx,
        &hold.account,
        &NewEntry { kind: Some(EntryKind::Release), amount: hold.amount, ..base },
        now,
    )?;
    let status = if usage.is_some() { "settled" } else { "released" };
    if let Some(usage) = usage {
        tx.prepare_cached(
            "UPDATE accounts SET balance = balance - ?3 WHERE wallet = ?1 AND mode = ?2",
        )?
        .execute(params![hold.account.wallet, hold.account.mode.as_str(), charge])?;
        let settle = NewEntry {
            kind: Some(EntryKind::Settle),
            amount: -charge,
            prompt_tokens: Some(usage.prompt_tokens),
            completion_tokens: Some(usage.completion_tokens),
            key_id: hold.key_id.as_deref(),
            request_id: hold.request_id.as_deref(),
            hold_id: Some(&hold.hold_id),
            model: hold.model.as_deref(),
            reference: None,
        };
        insert_entry(tx, &hold.account, &settle, now)?;
    }
    tx.prepare_cached("UPDATE holds SET status = ?2, charged = ?3, closed_at = ?4 WHERE id = ?1")?
        .execute(params![hold.row, status, charge, now])?;
    Ok(charge)
}

struct OpenHold {
    row: i64,
    hold_id: String,
    account: Account,
    amount: i64,
    key_id: Option<String>,
    request_id: Option<String>,
    model: Option<String>,
}

fn hold_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(OpenHold, String, Option<i64>)> {
    let mode: String = row.get(2)?;
    Ok((
        OpenHold {
            row: row.get(0)?,
            hold_id: hold_id(row.get(0)?),
            account: Account {
                wallet: row.get(1)?,
                mode: KeyMode::parse(&mode).unwrap_or(KeyMode::Test),
            },
            amount: row.get(3)?,
            key_id: row.get(4)?,
            request_id: row.get(5)?,
            model: row.get(6)?,
        },
        row.get(7)?,
        row.get(8)?,
    ))
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn credit(&self, credit: Credit) -> Result<Credited, LedgerError> {
        super::check_credit(&credit)?;
        self.write(move |tx, now| {
            if let Some(reference) = &credit.reference {
                let existing = tx
                    .prepare_cached(&format!(
                        "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE kind = ?1 AND reference = ?2"
                    ))?
                    .query_row(params![credit.kind.as_str(), reference], entry_from_row)
                    .optional()?;
                if let Some(entry) = existing {
                    return Ok(Credited { entry, new: false });
                }
            }
            ensure_account(tx, &credit.account)?;
            let changed = tx
                .prepare_cached(
                    "UPDATE accounts SET balance = balance + ?3 \
                     WHERE wallet = ?1 AND mode = ?2 AND balance - held + ?3 >= 0",
                )?
                .execute(params![credit.account.wallet, credit.account.mode.as_str(), credit.amount])?;
            if changed == 0 {
                let (balance, held) = balances(tx, &credit.account)?;
                return Err(LedgerError::InsufficientCredits { needed: -credit.amount, available: balance - held });
            }
            let entry = NewEntry {
                kind: Some(credit.kind),
                amount: credit.amount,
                reference: credit.reference.as_deref(),
                ..NewEntry::default()
            };
            Ok(Credited { entry: insert_entry(tx, &credit.account, &entry, now)?, new: true })
        })
        .await
    }

    async fn hold(&self, hold: NewHold) -> Result<HoldReceipt, LedgerError> {
        super::check_not_negative(hold.amount, "hold")?;
        self.write(move |tx, now| {
            let changed = tx
                .prepare_cached(
                    "UPDATE accounts SET held = held + ?3, open_holds = open_holds + 1 \
                     WHERE wallet = ?1 AND mode = ?2 AND balance - held >= ?3",
                )?
                .execute(params![hold.account.wallet, hold.account.mode.as_str(), hold.amount])?;
            if changed == 0 {
                if hold.amount > 0 {
                    let (balance, held) = balances(tx, &hold.account)?;
                    return Err(LedgerError::InsufficientCredits { needed: hold.amount, available: balance - held });
                }
                // A zero hold (a free model) on a new account.
                ensure_account(tx, &hold.account)?;
                tx.prepare_cached(
                    "UPDATE accounts SET open_holds = open_holds + 1 WHERE wallet = ?1 AND mode = ?2",
                )?
                .execute(params![hold.account.wallet, hold.account.mode.as_str()])?;
            }
            tx.prepare_cached(
                "INSERT INTO holds (wallet, mode, key_id, request_id, model, amount, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                hold.account.wallet,
                hold.account.mode.as_str(),
                hold.key_id,
                hold.request_id,
                hold.model,
                hold.amount,
                now
            ])?;
            let hold_id = hold_id(tx.last_insert_rowid());
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
            insert_entry(tx, &hold.account, &entry, now)?;
            Ok(HoldReceipt { hold_id, amount: hold.amount })
        })
        .await
    }

    async fn settle(&self, settle: Settle) -> Result<Settlement, LedgerError> {
        self.write(move |tx, now| {
            let Some(row) = hold_row(&settle.hold_id) else {
                return Err(LedgerError::UnknownHold(settle.hold_id.clone()));
            };
            let found = tx
                .prepare_cached(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = ?1"))?
                .query_row([row], hold_from_row)
                .optional()?;
            let Some((hold, status, charged)) = found else {
                return Err(LedgerError::UnknownHold(settle.hold_id.clone()));
            };
            if status != "open" {
                return Ok(Settlement { charged: charged.unwrap_or(0), already_settled: true });
            }
            let charged = close_hold(tx, &hold, settle.cost, Some(settle.usage), now)?;
            Ok(Settlement { charged, already_settled: false })
        })
        .await
    }

    async fn charge(&self, charge: FlatCharge) -> Result<Entry, LedgerError> {
        super::check_not_negative(charge.amount, "charge")?;
        self.write(move |tx, now| {
            ensure_account(tx, &charge.account)?;
            let changed = tx
                .prepare_cached(
                    "UPDATE accounts SET balance = balance - ?3 \
                     WHERE wallet = ?1 AND mode = ?2 AND balance - held >= ?3",
                )?
                .execute(params![
                    charge.account.wallet,
                    charge.account.mode.as_str(),
                    charge.amount
                ])?;
            if changed == 0 {
                let (balance, held) = balances(tx, &charge.account)?;
                return Err(LedgerError::InsufficientCredits {
                    needed: charge.amount,
                    available: balance - held,
                });
            }
            let entry = NewEntry {
                kind: Some(charge.kind),
                amount: -charge.amount,
                key_id: Some(&charge.key_id),
                request_id: Some(&charge.request_id),
                ..NewEntry::default()
            };
            insert_entry(tx, &charge.account, &entry, now)
        })
        .await
    }

    async fn balance(&self, account: Account) -> Result<Balance, LedgerError> {
        self.read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT balance, held, open_holds FROM accounts WHERE wallet = ?1 AND mode = ?2",
                )?
                .query_row(params![account.wallet, account.mode.as_str()], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, u64>(2)?))
                })
                .optional()?;
            let (balance, held, open_holds) = row.unwrap_or((0, 0, 0));
            Ok(Balance { balance, held, available: balance - held, open_holds })
        })
        .await
    }

    async fn open_holds(
        &self,
        account: Account,
        limit: u32,
    ) -> Result<Vec<super::OpenHold>, LedgerError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, amount, key_id, request_id, model, created_at FROM holds \
                 WHERE status = 'open' AND wallet = ?1 AND mode = ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![account.wallet, account.mode.as_str(), i64::from(limit)],
                |r| {
                    Ok(super::OpenHold {
                        hold_id: hold_id(r.get(0)?),
                        amount: r.get(1)?,
                        key_id: r.get(2)?,
                        request_id: r.get(3)?,
                        model: r.get(4)?,
                        created_at_ms: r.get(5)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn entries(&self, query: EntryQuery) -> Result<Vec<Entry>, LedgerError> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE wallet = ?1 \
                 AND (?2 IS NULL OR mode = ?2) AND (?3 IS NULL OR key_id = ?3) \
                 AND (?4 IS NULL OR request_id = ?4) AND (?5 IS NULL OR created_at >= ?5) \
                 AND (?6 IS NULL OR created_at < ?6) AND (?7 IS NULL OR id > ?7) \
                 ORDER BY id LIMIT ?8"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![
                    query.wallet,
                    query.mode.map(KeyMode::as_str),
                    query.key_id,
                    query.request_id,
                    query.since_ms,
                    query.until_ms,
                    query.after_id,
                    i64::from(query.limit.max(1)),
                ],
                entry_from_row,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn release_stale_holds(&self, created_before_ms: i64) -> Result<u64, LedgerError> {
        self.write(move |tx, now| {
            let open: Vec<OpenHold> = tx
                .prepare(&format!(
                    "SELECT {HOLD_COLUMNS} FROM holds WHERE status = 'open' AND created_at < ?1"
                ))?
                .query_map([created_before_ms], hold_from_row)?
                .map(|r| r.map(|(hold, _, _)| hold))
                .collect::<Result<_, _>>()?;
            for hold in &open {
                close_hold(tx, hold, 0, None, now)?;
            }
            Ok(open.len() as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    #[tokio::test]
    async fn credit_then_balance() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let ledger = SqliteLedger::new(store, Arc::new(SystemClock)).unwrap();
        let account = Account { wallet: "0xaa".into(), mode: KeyMode::Test };
        let c = ledger
            .credit(Credit {
                account: account.clone(),
                kind: EntryKind::Grant,
                amount: 5,
                reference: None,
            })
            .await
            .unwrap();
        assert!(c.new);
        assert_eq!(ledger.balance(account).await.unwrap().balance, 5);
    }
}
