//! Criterion benches of metering: a hold + settle round trip on the SQLite
//! ledger (a WAL file on disk, as in production), and one limiter admission.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil::auth::keys::KeyMode;
use veil::billing::{Account, Credit, EntryKind, Ledger, NewHold, Settle, SqliteLedger, Usage};
use veil::clock::SystemClock;
use veil::limits::{KeyLimits, LocalLimiter, RateLimiter};
use veil::store::SqliteStore;

fn ledger(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap_or_else(|e| panic!("{e}")));
    let ledger: Arc<dyn Ledger> =
        Arc::new(SqliteLedger::new(store, Arc::new(SystemClock)).unwrap_or_else(|e| panic!("{e}")));
    let account = Account { wallet: "0xbench".into(), mode: KeyMode::Live };
    runtime.block_on(async {
        let credit = Credit {
            account: account.clone(),
            kind: EntryKind::Grant,
            amount: i64::MAX / 4,
            reference: None,
        };
        ledger.credit(credit).await.unwrap_or_else(|e| panic!("{e}"));
    });
    let mut group = c.benchmark_group("ledger_sqlite");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hold_then_settle", |b| {
        b.iter(|| runtime.block_on(round_trip(ledger.clone(), account.clone())))
    });
    // 64 requests at once, as under load: group commit shares the commits.
    group.throughput(Throughput::Elements(64));
    group.bench_function("hold_then_settle_64_concurrent", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let all =
                    (0..64).map(|_| tokio::spawn(round_trip(ledger.clone(), account.clone())));
                for task in all.collect::<Vec<_>>() {
                    task.await.unwrap_or_else(|e| panic!("{e}"));
                }
            })
        })
    });
    group.finish();
}

async fn round_trip(ledger: Arc<dyn Ledger>, account: Account) {
    let hold = NewHold {
        account,
        key_id: "key_bench".into(),
        request_id: "req_bench".into(),
        model: "m".into(),
        amount: 1_000,
        reference: None,
    };
    let receipt = ledger.hold(hold).await.unwrap_or_else(|e| panic!("{e}"));
    let usage = Usage { prompt_tokens: 100, completion_tokens: 50 };
    let settle = Settle { hold_id: receipt.hold_id, cost: 700, usage };
    ledger.settle(settle).await.unwrap_or_else(|e| panic!("{e}"));
}

fn limiter(c: &mut Criterion) {
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
    let limiter = LocalLimiter::new();
    let keys: Vec<KeyLimits> = (0..1_000)
        .map(|i| KeyLimits {
            key_id: format!("key_{i}"),
            rpm: u64::MAX / 2,
            tpm: u64::MAX / 2,
            daily: u64::MAX,
        })
        .collect();
    let mut group = c.benchmark_group("limiter_local");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    let mut now = 1_764_000_000_000i64;
    group.bench_function("admit_1000_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            now += 1;
            runtime
                .block_on(limiter.admit(&keys[i], 500, now))
                .unwrap_or_else(|_| panic!("refused"));
        })
    });
    group.finish();
}

criterion_group!(benches, ledger, limiter);
criterion_main!(benches);
