//! What the client gets when the provider fails, before and after the first
//! byte, and what the provider sees when the client goes away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{TestApp, error_of, sse_payloads, user};
use futures_util::StreamExt;
use serde_json::{Value, json};

async fn status_and_error(app: &TestApp, model: &str, stream: bool) -> (u16, Value) {
    let response = app.chat(json!({"model": model, "stream": stream, "messages": user("x")})).await;
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-request-id"));
    (status, error_of(response).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_4xx_is_relayed_in_our_shape() {
    let app = TestApp::start().await;
    for stream in [false, true] {
        let (status, error) = status_and_error(&app, "error-400", stream).await;
        assert_eq!(status, 400);
        assert_eq!(error["message"], "Invalid value for 'temperature': must be between 0 and 2.");
        assert_eq!(error["param"], "temperature");
        assert_eq!(error["code"], "invalid_value");
        assert_eq!(error["type"], "invalid_request_error");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_auth_failure_is_a_bad_gateway_not_the_clients_401() {
    let app = TestApp::start().await;
    let (status, error) = status_and_error(&app, "error-401", false).await;
    assert_eq!(status, 502);
    assert_eq!(error["code"], "upstream_error");
    // The provider's message (which names the proxy's upstream key) is not relayed.
    assert!(!error["message"].as_str().unwrap().contains("sk-proj"));
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_5xx_before_first_byte_is_502() {
    let app = TestApp::start().await;
    for (model, stream) in [("error-500", false), ("error-503", false), ("error-500", true)] {
        let (status, error) = status_and_error(&app, model, stream).await;
        assert_eq!(status, 502, "{model} stream={stream}");
        assert_eq!(error["code"], "upstream_error");
        assert_eq!(error["type"], "api_error");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_provider_is_502() {
    let app = TestApp::start().await;
    let (status, error) = status_and_error(&app, "unreachable", false).await;
    assert_eq!(status, 502);
    assert_eq!(error["code"], "upstream_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_timeout_before_first_byte_is_504() {
    let app = TestApp::start().await; // the mock provider's timeout is 1 s, `slow` waits 5 s
    for stream in [false, true] {
        let (status, error) = status_and_error(&app, "slow", stream).await;
        assert_eq!(status, 504);
        assert_eq!(error["code"], "upstream_timeout");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_cut_mid_way_gets_an_in_band_error_then_done() {
    let app = TestApp::start().await;
    let response = app.chat(json!({"model": "cut", "stream": true, "messages": user("x")})).await;
    assert_eq!(response.status(), 200);
    let payloads = sse_payloads(response).await;
    assert_eq!(payloads.len(), 4, "{payloads:?}");
    let error: Value = serde_json::from_str(&payloads[2]).unwrap();
    assert_eq!(error["error"]["code"], "upstream_error");
    assert_eq!(payloads[3], "[DONE]");
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_ending_without_done_after_finish_is_completed() {
    let app = TestApp::start().await;
    let response =
        app.chat(json!({"model": "no-done", "stream": true, "messages": user("x")})).await;
    let payloads = sse_payloads(response).await;
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    assert!(payloads.iter().all(|p| !p.contains("\"error\"")), "{payloads:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_disconnect_drops_the_upstream_request() {
    let mut app = TestApp::start().await;
    let response =
        app.chat(json!({"model": "endless", "stream": true, "messages": user("x")})).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = 0;
    while received < 2 {
        received += body.next().await.unwrap().unwrap().len().min(1);
    }
    drop(body);
    // The mock would stream for 10 s; the proxy must close it long before.
    let closed = tokio::time::timeout(Duration::from_secs(5), app.upstream.closed.recv()).await;
    assert!(closed.is_ok(), "the upstream connection stayed open after the client left");
}
