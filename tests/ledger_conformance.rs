//! The ledger conformance suite: behaviour every `Ledger` implementation
//! must have, written against the trait, run on SQLite and on PostgreSQL
//! (a fresh database per test on the server of `TEST_POSTGRES_URL`; CI
//! starts one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use veil::auth::keys::KeyMode;
use veil::billing::{
    Account, Credit, EntryKind, EntryQuery, FlatCharge, Ledger, LedgerError, NewHold, PgLedger,
    Settle, SqliteLedger, Usage,
};
use veil::clock::SystemClock;
use veil::store::SqliteStore;

fn account(wallet: &str) -> Account {
    Account { wallet: wallet.into(), mode: KeyMode::Live }
}

async fn grant(ledger: &dyn Ledger, account: &Account, amount: i64) {
    let credit =
        Credit { account: account.clone(), kind: EntryKind::Grant, amount, reference: None };
    ledger.credit(credit).await.unwrap();
}

fn hold(account: &Account, request_id: &str, amount: i64) -> NewHold {
    NewHold {
        account: account.clone(),
        key_id: "key_a".into(),
        request_id: request_id.into(),
        model: "m".into(),
        amount,
        reference: None,
    }
}

async fn all_entries(ledger: &dyn Ledger, wallet: &str) -> Vec<veil::billing::Entry> {
    ledger
        .entries(EntryQuery { wallet: wallet.into(), limit: 100_000, ..Default::default() })
        .await
        .unwrap()
}

/// Balance equals the sum of entries once no hold is open, and no entry
/// ever shows a negative balance.
async fn assert_consistent(ledger: &dyn Ledger, account: &Account) {
    let balance = ledger.balance(account.clone()).await.unwrap();
    let entries = all_entries(ledger, &account.wallet).await;
    let mine: Vec<_> = entries.iter().filter(|e| e.mode == account.mode).collect();
    assert!(mine.iter().all(|e| e.balance_after >= 0 && e.available_after >= 0));
    let sum: i64 = mine.iter().map(|e| e.amount).sum();
    assert_eq!(sum, balance.available, "sum of amounts is the available balance");
    if balance.open_holds == 0 {
        assert_eq!(sum, balance.balance);
    }
}

pub async fn credits_are_idempotent_per_reference(ledger: &dyn Ledger) {
    let a = account("0x01");
    let credit = Credit {
        account: a.clone(),
        kind: EntryKind::Purchase,
        amount: 500,
        reference: Some("cs_1".into()),
    };
    assert!(ledger.credit(credit.clone()).await.unwrap().new);
    let again = ledger.credit(credit).await.unwrap();
    assert!(!again.new);
    assert_eq!(ledger.balance(a.clone()).await.unwrap().balance, 500);
    let zero = Credit { account: a.clone(), kind: EntryKind::Grant, amount: 0, reference: None };
    assert!(matches!(ledger.credit(zero).await, Err(LedgerError::InvalidAmount(_))));
    let too_negative =
        Credit { account: a.clone(), kind: EntryKind::Adjustment, amount: -501, reference: None };
    assert!(matches!(
        ledger.credit(too_negative).await,
        Err(LedgerError::InsufficientCredits { .. })
    ));
    let negative =
        Credit { account: a.clone(), kind: EntryKind::Adjustment, amount: -100, reference: None };
    ledger.credit(negative).await.unwrap();
    assert_eq!(ledger.balance(a.clone()).await.unwrap().balance, 400);
    assert_consistent(ledger, &a).await;
}

pub async fn hold_settle_release_cycle(ledger: &dyn Ledger) {
    let a = account("0x02");
    grant(ledger, &a, 1_000).await;
    let h = ledger.hold(hold(&a, "req_1", 300)).await.unwrap();
    let b = ledger.balance(a.clone()).await.unwrap();
    assert_eq!((b.balance, b.held, b.available, b.open_holds), (1_000, 300, 700, 1));
    let open = ledger.open_holds(a.clone(), 10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].hold_id.as_str(), open[0].amount), (h.hold_id.as_str(), 300));
    assert_eq!(open[0].request_id.as_deref(), Some("req_1"));
    let usage = Usage { prompt_tokens: 10, completion_tokens: 5 };
    let s = ledger.settle(Settle { hold_id: h.hold_id.clone(), cost: 120, usage }).await.unwrap();
    assert_eq!((s.charged, s.already_settled), (120, false));
    let b = ledger.balance(a.clone()).await.unwrap();
    assert_eq!((b.balance, b.held, b.available, b.open_holds), (880, 0, 880, 0));
    assert!(ledger.open_holds(a.clone(), 10).await.unwrap().is_empty());
    // Settling again changes nothing and reports the first outcome.
    let again =
        ledger.settle(Settle { hold_id: h.hold_id.clone(), cost: 999, usage }).await.unwrap();
    assert_eq!((again.charged, again.already_settled), (120, true));
    assert_eq!(ledger.balance(a.clone()).await.unwrap().balance, 880);
    let kinds: Vec<_> = all_entries(ledger, "0x02").await.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EntryKind::Grant, EntryKind::Hold, EntryKind::Release, EntryKind::Settle]);
    let settle = all_entries(ledger, "0x02").await.pop().unwrap();
    assert_eq!(settle.request_id.as_deref(), Some("req_1"));
    assert_eq!((settle.prompt_tokens, settle.completion_tokens), (Some(10), Some(5)));
    assert_eq!(settle.amount, -120);
    assert!(matches!(
        ledger.settle(Settle { hold_id: "hold_nope".into(), cost: 1, usage }).await,
        Err(LedgerError::UnknownHold(_))
    ));
    assert_consistent(ledger, &a).await;
}

pub async fn holds_beyond_available_are_refused(ledger: &dyn Ledger) {
    let a = account("0x03");
    grant(ledger, &a, 100).await;
    ledger.hold(hold(&a, "r1", 60)).await.unwrap();
    match ledger.hold(hold(&a, "r2", 41)).await {
        Err(LedgerError::InsufficientCredits { needed, available }) => {
            assert_eq!((needed, available), (41, 40))
        }
        other => panic!("expected insufficient credits, got {other:?}"),
    }
    ledger.hold(hold(&a, "r3", 40)).await.unwrap();
    let unfunded = account("0x03ff");
    assert!(matches!(
        ledger.hold(hold(&unfunded, "r4", 1)).await,
        Err(LedgerError::InsufficientCredits { .. })
    ));
    // A zero hold (a free model) always passes.
    ledger.hold(hold(&unfunded, "r5", 0)).await.unwrap();
    assert_consistent(ledger, &a).await;
}

pub async fn cost_above_the_hold_is_capped_at_what_can_be_paid(ledger: &dyn Ledger) {
    let a = account("0x04");
    grant(ledger, &a, 100).await;
    let h1 = ledger.hold(hold(&a, "r1", 50)).await.unwrap();
    let h2 = ledger.hold(hold(&a, "r2", 30)).await.unwrap();
    // h1 may use its own 50 plus the 20 no hold covers, never h2's 30.
    let usage = Usage::default();
    let s = ledger.settle(Settle { hold_id: h1.hold_id, cost: 500, usage }).await.unwrap();
    assert_eq!(s.charged, 70);
    let b = ledger.balance(a.clone()).await.unwrap();
    assert_eq!((b.balance, b.held, b.available), (30, 30, 0));
    ledger.settle(Settle { hold_id: h2.hold_id, cost: 30, usage }).await.unwrap();
    assert_eq!(ledger.balance(a.clone()).await.unwrap().balance, 0);
    assert_consistent(ledger, &a).await;
}

pub async fn flat_charges(ledger: &dyn Ledger) {
    let a = account("0x05");
    grant(ledger, &a, 100_000).await;
    let charge = FlatCharge {
        account: a.clone(),
        kind: EntryKind::Preview,
        amount: 50_000,
        key_id: "key_a".into(),
        request_id: "req_p".into(),
    };
    let e = ledger.charge(charge.clone()).await.unwrap();
    assert_eq!((e.kind, e.amount, e.balance_after), (EntryKind::Preview, -50_000, 50_000));
    ledger.charge(charge.clone()).await.unwrap();
    assert!(matches!(ledger.charge(charge).await, Err(LedgerError::InsufficientCredits { .. })));
    assert_consistent(ledger, &a).await;
}

pub async fn live_and_test_balances_are_apart(ledger: &dyn Ledger) {
    let live = account("0x06");
    let test = Account { wallet: "0x06".into(), mode: KeyMode::Test };
    grant(ledger, &test, 10).await;
    assert_eq!(ledger.balance(live.clone()).await.unwrap().balance, 0);
    assert!(ledger.hold(hold(&live, "r", 5)).await.is_err());
    assert!(ledger.hold(hold(&test, "r", 5)).await.is_ok());
}

pub async fn open_holds_are_released_after_a_crash(ledger: &dyn Ledger) {
    let a = account("0x07");
    grant(ledger, &a, 100).await;
    for i in 0..3 {
        ledger.hold(hold(&a, &format!("r{i}"), 20)).await.unwrap();
    }
    // Holds younger than the cut-off belong to a live process: kept.
    assert_eq!(ledger.release_stale_holds(0).await.unwrap(), 0);
    assert_eq!(ledger.balance(a.clone()).await.unwrap().open_holds, 3);
    let after = veil::store::now_ms() + 1;
    assert!(ledger.release_stale_holds(after).await.unwrap() >= 3);
    let b = ledger.balance(a.clone()).await.unwrap();
    assert_eq!((b.balance, b.held, b.open_holds), (100, 0, 0));
    assert_consistent(ledger, &a).await;
}

pub async fn entries_filter_and_paginate(ledger: &dyn Ledger) {
    let a = account("0x08");
    grant(ledger, &a, 1_000).await;
    for i in 0..5 {
        let h = ledger.hold(hold(&a, &format!("req_{i}"), 10)).await.unwrap();
        let settle = Settle { hold_id: h.hold_id, cost: 1, usage: Usage::default() };
        ledger.settle(settle).await.unwrap();
    }
    let by_request = ledger
        .entries(EntryQuery {
            wallet: "0x08".into(),
            request_id: Some("req_3".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_request.len(), 3);
    assert!(by_request.iter().all(|e| e.request_id.as_deref() == Some("req_3")));
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = ledger
            .entries(EntryQuery {
                wallet: "0x08".into(),
                after_id: after,
                limit: 4,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page);
    }
    assert_eq!(seen.len(), 16);
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id));
    let future = ledger
        .entries(EntryQuery {
            wallet: "0x08".into(),
            since_ms: Some(i64::MAX - 1),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(future.is_empty());
    let by_key = ledger
        .entries(EntryQuery {
            wallet: "0x08".into(),
            key_id: Some("key_a".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_key.len(), 15);
}

/// 100 concurrent holds against a balance for exactly 37 of them.
pub async fn concurrent_holds_never_overspend(ledger: Arc<dyn Ledger>) {
    let a = account("0x09");
    grant(ledger.as_ref(), &a, 37 * 25).await;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let ledger = ledger.clone();
            let a = a.clone();
            tokio::spawn(async move { ledger.hold(hold(&a, &format!("r{i}"), 25)).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(LedgerError::InsufficientCredits { .. }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(ok, 37);
    let b = ledger.balance(a.clone()).await.unwrap();
    assert_eq!((b.available, b.held), (0, 37 * 25));
    assert_consistent(ledger.as_ref(), &a).await;
}

async fn sqlite() -> Option<Arc<dyn Ledger>> {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    Some(Arc::new(SqliteLedger::new(store, Arc::new(SystemClock)).unwrap()))
}

async fn postgres() -> Option<Arc<dyn Ledger>> {
    let url = common::fresh_postgres("the ledger").await?;
    Some(Arc::new(PgLedger::connect(&url, 8, Arc::new(SystemClock)).await.unwrap()))
}

macro_rules! suite {
    ($prefix:ident, $make:expr) => {
        mod $prefix {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn credits_idempotent() {
                let Some(l) = $make.await else { return };
                credits_are_idempotent_per_reference(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn hold_settle_release() {
                let Some(l) = $make.await else { return };
                hold_settle_release_cycle(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn holds_beyond_available() {
                let Some(l) = $make.await else { return };
                holds_beyond_available_are_refused(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn cost_capped() {
                let Some(l) = $make.await else { return };
                cost_above_the_hold_is_capped_at_what_can_be_paid(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn flat() {
                let Some(l) = $make.await else { return };
                flat_charges(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn live_and_test_apart() {
                let Some(l) = $make.await else { return };
                live_and_test_balances_are_apart(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn crash_release() {
                let Some(l) = $make.await else { return };
                open_holds_are_released_after_a_crash(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn filters_and_pages() {
                let Some(l) = $make.await else { return };
                entries_filter_and_paginate(l.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn concurrency() {
                let Some(l) = $make.await else { return };
                concurrent_holds_never_overspend(l).await;
            }
        }
    };
}

suite!(sqlite_ledger, sqlite());
suite!(postgres_ledger, postgres());

#[tokio::test(flavor = "multi_thread")]
async fn postgres_refuses_a_negative_balance_and_edits() {
    let Some(url) = common::fresh_postgres("the ledger").await else { return };
    PgLedger::connect(&url, 2, Arc::new(SystemClock)).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("INSERT INTO accounts (wallet, mode, balance) VALUES ('0x0a', 'live', 5)")
        .await
        .unwrap();
    assert!(
        client
            .batch_execute("UPDATE accounts SET balance = -1 WHERE wallet = '0x0a'")
            .await
            .is_err()
    );
    assert!(
        client.batch_execute("UPDATE accounts SET held = 6 WHERE wallet = '0x0a'").await.is_err()
    );
    client
        .batch_execute(
            "INSERT INTO ledger_entries (wallet, mode, kind, amount, balance_after, available_after, created_at) \
             VALUES ('0x0a', 'live', 'grant', 5, 5, 5, 0)",
        )
        .await
        .unwrap();
    assert!(client.batch_execute("UPDATE ledger_entries SET amount = 6").await.is_err());
    assert!(client.batch_execute("DELETE FROM ledger_entries").await.is_err());
}

#[test]
fn the_database_refuses_a_negative_balance_and_edits() {
    let store = SqliteStore::open_in_memory().unwrap();
    let conn = store.conn_for_tests();
    conn.execute("INSERT INTO accounts (wallet, mode, balance) VALUES ('0x0a', 'live', 5)", [])
        .unwrap();
    assert!(conn.execute("UPDATE accounts SET balance = -1 WHERE wallet = '0x0a'", []).is_err());
    assert!(conn.execute("UPDATE accounts SET held = 6 WHERE wallet = '0x0a'", []).is_err());
    conn.execute(
        "INSERT INTO ledger_entries (wallet, mode, kind, amount, balance_after, available_after, created_at) \
         VALUES ('0x0a', 'live', 'grant', 5, 5, 5, 0)",
        [],
    )
    .unwrap();
    assert!(conn.execute("UPDATE ledger_entries SET amount = 6", []).is_err());
    assert!(conn.execute("DELETE FROM ledger_entries", []).is_err());
}
