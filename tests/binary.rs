//! The `veil` binary itself: the CLI contract and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{MockUpstream, config_toml, sse_payloads, user};
use serde_json::json;

const VEIL: &str = env!("CARGO_BIN_EXE_veil");

fn veil(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(VEIL).arg("--config").arg(config).args(args).output().unwrap()
}

/// Starts `veil serve` and returns it with its base URL (read from the
/// "listening" line, so the port can be 0) and the lines printed before it.
fn serve(config: &std::path::Path, envs: &[(&str, &str)]) -> (Child, String, Vec<String>) {
    let mut child = Command::new(VEIL)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut before = Vec::new();
    let base = loop {
        let line = lines.next().expect("veil exited before listening").unwrap();
        if let Some(url) = line.strip_prefix("Veil listening on ") {
            break url.to_owned();
        }
        before.push(line);
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base, before)
}

#[test]
fn keys_cli_creates_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("veil.toml");
    let db = dir.path().join("veil.db");
    std::fs::write(&config, config_toml("http://127.0.0.1:9/v1", db.to_str().unwrap(), ""))
        .unwrap();
    let wallet = "0x00000000000000000000000000000000000000Bb";
    let out = veil(&config, &["keys", "create", "--wallet", wallet, "--name", "ci", "--test"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout.lines().last().unwrap();
    assert!(secret.starts_with("vk_test_") && secret.len() == 48, "{stdout}");

    let list =
        String::from_utf8(veil(&config, &["keys", "list", "--wallet", wallet]).stdout).unwrap();
    assert!(list.contains(&secret[..12]), "{list}");
    assert!(!list.contains(secret), "the secret must never be listed");
    let id = list.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    assert!(id.starts_with("key_"));
    assert!(veil(&config, &["keys", "revoke", &id]).status.success());
    let again = veil(&config, &["keys", "revoke", &id]);
    assert!(!again.status.success());
    let list =
        String::from_utf8(veil(&config, &["keys", "list", "--wallet", wallet]).stdout).unwrap();
    assert!(list.contains("revoked"), "{list}");

    let bad = veil(&config, &["keys", "create", "--wallet", "0x12"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("wallet"));
}

#[test]
fn bad_config_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("veil.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n[plans.free]\nrpm = \"lots\"\n").unwrap();
    let out = veil(&config, &["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plans.free.rpm"), "{stderr}");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(VEIL)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("VEIL_SERVER__NOPE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("VEIL_SERVER__NOPE"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_an_open_stream_then_exits() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("veil.toml");
    let db = dir.path().join("veil.db");
    let text = config_toml(&upstream.base_url(), db.to_str().unwrap(), "");
    std::fs::write(&config, text.replace("bootstrap_key = false", "bootstrap_key = true")).unwrap();

    // The bootstrap key is printed once, on the first start only.
    let mut child = Command::new(VEIL)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("MOCK_UPSTREAM_KEY", "sk-upstream-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("Bootstrap test key"));
    let key = lines.next().unwrap().unwrap();
    let base =
        lines.next().unwrap().unwrap().strip_prefix("Veil listening on ").unwrap().to_owned();
    std::thread::spawn(move || for _ in lines {});

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "cut", "stream": true, "messages": user("x")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // SIGTERM while the stream is open: it still ends properly.
    assert!(
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success()
    );
    let payloads = sse_payloads(response).await;
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    assert!(status.success(), "veil exited with {status:?}");
    assert_eq!(
        upstream.log.auth_headers.lock().unwrap().last().cloned().flatten().as_deref(),
        Some("Bearer sk-upstream-secret")
    );

    let (mut again, _, printed) = serve(&config, &[]);
    assert!(printed.iter().all(|l| !l.contains("vk_test_")), "a second bootstrap key: {printed:?}");
    again.kill().unwrap();
    again.wait().unwrap();
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("veil did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn json_of(config: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = veil(config, args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A config on a mock upstream and a fresh SQLite file, with a `pro` test
/// key of `wallet` holding $5 of test credits.
struct Funded {
    config: std::path::PathBuf,
    key: String,
    _upstream: MockUpstream,
    _dir: tempfile::TempDir,
}

async fn funded(wallet: &str) -> Funded {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("veil.toml");
    let db = dir.path().join("veil.db");
    std::fs::write(&config, config_toml(&upstream.base_url(), db.to_str().unwrap(), "")).unwrap();
    let out = veil(&config, &["keys", "create", "--wallet", wallet, "--test", "--plan", "pro"]);
    let key = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned();
    let granted = veil(&config, &["credits", "grant", "--wallet", wallet, "--usd", "5", "--test"]);
    assert!(granted.status.success());
    Funded { config, key, _upstream: upstream, _dir: dir }
}

/// `n` endless streams, each holding credits until it is dropped.
async fn open_streams(base: &str, key: &str, n: usize) -> Vec<reqwest::Response> {
    let client = reqwest::Client::new();
    let mut open = Vec::new();
    for _ in 0..n {
        let r = client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "endless", "stream": true, "messages": user("x")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        open.push(r);
    }
    open
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_load_leaves_a_consistent_ledger() {
    let wallet = "0x00000000000000000000000000000000000000dd";
    let Funded { config, key, _upstream, _dir } = funded(wallet).await;

    let (mut child, base, _) = serve(&config, &[]);
    let client = reqwest::Client::new();
    // Finished requests (settled) and open streams (holds in flight).
    for _ in 0..5 {
        let r = client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "json", "messages": user("x")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let open = open_streams(&base, &key, 8).await;
    let before = json_of(&config, &["credits", "balance", "--wallet", wallet, "--json"]);
    assert_eq!(before["test"]["open_holds"], 8);
    child.kill().unwrap(); // SIGKILL: no drain, no settlement
    child.wait().unwrap();
    drop(open);

    // The next start releases what the dead process held.
    let (mut again, _, _) = serve(&config, &[]);
    again.kill().unwrap();
    again.wait().unwrap();
    let balance = json_of(&config, &["credits", "balance", "--wallet", wallet, "--json"]);
    assert_eq!(balance["test"]["open_holds"], 0);
    assert_eq!(balance["test"]["held"], 0);
    let entries = json_of(&config, &["ledger", "--wallet", wallet, "--json"]);
    let entries = entries.as_array().unwrap();
    let sum: i64 = entries.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(sum, balance["test"]["balance"].as_i64().unwrap());
    // 5 × 37 micro-USD were charged; the killed streams cost nothing.
    assert_eq!(sum, 5_000_000 - 5 * 37);
    assert!(entries.iter().all(|e| e["balance_after"].as_i64().unwrap() >= 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_keeps_the_first_ones_holds() {
    let wallet = "0x00000000000000000000000000000000000000de";
    let Funded { config, key, _upstream, _dir } = funded(wallet).await;
    let (mut first, base, _) = serve(&config, &[]);
    let open = open_streams(&base, &key, 3).await;
    // A replica starting on the same file must not take the first one's
    // in-flight holds for a crash's leftovers.
    let (mut second, _, _) = serve(&config, &[]);
    let balance = json_of(&config, &["credits", "balance", "--wallet", wallet, "--json"]);
    assert_eq!(balance["test"]["open_holds"], 3);
    second.kill().unwrap();
    second.wait().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    drop(open);
}
