//! PostgreSQL stopped hard (`pg_ctl stop -m immediate`, as a crash) and
//! started again while requests flow through Veil: requests that could not
//! take a hold fail with `billing_error` and are not forwarded; requests
//! that were served are charged exactly once (settlement waits out the
//! restart); afterwards the ledger adds up and nothing stays held. Starts
//! its own PostgreSQL cluster (Debian's package; CI installs it), because
//! restarting the shared one would disturb the other tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{TestApp, account, entries, user};
use futures_util::StreamExt;
use serde_json::json;
use veil::auth::KeySpec;
use veil::auth::keys::{KeyMode, Scope};
use veil::billing::EntryKind;

/// A PostgreSQL cluster of this test's own, removed on drop.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl Cluster {
    fn start() -> Option<Self> {
        let bin = pg_bin()?;
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            // PostgreSQL refuses to run as root: the cluster is the postgres user's.
            assert!(
                Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap().success()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { bin, dir, port };
        cluster.run("initdb", &["-D", &cluster.data(), "-A", "trust", "-U", "veil"]);
        cluster.pg_ctl(&["start"]);
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_str().unwrap().to_owned()
    }

    fn url(&self) -> String {
        format!("postgres://veil@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let status = if is_root() {
            let line = std::iter::once(program.to_str().unwrap())
                .chain(args.iter().copied())
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ");
            Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", &line]).output()
        } else {
            Command::new(&program).args(args).output()
        }
        .unwrap();
        assert!(
            status.status.success(),
            "{program:?} {args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    /// `pg_ctl` on this cluster; waits until the action is done.
    fn pg_ctl(&self, action: &[&str]) {
        let dir = self.dir.path().to_str().unwrap();
        let options = format!("-p {} -k {dir} -c listen_addresses=127.0.0.1", self.port);
        let log = Path::new(dir).join("server.log");
        let data = self.data();
        let log = log.to_str().unwrap();
        let mut all = vec!["-D", data.as_str(), "-w", "-l", log, "-o", options.as_str()];
        all.extend_from_slice(action);
        self.run("pg_ctl", &all);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
        }));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_crash_mid_run_loses_and_doubles_nothing() {
    let Some(cluster) = Cluster::start() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install postgresql");
        eprintln!("PostgreSQL is not installed: the restart test did NOT run");
        return;
    };
    let clock = Arc::new(veil::clock::SystemClock);
    let app = TestApp::start_on(Some(&cluster.url()), "", clock).await;
    let body = json!({"model": "json", "messages": user("hello there")});
    let spec = KeySpec {
        rpm: Some(1_000_000),
        tpm: Some(1_000_000_000),
        ..common::spec(KeyMode::Test, &[Scope::Chat])
    };
    let key = app.state.keys.create(spec).await.unwrap().secret;
    let send = |_| {
        let request = app.client.post(app.url("/v1/chat/completions")).bearer_auth(&key);
        let request = request.json(&body);
        async move {
            let response = request.send().await.unwrap();
            let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
            let status = response.status().as_u16();
            let error = common::error_of(response).await["code"].as_str().unwrap_or("").to_owned();
            (id, status, error)
        }
    };
    // Eight at a time; the crash comes after 40 answers, and the load goes
    // on until 40 more were served after it (or 3,000 requests in all).
    // Requests in flight then are finished, not dropped.
    let stop = Arc::new(AtomicBool::new(false));
    let more = {
        let stop = stop.clone();
        move |_: &usize| std::future::ready(!stop.load(Ordering::SeqCst))
    };
    let mut answers =
        futures_util::stream::iter(0..3_000).take_while(more).map(send).buffer_unordered(8);
    let mut seen: Vec<(String, u16, String)> = Vec::new();
    let mut served_after = None;
    while let Some(answer) = answers.next().await {
        let ok = answer.1 == 200;
        seen.push(answer);
        if seen.len() == 40 {
            cluster.pg_ctl(&["-m", "immediate", "stop"]);
            cluster.pg_ctl(&["start"]);
            served_after = Some(0);
        } else if let Some(n) = served_after.as_mut()
            && ok
        {
            *n += 1;
            if *n == 40 {
                stop.store(true, Ordering::SeqCst);
            }
        }
    }
    let failed = seen.iter().filter(|(_, s, _)| *s != 200).count();
    eprintln!("{} requests, {failed} refused while the database was down", seen.len());
    assert!(served_after >= Some(40), "the service did not recover ({failed} failed)");
    for (_, status, error) in &seen {
        assert!(*status == 200 || (*status == 500 && error == "billing_error"), "{status} {error}");
    }
    // A hold whose commit reached the disk just before the crash, but whose
    // answer did not, is left open; it is released as stale in due course.
    let cutoff = veil::store::now_ms() + 1;
    app.state.ledger.release_stale_holds(cutoff).await.unwrap();

    let all = entries(&app.state).await;
    let mut per_request: HashMap<&str, Vec<EntryKind>> = HashMap::new();
    for e in &all {
        if let Some(id) = e.request_id.as_deref() {
            per_request.entry(id).or_default().push(e.kind);
        }
    }
    let served = seen.iter().filter(|(_, s, _)| *s == 200).count();
    for (id, status, _) in &seen {
        let kinds = per_request.get(id.as_str()).cloned().unwrap_or_default();
        if *status == 200 {
            // A settlement returns the hold and charges the cost: once.
            let once = [EntryKind::Hold, EntryKind::Release, EntryKind::Settle];
            assert_eq!(kinds, once, "request {id}");
        } else {
            assert!(
                kinds.is_empty() || kinds == [EntryKind::Hold, EntryKind::Release],
                "failed request {id}: {kinds:?}"
            );
        }
    }
    // Every entry's available balance is the running sum of the amounts,
    // and with no hold open the balance is what is left of the grant.
    let mut running = 0;
    for e in &all {
        running += e.amount;
        assert_eq!(e.available_after, running, "entry {} breaks the running sum", e.id);
    }
    let balance = app.state.ledger.balance(account()).await.unwrap();
    assert_eq!((balance.held, balance.open_holds), (0, 0));
    assert_eq!(balance.balance, running);
    assert!(served >= 80 && running < 100_000_000, "served {served}, left {running}");
}
