//! The guarded fetcher (`veil::fetch`) against servers on loopback
//! addresses: every refused address class is refused before any
//! connection, a redirect into a refused address is not followed, and the
//! servers that must not be reached count zero connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use veil::fetch::{FetchError, FetchPolicy, fetch};

#[derive(Clone)]
enum Reply {
    Body(Vec<u8>),
    Redirect(String),
    Hang,
}

/// An HTTP server on `ip`:0 that answers every request with `reply` and
/// counts connections.
struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn server(ip: &str, reply: Reply) -> Server {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = vec![0_u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = match &reply {
                    Reply::Body(body) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    ),
                    Reply::Redirect(to) => format!(
                        "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    ),
                    Reply::Hang => {
                        // Holds the connection open without answering.
                        let _ = socket.read(&mut buf).await;
                        return;
                    }
                };
                let _ = socket.write_all(head.as_bytes()).await;
                if let Reply::Body(body) = &reply {
                    let _ = socket.write_all(body).await;
                }
            });
        }
    });
    Server { port, hits }
}

fn allowing(networks: &[&str]) -> FetchPolicy {
    FetchPolicy {
        allow: networks.iter().map(|n| n.parse().unwrap()).collect(),
        timeout: Duration::from_secs(5),
        ..FetchPolicy::default()
    }
}

#[tokio::test]
async fn loopback_is_refused_and_never_contacted() {
    let s = server("127.0.0.1", Reply::Body(b"secret".to_vec())).await;
    for url in [
        format!("http://127.0.0.1:{}/", s.port),
        format!("http://localhost:{}/", s.port),
        format!("http://[::ffff:127.0.0.1]:{}/", s.port),
        format!("http://2130706433:{}/", s.port), // 127.0.0.1 as one number
    ] {
        let err = fetch(&url, &FetchPolicy::default()).await.unwrap_err();
        assert!(matches!(err, FetchError::Blocked(_)), "{url}: {err:?}");
    }
    assert_eq!(s.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn every_refused_class_is_refused_before_connecting() {
    for host in [
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "0.0.0.0",
        "[::1]",
        "[fe80::1]",
        "[fd00:ec2::254]",
        "[::ffff:169.254.169.254]",
        "[64:ff9b::a9fe:a9fe]",
    ] {
        let err = fetch(&format!("http://{host}/latest/meta-data/"), &FetchPolicy::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Blocked(_)), "{host}: {err:?}");
    }
}

#[tokio::test]
async fn only_http_and_https() {
    for url in ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"] {
        assert_eq!(fetch(url, &FetchPolicy::default()).await.unwrap_err(), FetchError::Scheme);
    }
    assert_eq!(fetch("not a url", &FetchPolicy::default()).await.unwrap_err(), FetchError::BadUrl);
}

#[tokio::test]
async fn an_allowlisted_address_is_fetched() {
    let s = server("127.0.0.1", Reply::Body(b"hello".to_vec())).await;
    let got = fetch(&format!("http://127.0.0.1:{}/a", s.port), &allowing(&["127.0.0.1/32"]))
        .await
        .unwrap();
    assert_eq!(got.body, b"hello");
    assert_eq!(got.content_type.as_deref(), Some("text/plain"));
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_redirect_into_a_refused_address_is_not_followed() {
    let inner = server("127.0.0.2", Reply::Body(b"metadata".to_vec())).await;
    let to = format!("http://127.0.0.2:{}/latest", inner.port);
    let outer = server("127.0.0.1", Reply::Redirect(to)).await;
    let err = fetch(&format!("http://127.0.0.1:{}/", outer.port), &allowing(&["127.0.0.1"]))
        .await
        .unwrap_err();
    assert_eq!(err, FetchError::Blocked("127.0.0.2".parse().unwrap()));
    assert_eq!(outer.hits.load(Ordering::SeqCst), 1);
    assert_eq!(inner.hits.load(Ordering::SeqCst), 0, "the private target got a request");
}

#[tokio::test]
async fn redirects_are_capped() {
    let s = server("127.0.0.1", Reply::Redirect("/again".into())).await;
    let err = fetch(&format!("http://127.0.0.1:{}/", s.port), &allowing(&["127.0.0.1"]))
        .await
        .unwrap_err();
    assert_eq!(err, FetchError::TooManyRedirects(3));
    assert_eq!(s.hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn size_and_time_are_capped() {
    let big = server("127.0.0.1", Reply::Body(vec![b'x'; 300_000])).await;
    let policy = FetchPolicy { max_bytes: 100_000, ..allowing(&["127.0.0.1"]) };
    let err = fetch(&format!("http://127.0.0.1:{}/", big.port), &policy).await.unwrap_err();
    assert_eq!(err, FetchError::TooLarge(100_000));

    let slow = server("127.0.0.1", Reply::Hang).await;
    let policy = FetchPolicy { timeout: Duration::from_millis(300), ..allowing(&["127.0.0.1"]) };
    let err = fetch(&format!("http://127.0.0.1:{}/", slow.port), &policy).await.unwrap_err();
    assert_eq!(err, FetchError::Timeout(Duration::from_millis(300)));
}
