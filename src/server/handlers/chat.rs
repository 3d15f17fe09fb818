//! `POST /v1/chat/completions`: the whole pipeline of DESIGN §1 for one
//! request — scope → validation → limits → credit hold → redaction →
//! upstream → (restore, usage tap) → settlement.
//!
//! Unknown request fields are forwarded untouched; Veil's extension fields
//! are removed before forwarding. Every exit after the hold settles it: with
//! zero output when the provider fails before the first byte, with the
//! provider's usage (or a count of what was relayed) otherwise — also when
//! the client hangs up mid-stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::auth::keys::Scope;
use crate::billing::money::format_usd;
use crate::billing::{Account, HoldReceipt, LedgerError, NewHold, Settle, Usage};
use crate::error::ApiError;
use crate::limits::{Admission, KeyLimits, LimitError};
use crate::redact::Redaction;
use crate::redact::request::{Defaults, Options as RedactOptions, answer_texts, restore_answer};
use crate::redact::restore::StreamRestorer;
use crate::server::extract::{AuthedKey, JsonObject, RequestId};
use crate::state::AppState;
use crate::stream::{RelayOptions, Rewrite, StreamOutcome, relay};
use crate::tokens;
use crate::upstream::Model;

const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool", "function"];

/// The fields Veil itself reads; everything else is the provider's business.
struct ChatParams {
    model: String,
    stream: bool,
    include_usage: bool,
    max_output: Option<u64>,
}

impl ChatParams {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let model = match body.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(ApiError::validation("model", "You must provide a model parameter."));
            }
            Some(_) => return Err(ApiError::validation("model", "`model` must be a string.")),
        };
        validate_messages(body.get("messages"))?;
        let stream = optional_bool(body, "stream")?.unwrap_or(false);
        let include_usage = match body.get("stream_options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(options)) => match options.get("include_usage") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(ApiError::validation(
                        "stream_options.include_usage",
                        "`stream_options.include_usage` must be a boolean.",
                    ));
                }
            },
            Some(_) => {
                return Err(ApiError::validation(
                    "stream_options",
                    "`stream_options` must be an object.",
                ));
            }
        };
        let mut max_output = None;
        for field in ["max_completion_tokens", "max_tokens"] {
            match body.get(field) {
                None | Some(Value::Null) => {}
                Some(v) => match v.as_u64() {
                    Some(n) if n >= 1 => max_output = max_output.or(Some(n)),
                    _ => {
                        return Err(ApiError::validation(
                            field,
                            format!("`{field}` must be a positive integer."),
                        ));
                    }
                },
            }
        }
        match body.get("n") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64().is_some_and(|n| n >= 1) => {}
            Some(_) => return Err(ApiError::validation("n", "`n` must be a positive integer.")),
        }
        match body.get("tools") {
            None | Some(Value::Null) | Some(Value::Array(_)) => {}
            Some(_) => return Err(ApiError::validation("tools", "`tools` must be an array.")),
        }
        Ok(Self { model, stream, include_usage, max_output })
    }
}

fn optional_bool(body: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::validation(field, format!("`{field}` must be a boolean."))),
    }
}

pub fn validate_messages(messages: Option<&Value>) -> Result<(), ApiError> {
    let messages = match messages {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(ApiError::validation("messages", "`messages` must not be empty."));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::validation("messages", "You must provide a messages parameter."));
        }
        Some(_) => return Err(ApiError::validation("messages", "`messages` must be an array.")),
    };
    for (i, message) in messages.iter().enumerate() {
        let Some(message) = message.as_object() else {
            return Err(ApiError::validation(
                format!("messages[{i}]"),
                "Each message must be an object.",
            ));
        };
        match message.get("role").and_then(Value::as_str) {
            Some(role) if ROLES.contains(&role) => {}
            _ => {
                return Err(ApiError::validation(
                    format!("messages[{i}].role"),
                    format!("`messages[{i}].role` must be one of {}.", ROLES.join(", ")),
                ));
            }
        }
        match message.get("content") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(Value::Array(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    if part.get("type").and_then(Value::as_str).is_none() {
                        return Err(ApiError::validation(
                            format!("messages[{i}].content[{j}].type"),
                            "Each content part needs a string `type`.",
                        ));
                    }
                }
            }
            Some(_) => {
                return Err(ApiError::validation(
                    format!("messages[{i}].content"),
                    "`content` must be a string, an array of content parts, or null.",
                ));
            }
        }
    }
    Ok(())
}

/// Settles the hold and corrects the limiter once the outcome is known.
struct Charge {
    state: AppState,
    model: Arc<Model>,
    limits: KeyLimits,
    admission: Admission,
    hold: HoldReceipt,
    prompt_tokens: u64,
}

impl Charge {
    /// Usage from the provider's report, else counted from the relayed text.
    fn usage_of(&self, reported: Option<Usage>, generated_text: &str) -> Usage {
        reported.unwrap_or_else(|| Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: tokens::count_text(&self.model.upstream_model, generated_text),
        })
    }

    /// Charges the cost of `usage` and releases the rest of the hold;
    /// returns what was charged.
    async fn settle(self, usage: Usage) -> Result<i64, ApiError> {
        let cost = self.model.price.cost_micro_usd(usage.prompt_tokens, usage.completion_tokens);
        let now = self.state.clock.now_ms();
        self.state
            .limiter
            .settle(&self.limits, self.admission.reserved_tokens, usage.total(), now)
            .await;
        let settle = Settle { hold_id: self.hold.hold_id.clone(), cost, usage };
        let settled = crate::billing::settle_retrying(self.state.ledger.as_ref(), settle)
            .await
            .map_err(LedgerError::into_api_error)?;
        Ok(settled.charged)
    }

    /// Runs `work` in a tracked task: it survives the client, and shutdown
    /// waits for it.
    fn in_background(self, work: impl FnOnce(Self) -> BoxFuture + Send + 'static) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::error!(hold_id = %self.hold.hold_id, "no runtime to settle on; the hold is released once stale");
            return;
        };
        let tasks = self.state.tasks.clone();
        let _entered = handle.enter();
        tasks.spawn(work(self));
    }

    /// Nothing was generated: charge nothing, release the hold.
    fn release(self) {
        self.in_background(|charge| {
            Box::pin(async move { log_settle(charge.settle(Usage::default()).await) })
        });
    }

    /// For streams: settle from what the relay saw.
    fn settle_stream(self, outcome: StreamOutcome) {
        self.in_background(move |charge| {
            Box::pin(async move {
                let text = outcome.text;
                let reported = outcome.usage;
                let model = charge.model.upstream_model.clone();
                // Counting is CPU work; keep it off the async workers.
                let usage = match reported {
                    Some(usage) => usage,
                    None => {
                        let prompt_tokens = charge.prompt_tokens;
                        let counted =
                            tokio::task::spawn_blocking(move || tokens::count_text(&model, &text))
                                .await;
                        Usage { prompt_tokens, completion_tokens: counted.unwrap_or(0) }
                    }
                };
                log_settle(charge.settle(usage).await);
            })
        });
    }
}

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

fn log_settle(result: Result<i64, ApiError>) {
    if let Err(err) = result {
        tracing::error!(code = err.code(), "settlement failed; the hold is released once stale");
    }
}

pub async fn completions(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    AuthedKey(key): AuthedKey,
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if !key.allows(Scope::Chat) {
        return Err(ApiError::EndpointNotAllowed("/v1/chat/completions"));
    }
    let params = ChatParams::parse(&body)?;
    let options = RedactOptions::parse(&body, &Defaults::default())?;
    let model =
        state.catalog.get(&params.model).cloned().ok_or(ApiError::InvalidModel(params.model))?;

    // Limits and hold are sized for the worst case: the whole prompt plus
    // the output cap.
    let prompt_tokens = tokens::count_prompt(&model.upstream_model, &body);
    let output_cap = params.max_output.unwrap_or(u64::from(model.max_output_tokens));
    let limits = KeyLimits::resolve(&key, &state.config.plans);
    let admission = state
        .limiter
        .admit(&limits, prompt_tokens + output_cap, state.clock.now_ms())
        .await
        .map_err(LimitError::into_api_error)?;
    let new_hold = NewHold {
        account: Account { wallet: key.wallet.clone(), mode: key.mode },
        key_id: key.id.clone(),
        request_id: request_id.clone(),
        model: model.id.clone(),
        amount: model.price.cost_micro_usd(prompt_tokens, output_cap),
        reference: options.skip.then(|| "pii_redaction:skipped".to_owned()),
    };
    let hold = match state.ledger.hold(new_hold).await {
        Ok(hold) => hold,
        Err(err) => {
            let now = state.clock.now_ms();
            state.limiter.settle(&limits, admission.reserved_tokens, 0, now).await;
            return Err(err.into_api_error());
        }
    };
    let status = admission.status;
    let charge = Charge {
        state: state.clone(),
        model: model.clone(),
        limits,
        admission,
        hold,
        prompt_tokens,
    };

    let redacted = async {
        if !options.skip {
            crate::media::remote::inline_images(&mut body, &state.fetch_policy).await?;
            crate::media::remote::fetch_documents(&mut body, &state.fetch_policy).await?;
        }
        redact_request(&state, body).await
    };
    let (mut body, redaction) = match redacted.await {
        Ok(done) => done,
        Err(err) => {
            charge.release();
            return Err(err);
        }
    };
    for field in crate::redact::request::EXTENSION_FIELDS {
        body.remove(*field);
    }
    body.insert("model".into(), Value::String(model.upstream_model.clone()));
    if params.stream && model.provider.requests_usage() {
        let options = body.entry("stream_options").or_insert_with(|| Value::Object(Map::new()));
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    }
    let body = Value::Object(body);
    let proxy_time = started.elapsed();

    let mut response = if params.stream {
        stream_completion(charge, body, params.include_usage, redaction).await?
    } else {
        complete(charge, body, started, proxy_time, redaction).await?
    };
    response.extensions_mut().insert(status);
    Ok(response)
}

/// Runs the request redactor on the blocking pool, a bounded number at a
/// time (NER is CPU work).
async fn redact_request(
    state: &AppState,
    mut body: Map<String, Value>,
) -> Result<(Map<String, Value>, Redaction), ApiError> {
    let _slot =
        state.redact_slots.clone().acquire_owned().await.map_err(|_| ApiError::Unavailable)?;
    let redactor = state.redactor.clone();
    tokio::task::spawn_blocking(move || redactor.redact(&mut body).map(|r| (body, r)))
        .await
        .map_err(|_| ApiError::internal("redaction task failed"))?
}

/// Puts originals back into a non-streamed answer (standard mode) or
/// redacts it (strict mode). Untouched bytes are relayed as they came.
fn rewrite_answer(answer: Bytes, redaction: &Redaction) -> Result<Bytes, ApiError> {
    if redaction.restorer.is_empty() && redaction.strict.is_none() {
        return Ok(answer);
    }
    let mut value: Value = serde_json::from_slice(&answer)
        .map_err(|e| ApiError::Upstream(format!("answer is not JSON: {e}")))?;
    if redaction.strict.is_some() {
        let mut failed = None;
        answer_texts(&mut value, &mut |text| {
            if failed.is_none() {
                failed = redaction.scan_answer(text).err();
            }
        });
        if let Some(err) = failed {
            return Err(err);
        }
    } else if !restore_answer(&mut value, &redaction.restorer) {
        return Ok(answer);
    }
    serde_json::to_vec(&value).map(Bytes::from).map_err(ApiError::internal)
}

async fn complete(
    charge: Charge,
    body: Value,
    started: Instant,
    proxy_before: Duration,
    redaction: Redaction,
) -> Result<Response, ApiError> {
    let upstream_started = Instant::now();
    let answer = match charge.model.provider.complete(&body).await {
        Ok(answer) => answer,
        Err(err) => {
            charge.release();
            return Err(err.into_api_error());
        }
    };
    let upstream_time = upstream_started.elapsed();
    // Only what billing needs is read; the body is relayed byte for byte.
    let view: AnswerView = match serde_json::from_slice(&answer) {
        Ok(view) => view,
        Err(err) => {
            charge.release();
            return Err(ApiError::Upstream(format!("answer is not a chat.completion: {err}")));
        }
    };
    let reported = view.usage.as_ref().and_then(UsageView::usage);
    let usage = charge.usage_of(reported, &view.generated_text());
    let cost = charge.settle(usage).await?;
    let answer = rewrite_answer(answer, &redaction)?;
    let overhead = started.elapsed().saturating_sub(upstream_time).max(proxy_before);
    let mut response = ([(header::CONTENT_TYPE, "application/json")], answer).into_response();
    let headers = response.headers_mut();
    headers.insert("x-veil-cost-usd", header_value(&format_usd(cost)));
    headers.insert(
        "x-veil-overhead-ms",
        header_value(&format!("{:.3}", overhead.as_secs_f64() * 1e3)),
    );
    Ok(response)
}

async fn stream_completion(
    charge: Charge,
    body: Value,
    client_wants_usage: bool,
    redaction: Redaction,
) -> Result<Response, ApiError> {
    let provider = charge.model.provider.clone();
    let mut upstream = match provider.stream(&body).await {
        Ok(upstream) => upstream,
        Err(err) => {
            charge.release();
            return Err(err.into_api_error());
        }
    };
    // Answer 200 only once the first event is here, so that early upstream
    // failures are real HTTP errors.
    let first = match tokio::time::timeout(provider.timeout(), upstream.next()).await {
        Ok(Some(Ok(first))) => first,
        Ok(Some(Err(err))) => {
            charge.release();
            return Err(err.into_api_error());
        }
        Ok(None) => {
            charge.release();
            return Err(ApiError::Upstream("empty stream".into()));
        }
        Err(_) => {
            charge.release();
            return Err(ApiError::UpstreamTimeout);
        }
    };
    let rewrite = if redaction.strict.is_some() {
        Rewrite::Scan(Box::new(redaction))
    } else if redaction.restorer.is_empty() {
        Rewrite::None
    } else {
        Rewrite::Restore(StreamRestorer::new(redaction.restorer.clone()))
    };
    let options = RelayOptions { client_wants_usage, rewrite };
    let events = relay(first, upstream, options, move |outcome| charge.settle_stream(outcome));
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| ApiError::internal("stream response").into_response()))
}

/// The parts of a `chat.completion` that billing reads; everything else is
/// skipped by the parser and relayed untouched.
#[derive(serde::Deserialize)]
struct AnswerView {
    #[serde(default)]
    usage: Option<UsageView>,
    #[serde(default)]
    choices: Vec<ChoiceView>,
}

#[derive(serde::Deserialize)]
struct UsageView {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl UsageView {
    fn usage(&self) -> Option<Usage> {
        Some(Usage {
            prompt_tokens: self.prompt_tokens?,
            completion_tokens: self.completion_tokens?,
        })
    }
}

#[derive(serde::Deserialize)]
struct ChoiceView {
    #[serde(default)]
    message: Option<MessageView>,
}

#[derive(serde::Deserialize)]
struct MessageView {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallView>,
}

#[derive(serde::Deserialize)]
struct ToolCallView {
    #[serde(default)]
    function: Option<FunctionView>,
}

#[derive(serde::Deserialize)]
struct FunctionView {
    #[serde(default)]
    arguments: Option<String>,
}

impl AnswerView {
    /// Generated text (content and tool-call arguments), for counting.
    fn generated_text(&self) -> String {
        let mut text = String::new();
        for message in self.choices.iter().filter_map(|c| c.message.as_ref()) {
            text.push_str(message.content.as_deref().unwrap_or(""));
            for call in &message.tool_calls {
                text.push_str(
                    call.function.as_ref().and_then(|f| f.arguments.as_deref()).unwrap_or(""),
                );
            }
        }
        text
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ChatParams, ApiError> {
        ChatParams::parse(v.as_object().unwrap())
    }

    fn param_of(v: Value) -> String {
        match parse(v) {
            Err(e) => e.openai_body()["error"]["param"].as_str().unwrap_or("").to_owned(),
            Ok(_) => "ok".into(),
        }
    }

    #[test]
    fn valid_requests_parse() {
        let p = parse(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                             "stream": true, "stream_options": {"include_usage": true},
                             "max_tokens": 5, "custom_field": {"any": 1}}))
        .unwrap();
        assert!(p.stream && p.include_usage);
        assert_eq!(p.max_output, Some(5));
    }

    #[test]
    fn each_bad_field_is_named() {
        let msgs = json!([{"role": "user", "content": "hi"}]);
        assert_eq!(param_of(json!({"messages": msgs})), "model");
        assert_eq!(param_of(json!({"model": 3, "messages": msgs})), "model");
        assert_eq!(param_of(json!({"model": "m"})), "messages");
        assert_eq!(param_of(json!({"model": "m", "messages": []})), "messages");
        assert_eq!(
            param_of(json!({"model": "m", "messages": [{"content": "x"}]})),
            "messages[0].role"
        );
        assert_eq!(
            param_of(json!({"model": "m", "messages": [{"role": "user", "content": 5}]})),
            "messages[0].content"
        );
        assert_eq!(param_of(json!({"model": "m", "messages": msgs, "stream": "yes"})), "stream");
        assert_eq!(
            param_of(json!({"model": "m", "messages": msgs, "max_tokens": -1})),
            "max_tokens"
        );
        assert_eq!(
            param_of(
                json!({"model": "m", "messages": msgs, "stream_options": {"include_usage": 1}})
            ),
            "stream_options.include_usage"
        );
        assert_eq!(param_of(json!({"model": "m", "messages": msgs, "n": 0})), "n");
        assert_eq!(param_of(json!({"model": "m", "messages": msgs, "tools": {}})), "tools");
    }
}
