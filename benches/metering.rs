//! Criterion benches of metering: a hold + settle round trip on the SQLite
//! ledger (a WAL file on disk, as in production), and one limiter admission
//! in process. With `TEST_POSTGRES_URL` / `TEST_REDIS_URL` set (the servers
//! `.ci/run` starts), the same on PostgreSQL and Redis.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil::auth::keys::KeyMode;
use veil::billing::{
    Account, Credit, EntryKind, Ledger, NewHold, PgLedger, Settle, SqliteLedger, Usage,
};
use veil::clock::SystemClock;
use veil::limits::{KeyLimits, LocalLimiter, RateLimiter, RedisLimiter};
use veil::store::SqliteStore;

fn ledger(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap_or_else(|e| panic!("{e}")));
    let ledger: Arc<dyn Ledger> =
        Arc::new(SqliteLedger::new(store, Arc::new(SystemClock)).unwrap_or_else(|e| panic!("{e}")));
    round_trips(c, &runtime, "ledger_sqlite", ledger);
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        let ledger: Arc<dyn Ledger> = Arc::new(
            runtime
                .block_on(PgLedger::connect(&url, 16, Arc::new(SystemClock)))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        round_trips(c, &runtime, "ledger_postgres", ledger);
    }
}

fn round_trips(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    ledger: Arc<dyn Ledger>,
) {
    let run = veil::ids::base62(8).to_lowercase();
    let accounts: Vec<Account> = (0..64)
        .map(|i| Account { wallet: format!("0xbench{run}{i}"), mode: KeyMode::Live })
        .collect();
    runtime.block_on(async {
        for account in &accounts {
            let credit = Credit {
                account: account.clone(),
                kind: EntryKind::Grant,
                amount: i64::MAX / 4,
                reference: None,
            };
            ledger.credit(credit).await.unwrap_or_else(|e| panic!("{e}"));
        }
    });
    let account = accounts[0].clone();
    let mut group = c.benchmark_group(name);
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
    // The same on 64 wallets: requests of different wallets do not wait
    // for each other's account row.
    group.bench_function("hold_then_settle_64_wallets", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let all =
                    accounts.iter().map(|a| tokio::spawn(round_trip(ledger.clone(), a.clone())));
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    admissions(c, &runtime, "limiter_local", &LocalLimiter::new());
    if let Ok(url) = std::env::var("TEST_REDIS_URL") {
        let policy = veil::limits::RedisFailure::Closed;
        let redis = RedisLimiter::connect_lazy(&url, policy).unwrap_or_else(|e| panic!("{e}"));
        admissions(c, &runtime, "limiter_redis", &redis);
    }
}

fn admissions(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    limiter: &dyn RateLimiter,
) {
    let run = veil::ids::base62(8);
    let keys: Vec<KeyLimits> = (0..1_000)
        .map(|i| KeyLimits {
            key_id: format!("key_{run}_{i}"),
            rpm: u64::MAX / 2,
            tpm: u64::MAX / 2,
            daily: u64::MAX,
        })
        .collect();
    let mut group = c.benchmark_group(name);
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
