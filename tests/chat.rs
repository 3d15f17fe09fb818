//! Chat completions through Veil to the mock upstream: what the client gets
//! and what the provider receives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestApp, error_of, fixture, sse_payloads, user};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn non_streamed_answer_is_relayed_with_cost_and_request_id() {
    let app = TestApp::start().await;
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.key)
        .header("x-request-id", "client-req-42")
        .json(&json!({"model": "json", "messages": user("capital of France?")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "client-req-42");
    assert!(response.headers().contains_key("x-veil-cost-usd"));
    assert!(response.headers().contains_key("x-veil-overhead-ms"));
    let body: Value = response.json().await.unwrap();
    let expected: Value = serde_json::from_str(&fixture("chat_completion.json")).unwrap();
    assert_eq!(body, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_pass_through_and_extension_fields_do_not() {
    let app = TestApp::start().await;
    let parts = json!([{"role": "user", "content": [
        {"type": "text", "text": "describe"},
        {"type": "text", "text": "briefly", "vendor_part_field": 1}
    ]}]);
    let response = app
        .chat(json!({
            "model": "json", "messages": parts, "n": 2, "logprobs": true, "top_logprobs": 3,
            "temperature": 0.2, "seed": 7, "response_format": {"type": "json_object"},
            "vendor_extension": {"keep": ["me"]},
            "piiEntities": ["PERSON"], "privacyMode": "standard", "skip_pii_redaction": false,
        }))
        .await;
    assert_eq!(response.status(), 200);
    let seen = app.upstream.last_request();
    assert_eq!(seen["messages"], parts);
    assert_eq!(seen["n"], 2);
    assert_eq!(seen["logprobs"], true);
    assert_eq!(seen["top_logprobs"], 3);
    assert_eq!(seen["seed"], 7);
    assert_eq!(seen["response_format"], json!({"type": "json_object"}));
    assert_eq!(seen["vendor_extension"], json!({"keep": ["me"]}));
    for field in ["piiEntities", "privacyMode", "skip_pii_redaction"] {
        assert!(seen.get(field).is_none(), "{field} was forwarded");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parts_that_cannot_be_redacted_are_refused_and_never_forwarded() {
    let app = TestApp::start().await;
    // A PNG signature and nothing else: undecodable, so not redactable.
    let parts = json!([{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]);
    let response = app.chat(json!({"model": "json", "messages": parts})).await;
    assert_eq!(response.status(), 400);
    let error = error_of(response).await;
    assert_eq!(error["param"], "messages[0].content[0].image_url.url");
    assert!(error["message"].as_str().unwrap().contains("cannot be decoded"));
    // A PDF that is only its signature: truncated, refused.
    let file = json!([{"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}]}]);
    let response = app.chat(json!({"model": "json", "messages": file})).await;
    assert_eq!(response.status(), 400);
    let error = error_of(response).await;
    assert_eq!(error["param"], "messages[0].content[0].file.file_data");
    assert!(error["message"].as_str().unwrap().contains("truncated"));
    // Audio cannot be redacted: refused by type.
    let audio = json!([{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]);
    let response = app.chat(json!({"model": "json", "messages": audio})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_of(response).await["param"], "messages[0].content[0].type");
    assert!(app.upstream.requests().is_empty(), "nothing may reach the provider");
    // The client may opt out of redaction for such a request.
    let response =
        app.chat(json!({"model": "json", "messages": parts, "skip_pii_redaction": true})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.upstream.last_request()["messages"], parts);
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_is_relayed_chunk_by_chunk_and_ends_with_done() {
    let app = TestApp::start().await;
    let response =
        app.chat(json!({"model": "stream", "stream": true, "messages": user("hi")})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().contains_key("x-request-id"));
    let payloads = sse_payloads(response).await;
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> =
        payloads[..payloads.len() - 1].iter().map(|p| serde_json::from_str(p).unwrap()).collect();
    // Five content chunks; the usage-only chunk is dropped because the client
    // did not ask for it, and no chunk carries a `usage` field.
    assert_eq!(chunks.len(), 5);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    let text: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Paris is the capital.");
    // Veil asked upstream for usage anyway, for billing.
    let seen = app.upstream.last_request();
    assert_eq!(seen["stream_options"]["include_usage"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn include_usage_gets_the_final_usage_chunk() {
    let app = TestApp::start().await;
    let response = app
        .chat(json!({"model": "stream", "stream": true, "stream_options": {"include_usage": true},
                     "messages": user("hi")}))
        .await;
    assert_eq!(response.status(), 200);
    let payloads = sse_payloads(response).await;
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let last: Value = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 26);
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_call_stream_passes_through() {
    let app = TestApp::start().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let response = app
        .chat(
            json!({"model": "tools", "stream": true, "tools": tools, "messages": user("weather?")}),
        )
        .await;
    let payloads = sse_payloads(response).await;
    let chunks: Vec<Value> = payloads
        .iter()
        .filter(|p| *p != "[DONE]")
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    let arguments: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"city": "Oslo"}"#);
    assert_eq!(chunks[0]["choices"][0]["delta"]["tool_calls"][0]["id"], "call_fixture");
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(app.upstream.last_request()["tools"], tools);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_model_name_is_sent() {
    let extra = r#"
[[models]]
id = "friendly-name"
provider = "mock"
upstream_model = "json"
"#;
    let app = TestApp::start_with(extra).await;
    let response = app.chat(json!({"model": "friendly-name", "messages": user("x")})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.upstream.last_request()["model"], "json");
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_model_answers_without_an_upstream() {
    let app = TestApp::start().await;
    let response = app.chat(json!({"model": "echo", "messages": user("ping")})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "You said: ping");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(app.upstream.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn models_are_listed_and_retrieved() {
    let app = TestApp::start().await;
    let list: Value = app
        .client
        .get(app.url("/v1/models"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> =
        list["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"echo") && ids.contains(&"json"));
    let one =
        app.client.get(app.url("/v1/models/echo")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.unwrap();
    assert_eq!((one["id"].as_str(), one["object"].as_str()), (Some("echo"), Some("model")));
    let missing =
        app.client.get(app.url("/v1/models/nope")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(error_of(missing).await["code"], "model_not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_needs_no_key() {
    let app = TestApp::start().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "ok");
}
