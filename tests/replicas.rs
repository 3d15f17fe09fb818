//! Two Veil processes behind one load balancer's worth of traffic, sharing
//! one Redis (limits) and one store: limits and credits hold across both —
//! N in total, not N per replica. Each test runs twice: on one SQLite file
//! (WAL, cross-process locks; replicas on one machine) and on PostgreSQL
//! (replicas on several machines).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{MockUpstream, config_toml, user};
use serde_json::{Value, json};

const VEIL: &str = env!("CARGO_BIN_EXE_veil");
const WALLET: &str = "0x00000000000000000000000000000000000000ab";

/// Every request of these tests reserves well under 1,000 tokens.
const PRICED: &str = r#"
[[models]]
id = "echo-priced"
provider = "echo"
input_usd_per_mtok = 3.0
output_usd_per_mtok = 15.0
"#;

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(VEIL).arg("--config").arg(config).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn serve(config: &Path) -> Replica {
    let mut child = Command::new(VEIL)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("veil exited before listening").unwrap();
        if let Some(url) = line.strip_prefix("Veil listening on ") {
            break url.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Replica { child, base }
}

fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "CI must provide TEST_REDIS_URL");
            eprintln!("TEST_REDIS_URL is not set: the replica tests did NOT run");
            None
        }
    }
}

/// Two replicas on one store and one Redis, and a key made with `key_args`.
struct Pair {
    a: Replica,
    b: Replica,
    key: String,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _upstream: MockUpstream,
}

#[derive(Clone, Copy)]
enum Db {
    Sqlite,
    Postgres,
}

async fn pair(db: Db, key_args: &[&str], usd: &str) -> Option<Pair> {
    let redis = redis_url()?;
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = match db {
        Db::Sqlite => dir.path().join("shared.db").to_str().unwrap().to_owned(),
        Db::Postgres => common::fresh_postgres("replicas").await?,
    };
    let config = dir.path().join("veil.toml");
    let extra = format!("redis_url = \"{redis}\"\n{PRICED}");
    std::fs::write(&config, config_toml(&upstream.base_url(), &db, &extra)).unwrap();
    let mut create = vec!["keys", "create", "--wallet", WALLET, "--test"];
    create.extend_from_slice(key_args);
    let key = cli(&config, &create).lines().last().unwrap().to_owned();
    cli(&config, &["credits", "grant", "--wallet", WALLET, "--usd", usd, "--test"]);
    let (a, b) = (serve(&config), serve(&config));
    Some(Pair { a, b, key, config, _dir: dir, _upstream: upstream })
}

/// Sends `total` requests at once, alternating replicas; returns the status
/// codes and error codes seen.
async fn split_load(pair: &Pair, body: &Value, total: usize) -> Vec<(u16, String)> {
    let client = reqwest::Client::new();
    let requests = (0..total).map(|i| {
        let base = if i % 2 == 0 { &pair.a.base } else { &pair.b.base };
        client.post(format!("{base}/v1/chat/completions")).bearer_auth(&pair.key).json(body).send()
    });
    let mut out = Vec::new();
    for response in futures_util::future::join_all(requests).await {
        let response = response.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        out.push((status, body["error"]["code"].as_str().unwrap_or("").to_owned()));
    }
    out
}

fn count(results: &[(u16, String)], status: u16, code: &str) -> usize {
    results.iter().filter(|(s, c)| *s == status && c == code).count()
}

fn body() -> Value {
    json!({"model": "echo-priced", "max_tokens": 16,
           "messages": user("please repeat this sentence back to me word for word, all of it, slowly")})
}

async fn rpm_limit_holds_across_replicas(db: Db) {
    // RPM 6: one more request every 10 s, far longer than the burst takes.
    let Some(pair) = pair(db, &["--rpm", "6"], "100").await else { return };
    let results = split_load(&pair, &body(), 60).await;
    assert_eq!(count(&results, 200, ""), 6, "{results:?}");
    assert_eq!(count(&results, 429, "rate_limit_exceeded_rpm"), 54);
}

async fn tpm_limit_holds_across_replicas(db: Db) {
    let b = body();
    let per_request = veil::tokens::count_prompt("echo-priced", b.as_object().unwrap()) + 16;
    let tpm = (6 * per_request).to_string();
    let Some(pair) = pair(db, &["--tpm", &tpm, "--rpm", "100000"], "100").await else { return };
    let results = split_load(&pair, &b, 60).await;
    assert_eq!(count(&results, 200, ""), 6, "{results:?}");
    assert_eq!(count(&results, 429, "rate_limit_exceeded_tpm"), 54);
}

async fn credits_for_k_requests_serve_exactly_k_across_replicas(db: Db) {
    let b = body();
    let prompt = veil::tokens::count_prompt("echo-priced", b.as_object().unwrap());
    let cost = 3 * prompt + 15 * 16; // micro-USD; echo uses exactly what was held
    let k = 17;
    let usd = veil::billing::money::format_usd((k * cost) as i64);
    let key = ["--rpm", "100000", "--tpm", "100000000"];
    let Some(pair) = pair(db, &key, &usd).await else { return };
    let results = split_load(&pair, &b, 80).await;
    assert_eq!(count(&results, 200, "") as u64, k, "{results:?}");
    assert_eq!(count(&results, 402, "insufficient_credits") as u64, 80 - k);
    let balance: Value = serde_json::from_str(&cli(
        &pair.config,
        &["credits", "balance", "--wallet", WALLET, "--json"],
    ))
    .unwrap();
    assert_eq!(balance["test"]["balance"], 0);
    assert_eq!(balance["test"]["open_holds"], 0);
}

macro_rules! on_both {
    ($($test:ident),*) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                super::$test(super::Db::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                super::$test(super::Db::Postgres).await
            })*
        }
    };
}

on_both!(
    rpm_limit_holds_across_replicas,
    tpm_limit_holds_across_replicas,
    credits_for_k_requests_serve_exactly_k_across_replicas
);
