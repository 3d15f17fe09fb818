//! Load benchmark (a script, not a test): starts the mock upstream and the
//! release `veil` binary, then measures requests/s and p50/p99 latency at
//! concurrency 1, 16 and 64, non-streamed and streamed (with time to first
//! token), against the mock directly and through Veil in the same run, and
//! Veil's RSS. Prints a Markdown table; compare ratios, not absolutes (the
//! machine is shared).
//!
//! `cargo bench --bench load` (`LOAD_SECS=5` for longer cells,
//! `LOAD_C=16` and `LOAD_MODES=json` to run only some cells). `LOAD_BASELINE`
//! names another `veil` binary (an older build) to measure in the same run,
//! as a third column set. `LOAD_BASELINE_DATABASE_URL` and
//! `LOAD_BASELINE_REDIS_URL` run the baseline on that store and limiter (by
//! default this build: e.g. PostgreSQL + Redis against SQLite + in process).
//! `LOAD_BASELINE_ENV="VEIL_REDACTION__ENABLED=false"` (space-separated
//! `K=V`) sets environment variables for the baseline only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

const VEIL: &str = env!("CARGO_BIN_EXE_veil");

struct Cell {
    rps: f64,
    p50: Duration,
    p99: Duration,
    ttft_p50: Option<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run_cell(
    url: &str,
    key: Option<&str>,
    stream: bool,
    concurrency: usize,
    secs: f64,
) -> Cell {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let body = json!({"model": if stream { "stream" } else { "json" }, "stream": stream,
                      "messages": [{"role": "user", "content": "What is the capital of France?"}]});
    let body = Arc::new(body.to_string());
    // Warm-up: open the connections.
    for _ in 0..concurrency.min(8) {
        send(&client, url, key, &body, stream).await;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, key, body) =
                (client.clone(), url.to_owned(), key.map(str::to_owned), body.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    samples.push(send(&client, &url, key.as_deref(), &body, stream).await);
                }
                samples
            })
        })
        .collect();
    let mut total = Vec::new();
    let mut ttft = Vec::new();
    for w in workers {
        for (t, first) in w.await.unwrap() {
            total.push(t);
            ttft.extend(first);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.sort();
    ttft.sort();
    Cell {
        rps: total.len() as f64 / elapsed,
        p50: percentile(&total, 0.5),
        p99: percentile(&total, 0.99),
        ttft_p50: stream.then(|| percentile(&ttft, 0.5)),
    }
}

/// One request; returns its total time and, for streams, the time to the
/// first body chunk.
async fn send(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: &Arc<String>,
    stream: bool,
) -> (Duration, Option<Duration>) {
    let t0 = Instant::now();
    let mut req =
        client.post(url).header("content-type", "application/json").body(body.as_str().to_owned());
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let response = req.send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    if !stream {
        response.bytes().await.unwrap();
        return (t0.elapsed(), None);
    }
    let mut body = response.bytes_stream();
    let mut first = None;
    while let Some(chunk) = body.next().await {
        chunk.unwrap();
        first.get_or_insert_with(|| t0.elapsed());
    }
    (t0.elapsed(), first)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// One running `veil serve` with its own store and a funded key.
struct Running {
    child: std::process::Child,
    base: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Running {
    /// `veil serve` of `bin` on `database_url` (a fresh SQLite file when
    /// `None`), with limits in `redis_url` when set.
    fn start(
        bin: &str,
        upstream_base: &str,
        database_url: Option<&str>,
        redis_url: Option<&str>,
        env: &[(String, String)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("veil.db");
        let db = database_url.unwrap_or(file.to_str().unwrap());
        let config = dir.path().join("veil.toml");
        let redis = redis_url.map(|u| format!("redis_url = \"{u}\"")).unwrap_or_default();
        let extra = format!(
            "{redis}\n[plans.enterprise]\nrpm = 100000000\ntpm = 100000000000\ndaily_requests = 100000000000\n"
        );
        let text = common::config_toml(upstream_base, db, &extra)
            .replace("key_cache_ms = 0", "key_cache_ms = 1000")
            .replace("timeout_secs = 1.0", "timeout_secs = 30");
        std::fs::write(&config, text).unwrap();
        let wallet = "0x00000000000000000000000000000000000000cc";
        let cfg = config.to_str().unwrap();
        let created = Command::new(bin)
            .envs(env.iter().cloned())
            .args(["--config", cfg, "keys", "create", "--plan", "enterprise", "--wallet", wallet])
            .output()
            .unwrap();
        let key = String::from_utf8(created.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap_or_else(|| {
                panic!("{bin} keys create: {}", String::from_utf8_lossy(&created.stderr))
            })
            .to_owned();
        // Builds without metering have no `credits` command; that is fine.
        let _ = Command::new(bin)
            .envs(env.iter().cloned())
            .args(["--config", cfg, "credits", "grant", "--wallet", wallet, "--usd", "1000000"])
            .output();
        let mut child = Command::new(bin)
            .envs(env.iter().cloned())
            .args(["--config", cfg, "serve"])
            .env("VEIL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(url) = line.strip_prefix("Veil listening on ") {
                break url.to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, base, key, _dir: dir }
    }

    fn url(&self) -> String {
        format!("{}/v1/chat/completions", self.base)
    }

    fn stop(mut self) -> (u64, u64) {
        let pid = self.child.id();
        let rss = (rss_kib(pid, "VmRSS:"), rss_kib(pid, "VmHWM:"));
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let _ = self.child.wait();
        rss
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes harness-less benches
    }
    let secs: f64 = std::env::var("LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let baseline_db = std::env::var("LOAD_BASELINE_DATABASE_URL").ok();
    let baseline_redis = std::env::var("LOAD_BASELINE_REDIS_URL").ok();
    let baseline_env: Vec<(String, String)> = std::env::var("LOAD_BASELINE_ENV")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let baseline_bin = std::env::var("LOAD_BASELINE").ok().or_else(|| {
        (baseline_db.is_some() || baseline_redis.is_some() || !baseline_env.is_empty())
            .then(|| VEIL.to_owned())
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let upstream = common::MockUpstream::start().await;
        let veil = Running::start(VEIL, &upstream.base_url(), None, None, &[]);
        let rss_idle = rss_kib(veil.child.id(), "VmRSS:");
        let baseline = baseline_bin.as_deref().map(|bin| {
            let (db, redis) = (baseline_db.as_deref(), baseline_redis.as_deref());
            Running::start(bin, &upstream.base_url(), db, redis, &baseline_env)
        });
        let direct_url = format!("{}/chat/completions", upstream.base_url());

        println!("\n{secs} s per cell; added = Veil − direct (same run)");
        if let Some(bin) = &baseline_bin {
            let on = |url: &Option<String>, default: &str| {
                url.as_deref().map_or(default.to_owned(), |u| u.split("://").next().unwrap_or(u).to_owned())
            };
            println!(
                "baseline = {bin} on {} + limits {}{}, measured in the same run",
                on(&baseline_db, "sqlite"),
                on(&baseline_redis, "in process"),
                std::env::var("LOAD_BASELINE_ENV").map(|e| format!(" with {e}")).unwrap_or_default()
            );
        }
        println!();
        println!("| mode | c | direct req/s | Veil req/s | Veil/direct | baseline req/s | direct p50 ms | Veil p50 ms | added p50 ms | baseline p50 ms | direct p99 ms | Veil p99 ms | baseline p99 ms | direct TTFT p50 | Veil TTFT p50 |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let only = |var: &str, value: &str| {
            std::env::var(var).map_or(true, |list| list.split(',').any(|v| v == value))
        };
        for stream in [false, true] {
            if !only("LOAD_MODES", if stream { "stream" } else { "json" }) {
                continue;
            }
            for c in [1usize, 16, 64] {
                if !only("LOAD_C", &c.to_string()) {
                    continue;
                }
                let direct = run_cell(&direct_url, None, stream, c, secs).await;
                let proxied = run_cell(&veil.url(), Some(&veil.key), stream, c, secs).await;
                let base = match &baseline {
                    Some(b) => Some(run_cell(&b.url(), Some(&b.key), stream, c, secs).await),
                    None => None,
                };
                let ttft = |cell: &Cell| cell.ttft_p50.map(ms).unwrap_or_else(|| "–".into());
                let dash = || "–".to_string();
                println!(
                    "| {} | {c} | {:.0} | {:.0} | {:.0} % | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    if stream { "stream" } else { "json" },
                    direct.rps,
                    proxied.rps,
                    100.0 * proxied.rps / direct.rps,
                    base.as_ref().map_or_else(dash, |b| format!("{:.0}", b.rps)),
                    ms(direct.p50),
                    ms(proxied.p50),
                    ms(proxied.p50.saturating_sub(direct.p50)),
                    base.as_ref().map_or_else(dash, |b| ms(b.p50)),
                    ms(direct.p99),
                    ms(proxied.p99),
                    base.as_ref().map_or_else(dash, |b| ms(b.p99)),
                    ttft(&direct),
                    ttft(&proxied),
                );
            }
        }
        let (_, peak) = veil.stop();
        if let Some(b) = baseline {
            b.stop();
        }
        println!("\nVeil RSS: {} MiB idle after start, {} MiB peak (VmHWM)", rss_idle / 1024, peak / 1024);
    });
}
