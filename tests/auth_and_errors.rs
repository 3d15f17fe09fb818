//! Every 401/403/400/404/413 of the `/v1` surface, in OpenAI's error shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestApp, error_of, user};
use serde_json::{Value, json};

async fn post_chat(
    app: &TestApp,
    auth: Option<(&str, &str)>,
    body: reqwest::Body,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body);
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    req.send().await.unwrap()
}

fn valid_body() -> reqwest::Body {
    json!({"model": "echo", "messages": user("hi")}).to_string().into()
}

async fn expect(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert!(response.headers().contains_key("x-request-id"));
    let error = error_of(response).await;
    assert_eq!(error["code"], code, "{error}");
    assert!(error.get("param").is_some(), "param must be present (null or a name)");
    error
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_malformed_unknown_and_revoked_keys() {
    let app = TestApp::start().await;
    let error = expect(post_chat(&app, None, valid_body()).await, 401, "missing_api_key").await;
    assert_eq!(error["type"], "authentication_error");
    assert!(error["param"].is_null());
    expect(
        post_chat(&app, Some(("authorization", "Bearer ")), valid_body()).await,
        401,
        "missing_api_key",
    )
    .await;
    expect(
        post_chat(&app, Some(("authorization", "Bearer sk-nope")), valid_body()).await,
        401,
        "invalid_api_key",
    )
    .await;
    let unknown = format!("vk_test_{}", "A".repeat(40));
    let bearer = format!("Bearer {unknown}");
    expect(
        post_chat(&app, Some(("authorization", &bearer)), valid_body()).await,
        401,
        "invalid_api_key",
    )
    .await;
    let revoked = format!("Bearer {}", app.revoked_key);
    expect(
        post_chat(&app, Some(("authorization", &revoked)), valid_body()).await,
        401,
        "inactive_api_key",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn x_api_key_header_works_like_bearer() {
    let app = TestApp::start().await;
    let response = post_chat(&app, Some(("x-api-key", &app.key)), valid_body()).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn key_without_the_scope_is_forbidden() {
    let app = TestApp::start().await;
    let bearer = format!("Bearer {}", app.models_only_key);
    let error = expect(
        post_chat(&app, Some(("authorization", &bearer)), valid_body()).await,
        403,
        "endpoint_not_allowed",
    )
    .await;
    assert_eq!(error["type"], "permission_error");
    let models = app
        .client
        .get(app.url("/v1/models"))
        .bearer_auth(&app.models_only_key)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_get_400_naming_the_field() {
    let app = TestApp::start().await;
    let bearer = format!("Bearer {}", app.key);
    let auth = Some(("authorization", bearer.as_str()));
    let error =
        expect(post_chat(&app, auth, "{\"model\": ".into()).await, 400, "invalid_params").await;
    assert!(error["message"].as_str().unwrap().contains("line 1"));
    expect(post_chat(&app, auth, "[1,2]".into()).await, 400, "validation_error").await;
    let cases = [
        (json!({"messages": user("hi")}), "model"),
        (json!({"model": ["echo"], "messages": user("hi")}), "model"),
        (json!({"model": "echo"}), "messages"),
        (json!({"model": "echo", "messages": "hi"}), "messages"),
        (
            json!({"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
        ),
        (json!({"model": "echo", "messages": user("hi"), "stream": "true"}), "stream"),
        (json!({"model": "echo", "messages": user("hi"), "max_tokens": "10"}), "max_tokens"),
    ];
    for (body, param) in cases {
        let error =
            expect(post_chat(&app, auth, body.to_string().into()).await, 400, "validation_error")
                .await;
        assert_eq!(error["param"], param, "{body}");
    }
    let error = expect(
        post_chat(
            &app,
            auth,
            json!({"model": "gpt-nope", "messages": user("hi")}).to_string().into(),
        )
        .await,
        400,
        "invalid_model",
    )
    .await;
    assert_eq!(error["param"], "model");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_body_is_413() {
    let app = TestApp::start_with("[server]\nmax_body_bytes = 1024\n").await;
    let bearer = format!("Bearer {}", app.key);
    let big = json!({"model": "echo", "messages": user(&"x".repeat(4096))}).to_string();
    expect(
        post_chat(&app, Some(("authorization", &bearer)), big.into()).await,
        413,
        "request_too_large",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_route_is_404_in_our_shape() {
    let app = TestApp::start().await;
    let response =
        app.client.get(app.url("/v1/nothing-here")).bearer_auth(&app.key).send().await.unwrap();
    expect(response, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unacceptable_client_request_ids_are_replaced() {
    let app = TestApp::start().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "x".repeat(300))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_"), "{id}");
}
