//! Metering through the HTTP surface: holds and settlement under
//! concurrency, streams that end, break or lose their client, and the
//! per-key limits with a clock the test controls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{TestApp, account, entries, error_of, settled, sse_payloads, user};
use futures_util::StreamExt;
use serde_json::{Value, json};
use veil::auth::keys::{KeyMode, Scope};
use veil::billing::{Account, Credit, EntryKind};
use veil::clock::ManualClock;

/// An echo model with prices; echo reports exactly the usage Veil counts,
/// and with a long enough prompt it always uses all of `max_tokens`, so a
/// request costs exactly its hold.
const PRICED_ECHO: &str = r#"
[[models]]
id = "echo-priced"
provider = "echo"
input_usd_per_mtok = 3.0
output_usd_per_mtok = 15.0

[plans.pro]
rpm = 100000
tpm = 100000000
daily_requests = 1000000
"#;

const MAX_TOKENS: u64 = 16;

fn exact_body() -> Value {
    json!({"model": "echo-priced", "max_tokens": MAX_TOKENS,
           "messages": user("please repeat this sentence back to me word for word, all of it, slowly")})
}

/// Prompt tokens and cost of `exact_body()`.
fn exact_cost() -> (u64, i64) {
    let body = exact_body();
    let prompt = veil::tokens::count_prompt("echo-priced", body.as_object().unwrap());
    (prompt, (3 * prompt + 15 * MAX_TOKENS) as i64)
}

/// A key of a fresh wallet, with `micro` test credits.
async fn funded_key(app: &TestApp, wallet: &str, micro: i64, plan: &str) -> String {
    let mut spec = common::spec(KeyMode::Test, &Scope::ALL);
    spec.wallet = wallet.into();
    spec.plan = plan.into();
    let key = app.state.keys.create(spec).await.unwrap().secret;
    if micro > 0 {
        let account = Account { wallet: wallet.into(), mode: KeyMode::Test };
        app.state
            .ledger
            .credit(Credit { account, kind: EntryKind::Grant, amount: micro, reference: None })
            .await
            .unwrap();
    }
    key
}

async fn post(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_never_overspend() {
    let app = TestApp::start_with(PRICED_ECHO).await;
    let (_, cost) = exact_cost();
    let k = 37;
    let wallet = "0x00000000000000000000000000000000000000c1";
    let key = funded_key(&app, wallet, k * cost, "pro").await;
    let body = exact_body();
    let requests = (0..200).map(|_| post(&app, &key, &body));
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count() as i64, k);
    assert_eq!(statuses.iter().filter(|s| **s == 402).count() as i64, 200 - k);
    let account = Account { wallet: wallet.into(), mode: KeyMode::Test };
    let balance = app.state.ledger.balance(account).await.unwrap();
    assert_eq!((balance.balance, balance.held, balance.open_holds), (0, 0, 0));
    let query =
        veil::billing::EntryQuery { wallet: wallet.into(), limit: 10_000, ..Default::default() };
    let all = app.state.ledger.entries(query).await.unwrap();
    assert!(all.iter().all(|e| e.balance_after >= 0 && e.available_after >= 0));
    assert_eq!(all.iter().map(|e| e.amount).sum::<i64>(), 0);
    assert_eq!(all.iter().filter(|e| e.kind == EntryKind::Settle).count() as i64, k);
}

#[tokio::test(flavor = "multi_thread")]
async fn tpm_edge_admits_exactly_k() {
    let clock = Arc::new(ManualClock::new(1_764_000_000_000));
    let (prompt, _) = exact_cost();
    let per_request = prompt + MAX_TOKENS;
    let k = 23;
    let extra = format!(
        "{PRICED_ECHO}\n[plans.enterprise]\nrpm = 100000\ntpm = {}\ndaily_requests = 1000000\n",
        k * per_request
    );
    let app = TestApp::start_with_clock(&extra, clock).await;
    let key =
        funded_key(&app, "0x00000000000000000000000000000000000000c2", 100_000_000, "enterprise")
            .await;
    let body = exact_body();
    let responses = futures_util::future::join_all((0..200).map(|_| post(&app, &key, &body))).await;
    let mut ok = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => ok += 1,
            429 => assert_eq!(error_of(response).await["code"], "rate_limit_exceeded_tpm"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, k);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_streamed_cost_header_matches_the_ledger() {
    let app = TestApp::start().await;
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.key)
        .header("x-request-id", "req-cost-1")
        .json(&json!({"model": "json", "messages": user("capital of France?")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // 21 prompt tokens at $1/Mtok + 8 completion tokens at $2/Mtok = 37 micro-USD.
    assert_eq!(response.headers()["x-veil-cost-usd"], "0.000037");
    let mine: Vec<_> = entries(&app.state)
        .await
        .into_iter()
        .filter(|e| e.request_id.as_deref() == Some("req-cost-1"))
        .collect();
    let kinds: Vec<_> = mine.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EntryKind::Hold, EntryKind::Release, EntryKind::Settle]);
    assert_eq!(mine[2].amount, -37);
    assert_eq!((mine[2].prompt_tokens, mine[2].completion_tokens), (Some(21), Some(8)));
    assert_eq!(mine[2].model.as_deref(), Some("json"));
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_failure_before_output_charges_nothing() {
    let app = TestApp::start().await;
    let before = app.state.ledger.balance(account()).await.unwrap();
    for stream in [false, true] {
        let response =
            app.chat(json!({"model": "error-500", "stream": stream, "messages": user("x")})).await;
        assert_eq!(response.status(), 502);
    }
    let after = settled(&app.state).await;
    assert_eq!(after.balance, before.balance);
    let settles: Vec<_> =
        entries(&app.state).await.into_iter().filter(|e| e.kind == EntryKind::Settle).collect();
    assert_eq!(settles.len(), 2);
    assert!(settles.iter().all(|e| e.amount == 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn unfunded_wallet_gets_402_and_no_hold() {
    let app = TestApp::start().await;
    let key = funded_key(&app, "0x00000000000000000000000000000000000000c3", 0, "free").await;
    let response = post(&app, &key, &json!({"model": "json", "messages": user("x")})).await;
    assert_eq!(response.status(), 402);
    assert!(response.headers().contains_key("x-ratelimit-remaining-rpm"));
    let error = error_of(response).await;
    assert_eq!(error["code"], "insufficient_credits");
    assert_eq!(error["type"], "insufficient_quota");
    assert!(app.upstream.requests().is_empty(), "nothing may be forwarded without a hold");
}

/// The settle entry of the only request of the test wallet, once settled.
async fn only_settle(app: &TestApp) -> veil::billing::Entry {
    settled(&app.state).await;
    let mut settles: Vec<_> =
        entries(&app.state).await.into_iter().filter(|e| e.kind == EntryKind::Settle).collect();
    assert_eq!(settles.len(), 1);
    settles.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_that_ends_settles_with_the_providers_usage() {
    let app = TestApp::start().await;
    let response =
        app.chat(json!({"model": "stream", "stream": true, "messages": user("hi")})).await;
    assert_eq!(sse_payloads(response).await.last().unwrap(), "[DONE]");
    let settle = only_settle(&app).await;
    // The mock reports 21 + 5 tokens: 21 × $1 + 5 × $2 per Mtok.
    assert_eq!((settle.prompt_tokens, settle.completion_tokens), (Some(21), Some(5)));
    assert_eq!(settle.amount, -31);
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_cut_mid_way_charges_what_was_generated() {
    let app = TestApp::start().await;
    let body = json!({"model": "cut", "stream": true, "messages": user("hi")});
    let prompt = veil::tokens::count_prompt("cut", body.as_object().unwrap());
    let response = app.chat(body).await;
    sse_payloads(response).await;
    let settle = only_settle(&app).await;
    // Two events arrived: the role chunk and "Paris" (one token).
    assert_eq!((settle.prompt_tokens, settle.completion_tokens), (Some(prompt), Some(1)));
    assert_eq!(settle.amount, -((prompt + 2) as i64));
}

#[tokio::test(flavor = "multi_thread")]
async fn client_disconnect_charges_what_was_generated() {
    let mut app = TestApp::start().await;
    let body = json!({"model": "endless", "stream": true, "messages": user("hi")});
    let prompt = veil::tokens::count_prompt("endless", body.as_object().unwrap());
    let response = app.chat(body).await;
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    while text.matches("data: ").count() < 3 {
        text.push_str(&String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()));
    }
    drop(stream);
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(5), app.upstream.closed.recv()).await;
    assert!(closed.is_ok());
    let settle = only_settle(&app).await;
    let completion = settle.completion_tokens.unwrap();
    // Each mock chunk is "wN " (2 tokens); at least the 3 relayed ones count.
    assert!(completion >= 6, "{completion}");
    assert_eq!(settle.prompt_tokens, Some(prompt));
    assert_eq!(settle.amount, -((prompt + 2 * completion) as i64));
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn rpm_boundary_with_headers_and_retry_after() {
    let clock = Arc::new(ManualClock::new(1_764_000_000_000));
    let app = TestApp::start_with_clock("", clock.clone()).await;
    let mut spec = common::spec(KeyMode::Test, &Scope::ALL);
    spec.rpm = Some(3);
    let key = app.state.keys.create(spec).await.unwrap().secret;
    let body = json!({"model": "echo", "max_tokens": 10, "messages": user("hi")});
    for expected_remaining in ["2", "1", "0"] {
        let response = post(&app, &key, &body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-ratelimit-limit-rpm"), "3");
        assert_eq!(header(&response, "x-ratelimit-remaining-rpm"), expected_remaining);
        assert_eq!(header(&response, "x-ratelimit-limit-requests"), "3");
        assert_eq!(header(&response, "x-ratelimit-remaining-requests"), expected_remaining);
        assert_eq!(header(&response, "x-ratelimit-limit-tpm"), "100000");
    }
    let refused = post(&app, &key, &body).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), "20");
    assert_eq!(header(&refused, "retry-after-ms"), "20000");
    assert_eq!(header(&refused, "x-ratelimit-reset-requests"), "1m0s");
    assert_eq!(header(&refused, "x-ratelimit-reset-rpm"), "60");
    assert_eq!(error_of(refused).await["code"], "rate_limit_exceeded_rpm");
    clock.advance_ms(19_999);
    assert_eq!(post(&app, &key, &body).await.status(), 429);
    clock.advance_ms(1);
    assert_eq!(post(&app, &key, &body).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn tpm_headers_and_refusal() {
    let clock = Arc::new(ManualClock::new(1_764_000_000_000));
    let app = TestApp::start_with_clock("", clock.clone()).await;
    let mut spec = common::spec(KeyMode::Test, &Scope::ALL);
    spec.tpm = Some(100);
    let key = app.state.keys.create(spec).await.unwrap().secret;
    let body = json!({"model": "echo", "max_tokens": 40, "messages": user("hi")});
    let prompt = veil::tokens::count_prompt("echo", body.as_object().unwrap());
    let first = post(&app, &key, &body).await;
    assert_eq!(first.status(), 200);
    // Echo used `completion` of its 40 reserved tokens; the rest came back at settle.
    let answer: Value = first.json().await.unwrap();
    let used = answer["usage"]["total_tokens"].as_u64().unwrap();
    let models = app.client.get(app.url("/v1/models")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(header(&models, "x-ratelimit-remaining-tpm"), (100 - used).to_string());
    let big = json!({"model": "echo", "max_tokens": 100, "messages": user("hi")});
    let refused = post(&app, &key, &big).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(error_of(refused).await["code"], "rate_limit_exceeded_tpm");
    assert!(prompt + 40 <= 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_quota_resets_at_midnight_utc() {
    let day = 86_400_000;
    let midnight = 1_764_000_000_000 / day * day + day;
    let clock = Arc::new(ManualClock::new(midnight - 1_500));
    let app = TestApp::start_with_clock("", clock.clone()).await;
    let mut spec = common::spec(KeyMode::Test, &Scope::ALL);
    spec.daily_requests = Some(2);
    let key = app.state.keys.create(spec).await.unwrap().secret;
    let body = json!({"model": "echo", "max_tokens": 10, "messages": user("hi")});
    assert_eq!(post(&app, &key, &body).await.status(), 200);
    assert_eq!(post(&app, &key, &body).await.status(), 200);
    let refused = post(&app, &key, &body).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), "2");
    assert_eq!(header(&refused, "retry-after-ms"), "1500");
    assert_eq!(error_of(refused).await["code"], "quota_exceeded");
    clock.set(midnight);
    assert_eq!(post(&app, &key, &body).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_are_not_charged() {
    let clock = Arc::new(ManualClock::new(1_764_000_000_000));
    let app = TestApp::start_with_clock("", clock).await;
    let mut spec = common::spec(KeyMode::Test, &Scope::ALL);
    spec.rpm = Some(1);
    let key = app.state.keys.create(spec).await.unwrap().secret;
    let body = json!({"model": "json", "messages": user("hi")});
    assert_eq!(post(&app, &key, &body).await.status(), 200);
    let before = entries(&app.state).await.len();
    assert_eq!(post(&app, &key, &body).await.status(), 429);
    assert_eq!(entries(&app.state).await.len(), before);
    assert_eq!(app.upstream.requests().len(), 1);
}
