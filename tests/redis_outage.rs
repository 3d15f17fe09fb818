//! Redis stopped mid-run: with `redis_url` set and the default policy,
//! requests are refused with 503 while Redis is down, and served again once
//! it is back (the limiter reconnects by itself). Starts its own
//! `redis-server` (Debian's package; CI installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{TestApp, error_of, user};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `redis-server` on `port`, answering PING; `None` when it is not installed.
fn start_redis(port: u16) -> Option<Child> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let mut buf = [0u8; 7];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
            {
                return Some(child);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not answer on port {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_refuses_then_recovers() {
    let port = free_port();
    let Some(mut redis) = start_redis(port) else {
        assert!(std::env::var_os("CI").is_none(), "CI must install redis-server");
        eprintln!("redis-server is not installed: the outage test did NOT run");
        return;
    };
    let app = TestApp::start_with(&format!("redis_url = \"redis://127.0.0.1:{port}/\"")).await;
    let body = json!({"model": "echo", "messages": user("hi")});
    let first = app.chat(body.clone()).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-remaining-rpm"], "59");

    redis.kill().unwrap();
    redis.wait().unwrap();
    let refused = app.chat(body.clone()).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(error_of(refused).await["code"], "service_unavailable");

    let mut redis = start_redis(port).unwrap();
    // The limiter reconnects on its own; allow it a few seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.chat(body.clone()).await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(tokio::time::Instant::now() < deadline, "no recovery 10 s after Redis came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    redis.kill().unwrap();
    redis.wait().unwrap();
}
