//! Test harness: a mock OpenAI-compatible upstream and the Veil app, both on
//! `127.0.0.1:0`, plus an SSE-reading client helper.
//!
//! The mock picks its behaviour from the `model` it receives (see
//! [`mock_chat`]) and records every request body it is sent.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use veil::auth::KeySpec;
use veil::auth::keys::{KeyMode, Scope};
use veil::billing::{Account, Credit, EntryKind, EntryQuery};
use veil::config::Config;
use veil::state::AppState;

pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/upstream").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the mock saw.
#[derive(Clone, Default)]
pub struct MockLog {
    pub requests: Arc<Mutex<Vec<Value>>>,
    pub auth_headers: Arc<Mutex<Vec<Option<String>>>>,
}

#[derive(Clone)]
struct MockState {
    log: MockLog,
    /// Receives one message when an `endless` stream's body is dropped
    /// (the proxy closed the connection).
    closed: mpsc::UnboundedSender<()>,
}

pub struct MockUpstream {
    pub addr: SocketAddr,
    pub log: MockLog,
    pub closed: mpsc::UnboundedReceiver<()>,
}

impl MockUpstream {
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let log = MockLog::default();
        let state = MockState { log: log.clone(), closed: tx };
        let app = Router::new().route("/v1/chat/completions", post(mock_chat)).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, log, closed: rx }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Value> {
        self.log.requests.lock().unwrap().clone()
    }

    pub fn last_request(&self) -> Value {
        self.requests().last().cloned().expect("the mock received no request")
    }
}

/// Sends its events, then on drop tells the test the connection closed.
struct DropSignal(mpsc::UnboundedSender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn sse_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn json_response(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Behaviour by the forwarded `model`:
/// `json`/`stream` (fixtures, by `stream`), `tools` (tool-call stream),
/// `error-400`/`error-401`/`error-500`/`error-503`, `slow` (headers after
/// 5 s), `cut` (two events, then the connection breaks), `no-done` (ends
/// cleanly without `[DONE]`), `endless` (one event per 20 ms, at most 500).
async fn mock_chat(
    State(state): State<MockState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.log.requests.lock().unwrap().push(request.clone());
    state
        .log
        .auth_headers
        .lock()
        .unwrap()
        .push(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned));
    let model = request["model"].as_str().unwrap_or("").to_owned();
    let stream = request["stream"].as_bool().unwrap_or(false);
    match model.as_str() {
        "json" | "stream" if !stream => json_response(StatusCode::OK, fixture("chat_completion.json")),
        "json" | "stream" => sse_response(Body::from(fixture("chat_stream.sse"))),
        "tools" => sse_response(Body::from(fixture("tool_call_stream.sse"))),
        "error-400" => json_response(StatusCode::BAD_REQUEST, fixture("error_400.json")),
        "error-401" => json_response(StatusCode::UNAUTHORIZED, fixture("error_401.json")),
        "error-500" => json_response(StatusCode::INTERNAL_SERVER_ERROR, fixture("error_500.json")),
        "error-503" => json_response(StatusCode::SERVICE_UNAVAILABLE, String::new()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json_response(StatusCode::OK, fixture("chat_completion.json"))
        }
        "cut" => {
            let events: Vec<String> =
                fixture("chat_stream.sse").split("\n\n").take(2).map(|e| format!("{e}\n\n")).collect();
            // Each event is flushed before the next item is polled; the
            // provider then dies with the stream half sent.
            let items = futures_util::stream::iter(events).then(|event| async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok::<_, std::io::Error>(event)
            });
            let death = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Err(std::io::Error::other("connection reset"))
            });
            sse_response(Body::from_stream(items.chain(death)))
        }
        "no-done" => {
            let text = fixture("chat_stream.sse").replace("data: [DONE]\n\n", "");
            sse_response(Body::from(text))
        }
        "endless" => {
            let guard = DropSignal(state.closed.clone());
            let events = futures_util::stream::unfold((0u32, guard), |(i, guard)| async move {
                if i >= 500 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 0,
                    "model": "endless", "choices": [{"index": 0, "delta": {"content": format!("w{i} ")},
                    "finish_reason": null}]});
                Some((Ok::<_, std::io::Error>(format!("data: {chunk}\n\n")), (i + 1, guard)))
            });
            sse_response(Body::from_stream(events))
        }
        other => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": format!("mock has no model {other}"), "type": "invalid_request_error",
                             "param": "model", "code": "model_not_found"}})
            .to_string(),
        ),
    }
}

/// Models the test config serves from the mock (same id upstream).
pub const MOCK_MODELS: &[&str] = &[
    "json",
    "stream",
    "tools",
    "error-400",
    "error-401",
    "error-500",
    "error-503",
    "slow",
    "cut",
    "no-done",
    "endless",
];

/// Config text for a Veil in front of `upstream_base`, with the echo
/// provider too, and a closed port as a third provider. `extra` goes after
/// the root keys and before the tables, so it may start with root keys
/// (`redis_url = ...`) and go on with tables of its own.
///
/// `db` is an SQLite file path or a whole `postgres://` URL.
pub fn config_toml(upstream_base: &str, db: &str, extra: &str) -> String {
    let database_url = if db.contains("://") { db.to_owned() } else { format!("sqlite://{db}") };
    let mut text = format!(
        r#"
database_url = "{database_url}"
bootstrap_key = false
listen = "127.0.0.1:0"
{extra}

[auth]
key_cache_ms = 0

[[providers]]
name = "mock"
kind = "openai"
base_url = "{upstream_base}"
api_key_env = "MOCK_UPSTREAM_KEY"
timeout_secs = 1.0

[[providers]]
name = "echo"
kind = "echo"

[[providers]]
name = "closed"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "echo"
provider = "echo"

[[models]]
id = "unreachable"
provider = "closed"
"#
    );
    for m in MOCK_MODELS {
        text.push_str(&format!(
            "\n[[models]]\nid = \"{m}\"\nprovider = \"mock\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n"
        ));
    }
    text
}

/// A fresh database on the PostgreSQL server of `TEST_POSTGRES_URL`, as a
/// URL; `None` (after saying so) when it is not set, which CI forbids.
pub async fn fresh_postgres(what: &str) -> Option<String> {
    let Ok(admin) = std::env::var("TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide TEST_POSTGRES_URL");
        eprintln!("TEST_POSTGRES_URL is not set: {what} was NOT tested on PostgreSQL");
        return None;
    };
    let (client, connection) =
        tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let name = format!("veil_test_{}", veil::ids::base62(12).to_lowercase());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
    Some(format!("{base}/{name}"))
}

pub fn config_from(text: &str) -> Config {
    Config::from_table(text.parse().unwrap()).unwrap()
}

pub fn spec(mode: KeyMode, scopes: &[Scope]) -> KeySpec {
    KeySpec { scopes: scopes.to_vec(), ..KeySpec::new(WALLET, "test", mode) }
}

/// Veil served in-process, with three keys ready.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub key: String,
    pub models_only_key: String,
    pub revoked_key: String,
    pub upstream: MockUpstream,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    pub async fn start_with(extra_config: &str) -> Self {
        Self::start_with_clock(extra_config, Arc::new(veil::clock::SystemClock)).await
    }

    /// Starts with `clock`; the test wallet holds $100 of test credits.
    pub async fn start_with_clock(extra_config: &str, clock: Arc<dyn veil::clock::Clock>) -> Self {
        Self::start_on(None, extra_config, clock).await
    }

    /// Starts on the database `db` (an SQLite file in a temporary directory
    /// when `None`).
    pub async fn start_on(
        db: Option<&str>,
        extra_config: &str,
        clock: Arc<dyn veil::clock::Clock>,
    ) -> Self {
        let upstream = MockUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("veil.db");
        let db = db.unwrap_or(file.to_str().unwrap());
        let config = config_from(&config_toml(&upstream.base_url(), db, extra_config));
        let state = AppState::build_with_clock(config, clock).await.unwrap();
        grant(&state, 100_000_000).await;
        let key = state.keys.create(spec(KeyMode::Test, &Scope::ALL)).await.unwrap().secret;
        let models_only_key =
            state.keys.create(spec(KeyMode::Test, &[Scope::Models])).await.unwrap().secret;
        let revoked = state.keys.create(spec(KeyMode::Test, &Scope::ALL)).await.unwrap();
        state.keys.revoke(&revoked.record.id).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let serving = state.clone();
        tokio::spawn(async move { veil::server::serve(listener, serving).await.unwrap() });
        Self {
            base,
            state,
            key,
            models_only_key,
            revoked_key: revoked.secret,
            upstream,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST /v1/chat/completions with the full-scope key.
    pub async fn chat(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// The wallet of the test keys.
pub const WALLET: &str = "0x00000000000000000000000000000000000000aa";

pub fn account() -> Account {
    Account { wallet: WALLET.into(), mode: KeyMode::Test }
}

/// Grants test credits (micro-USD) to the test wallet.
pub async fn grant(state: &AppState, micro: i64) {
    let credit =
        Credit { account: account(), kind: EntryKind::Grant, amount: micro, reference: None };
    state.ledger.credit(credit).await.unwrap();
}

/// The test wallet's entries, oldest first.
pub async fn entries(state: &AppState) -> Vec<veil::billing::Entry> {
    let query = EntryQuery { wallet: WALLET.into(), limit: 100_000, ..EntryQuery::default() };
    state.ledger.entries(query).await.unwrap()
}

/// Waits (bounded) until the test wallet has no open hold: settlement of
/// streams runs in the background after the response ends.
pub async fn settled(state: &AppState) -> veil::billing::Balance {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let balance = state.ledger.balance(account()).await.unwrap();
        if balance.open_holds == 0 {
            return balance;
        }
        assert!(tokio::time::Instant::now() < deadline, "holds still open after 10 s: {balance:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

/// Reads a whole SSE body into its `data` payloads (including `[DONE]`).
pub async fn sse_payloads(response: reqwest::Response) -> Vec<String> {
    let mut parser = veil::sse::SseParser::new();
    let mut out = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        parser.push(&chunk.unwrap()).unwrap();
        while let Some(event) = parser.next_event() {
            out.push(String::from_utf8(event.data.to_vec()).unwrap());
        }
    }
    out
}

/// The `error` object of an OpenAI-shaped error body.
pub async fn error_of(response: reqwest::Response) -> Value {
    let body: Value = response.json().await.unwrap();
    body["error"].clone()
}
