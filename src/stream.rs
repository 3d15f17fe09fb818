//! The SSE relay between a provider's stream and the client.
//!
//! Each upstream `data` payload becomes one `chat.completion.chunk` event as
//! soon as it arrives (no buffering of the answer). On the way the relay
//! taps usage and the generated text (for billing when the provider reports
//! no usage), drops the usage-only chunk and `usage` fields when the client
//! did not ask for them (Veil asks upstream anyway), turns a broken upstream
//! into an in-band error event, and always ends with `data: [DONE]`.
//! Whatever way the stream ends — completion, upstream failure, or the client
//! hanging up (the body is dropped) — `on_finish` runs exactly once with what
//! was seen.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{Map, Value, json};

use crate::billing::Usage;
use crate::error::ApiError;
use crate::redact::Redaction;
use crate::redact::restore::{Field, StreamRestorer, StreamRewriter, StreamScanner};
use crate::sse;
use crate::upstream::{EventStream, UpstreamError};

/// What the relay saw of a stream, handed to `on_finish`.
#[derive(Debug, Default, Clone)]
pub struct StreamOutcome {
    /// The provider's own usage report, if it sent one.
    pub usage: Option<Usage>,
    /// Generated content and tool-call argument text, for counting.
    pub text: String,
    /// Some choice reported a `finish_reason`.
    pub finish_seen: bool,
    /// The relay sent `[DONE]` after a normal end.
    pub completed: bool,
    /// The upstream broke mid-stream (an in-band error was sent).
    pub interrupted: bool,
    /// Chunks sent to the client.
    pub chunks: u64,
}

/// Options of one relay.
pub struct RelayOptions {
    /// The client asked for `stream_options.include_usage`.
    pub client_wants_usage: bool,
    /// What happens to the text deltas on the way.
    pub rewrite: Rewrite,
}

/// Rewriting of the answer's text deltas.
pub enum Rewrite {
    /// Relayed as they come.
    None,
    /// Placeholders restored (standard mode).
    Restore(StreamRestorer),
    /// Answer redacted (strict mode).
    Scan(Box<Redaction>),
}

impl Rewrite {
    fn into_rewriter(self) -> Option<Box<dyn StreamRewriter>> {
        match self {
            Rewrite::None => None,
            Rewrite::Restore(r) => Some(Box::new(r)),
            Rewrite::Scan(r) => Some(Box::new(StreamScanner::new(r))),
        }
    }
}

type FinishFn = Box<dyn FnOnce(StreamOutcome) + Send>;

/// Calls `on_finish` when dropped, so a client disconnect is seen too.
struct FinishGuard {
    outcome: StreamOutcome,
    on_finish: Option<FinishFn>,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        if let Some(f) = self.on_finish.take() {
            f(std::mem::take(&mut self.outcome));
        }
    }
}

enum Phase {
    Streaming,
    /// Release text the rewriter still holds, then `[DONE]`.
    Flush,
    SendDone,
    Ended,
}

struct Relay {
    first: Option<Bytes>,
    upstream: EventStream,
    client_wants_usage: bool,
    rewriter: Option<Box<dyn StreamRewriter>>,
    /// `id`, `created`, `model` of the last chunk, for chunks Veil adds.
    last_meta: Map<String, Value>,
    guard: FinishGuard,
    phase: Phase,
}

/// Relays `first` and then the rest of `upstream` as client-ready SSE bytes.
pub fn relay(
    first: Bytes,
    upstream: EventStream,
    options: RelayOptions,
    on_finish: impl FnOnce(StreamOutcome) + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let state = Relay {
        first: Some(first),
        upstream,
        client_wants_usage: options.client_wants_usage,
        rewriter: options.rewrite.into_rewriter(),
        last_meta: Map::new(),
        guard: FinishGuard {
            outcome: StreamOutcome::default(),
            on_finish: Some(Box::new(on_finish)),
        },
        phase: Phase::Streaming,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            match st.phase {
                Phase::Ended => return None,
                Phase::SendDone => {
                    st.phase = Phase::Ended;
                    return Some((Ok(Bytes::from_static(sse::DONE)), st));
                }
                Phase::Flush => {
                    st.phase = Phase::SendDone;
                    match st.flush() {
                        Ok(Some(out)) => return Some((Ok(out), st)),
                        Ok(None) => continue,
                        Err(err) => return Some((Ok(in_band(&err)), st)),
                    }
                }
                Phase::Streaming => {}
            }
            let next = match st.first.take() {
                Some(first) => Some(Ok(first)),
                None => st.upstream.next().await,
            };
            match next {
                Some(Ok(payload)) => match st.process(&payload) {
                    Ok(Some(out)) => {
                        st.guard.outcome.chunks += 1;
                        return Some((Ok(out), st));
                    }
                    Ok(None) => {}
                    Err(err) => {
                        // Strict mode could not scan the answer: stop here.
                        st.guard.outcome.interrupted = true;
                        st.phase = Phase::SendDone;
                        return Some((Ok(in_band(&err)), st));
                    }
                },
                Some(Err(UpstreamError::Truncated)) if st.guard.outcome.finish_seen => {
                    // Ended without `[DONE]` but after the final chunk: complete.
                    st.guard.outcome.completed = true;
                    st.phase = Phase::Flush;
                }
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "upstream stream broke after the first byte");
                    st.guard.outcome.interrupted = true;
                    st.phase = Phase::SendDone;
                    return Some((Ok(in_band_error()), st));
                }
                None => {
                    st.guard.outcome.completed = true;
                    st.phase = Phase::Flush;
                }
            }
        }
    })
}

fn in_band(err: &ApiError) -> Bytes {
    sse::encode_data(err.openai_body().to_string().as_bytes())
}

impl Relay {
    /// One upstream payload → the bytes to send, or `None` to drop it.
    fn process(&mut self, payload: &Bytes) -> Result<Option<Bytes>, ApiError> {
        let Ok(Value::Object(mut chunk)) = serde_json::from_slice::<Value>(payload) else {
            return Ok(Some(sse::encode_data(payload)));
        };
        tap(&chunk, &mut self.guard.outcome);
        let mut modified = false;
        if !self.client_wants_usage && chunk.contains_key("usage") {
            let usage_only =
                chunk.get("choices").and_then(Value::as_array).is_some_and(Vec::is_empty);
            if usage_only {
                return Ok(None);
            }
            chunk.remove("usage");
            modified = true;
        }
        if let Some(rewriter) = self.rewriter.as_mut() {
            for key in ["id", "object", "created", "model", "system_fingerprint"] {
                if let Some(v) = chunk.get(key) {
                    self.last_meta.insert(key.into(), v.clone());
                }
            }
            rewrite_chunk(&mut chunk, rewriter.as_mut())?;
            modified = true;
        }
        if !modified {
            return Ok(Some(sse::encode_data(payload)));
        }
        Ok(Some(sse::encode_data(&serde_json::to_vec(&chunk).unwrap_or_default())))
    }

    /// A last chunk with whatever the rewriter still holds.
    fn flush(&mut self) -> Result<Option<Bytes>, ApiError> {
        let Some(rewriter) = self.rewriter.as_mut() else { return Ok(None) };
        let mut choices = Vec::new();
        for index in rewriter.pending_choices() {
            let mut delta = Map::new();
            add_released(&mut delta, rewriter.flush_choice(index)?);
            choices.push(json!({"index": index, "delta": delta, "finish_reason": null}));
        }
        if choices.is_empty() {
            return Ok(None);
        }
        let mut chunk = self.last_meta.clone();
        chunk.insert("object".into(), json!("chat.completion.chunk"));
        chunk.insert("choices".into(), Value::Array(choices));
        Ok(Some(sse::encode_data(&serde_json::to_vec(&chunk).unwrap_or_default())))
    }
}

/// Rewrites the text deltas of one chunk; a choice that finishes gets
/// everything still held for it.
fn rewrite_chunk(
    chunk: &mut Map<String, Value>,
    rewriter: &mut dyn StreamRewriter,
) -> Result<(), ApiError> {
    let Some(Value::Array(choices)) = chunk.get_mut("choices") else { return Ok(()) };
    for choice in choices {
        let Some(choice) = choice.as_object_mut() else { continue };
        let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
        let finishing = choice.get("finish_reason").is_some_and(|f| !f.is_null());
        let Some(Value::Object(delta)) = choice.get_mut("delta") else { continue };
        if let Some(Value::String(content)) = delta.get_mut("content") {
            *content = rewriter.push(index, Field::Content, content)?;
        }
        if let Some(Value::Array(calls)) = delta.get_mut("tool_calls") {
            for call in calls {
                let call_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                    *args = rewriter.push(index, Field::ToolArguments(call_index), args)?;
                }
            }
        }
        if finishing {
            add_released(delta, rewriter.flush_choice(index)?);
        }
    }
    Ok(())
}

/// Appends released text to a delta's content and tool-call arguments.
fn add_released(delta: &mut Map<String, Value>, released: Vec<(Field, String)>) {
    for (field, text) in released {
        match field {
            Field::Content => {
                let mut content =
                    delta.get("content").and_then(Value::as_str).unwrap_or("").to_owned();
                content.push_str(&text);
                delta.insert("content".into(), Value::String(content));
            }
            Field::ToolArguments(i) => {
                let calls = delta.entry("tool_calls").or_insert_with(|| Value::Array(Vec::new()));
                let Some(calls) = calls.as_array_mut() else { continue };
                let existing =
                    calls.iter_mut().find(|c| c.get("index").and_then(Value::as_u64) == Some(i));
                match existing.and_then(|c| c.pointer_mut("/function/arguments")) {
                    Some(Value::String(args)) => args.push_str(&text),
                    _ => calls.push(json!({"index": i, "function": {"arguments": text}})),
                }
            }
        }
    }
}

/// The error event sent when the upstream breaks mid-stream.
pub fn in_band_error() -> Bytes {
    let body = json!({"error": {
        "message": "The upstream provider's stream was interrupted.",
        "type": "api_error", "param": null, "code": "upstream_error"}});
    sse::encode_data(body.to_string().as_bytes())
}

fn tap(chunk: &serde_json::Map<String, Value>, outcome: &mut StreamOutcome) {
    if let Some(usage) = chunk.get("usage").and_then(parse_usage) {
        outcome.usage = Some(usage);
    }
    for choice in chunk.get("choices").and_then(Value::as_array).into_iter().flatten() {
        if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
            outcome.finish_seen = true;
        }
        let Some(delta) = choice.get("delta") else { continue };
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            outcome.text.push_str(text);
        }
        for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
                outcome.text.push_str(args);
            }
        }
    }
}

/// Reads an OpenAI `usage` object.
pub fn parse_usage(usage: &Value) -> Option<Usage> {
    Some(Usage {
        prompt_tokens: usage.get("prompt_tokens")?.as_u64()?,
        completion_tokens: usage.get("completion_tokens")?.as_u64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn upstream(items: Vec<Result<&'static str, UpstreamError>>) -> EventStream {
        Box::pin(futures_util::stream::iter(
            items
                .into_iter()
                .map(|i| i.map(|s| Bytes::from_static(s.as_bytes())))
                .collect::<Vec<_>>(),
        ))
    }

    async fn run(
        items: Vec<Result<&'static str, UpstreamError>>,
        wants_usage: bool,
    ) -> (String, StreamOutcome) {
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let mut rest = upstream(items);
        let first = rest.next().await.unwrap().unwrap();
        let body: Vec<Bytes> = relay(
            first,
            rest,
            RelayOptions { client_wants_usage: wants_usage, rewrite: Rewrite::None },
            move |o| {
                *sink.lock().unwrap() = Some(o);
            },
        )
        .map(|b| b.unwrap())
        .collect()
        .await;
        let text = String::from_utf8(body.concat()).unwrap();
        let outcome = seen.lock().unwrap().take().unwrap();
        (text, outcome)
    }

    const A: &str =
        r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}"#;
    const B: &str =
        r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":null}"#;
    const U: &str =
        r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;

    #[tokio::test]
    async fn usage_is_relayed_when_asked_and_tapped_always() {
        let (text, outcome) = run(vec![Ok(A), Ok(B), Ok(U)], true).await;
        assert_eq!(text.matches("data: ").count(), 4);
        assert!(text.contains("\"prompt_tokens\":5"));
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(outcome.usage, Some(Usage { prompt_tokens: 5, completion_tokens: 2 }));
        assert!(outcome.completed && !outcome.interrupted);
        assert_eq!(outcome.text, "Hello");

        let (text, outcome) = run(vec![Ok(A), Ok(B), Ok(U)], false).await;
        assert_eq!(text.matches("data: ").count(), 3);
        assert!(!text.contains("usage"));
        assert_eq!(outcome.usage.map(|u| u.total()), Some(7));
    }

    #[tokio::test]
    async fn a_broken_upstream_ends_with_an_error_event_and_done() {
        let (text, outcome) =
            run(vec![Ok(A), Err(UpstreamError::Interrupted("reset".into()))], true).await;
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3);
        assert!(events[1].contains("\"code\":\"upstream_error\""));
        assert_eq!(events[2], "data: [DONE]");
        assert!(outcome.interrupted && !outcome.completed);
        assert_eq!(outcome.text, "Hel");
    }

    #[tokio::test]
    async fn missing_done_after_the_final_chunk_is_a_normal_end() {
        let (text, outcome) = run(vec![Ok(A), Ok(B), Err(UpstreamError::Truncated)], true).await;
        assert!(!text.contains("error"));
        assert!(outcome.completed);
        let (text, outcome) = run(vec![Ok(A), Err(UpstreamError::Truncated)], true).await;
        assert!(text.contains("upstream_error"));
        assert!(outcome.interrupted);
    }

    #[tokio::test]
    async fn dropping_the_relay_reports_what_was_sent() {
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let mut rest = upstream(vec![Ok(A), Ok(B), Ok(U)]);
        let first = rest.next().await.unwrap().unwrap();
        let mut stream = Box::pin(relay(
            first,
            rest,
            RelayOptions { client_wants_usage: true, rewrite: Rewrite::None },
            move |o| {
                *sink.lock().unwrap() = Some(o);
            },
        ));
        stream.next().await.unwrap().unwrap();
        drop(stream);
        let outcome = seen.lock().unwrap().take().unwrap();
        assert!(!outcome.completed);
        assert_eq!(outcome.chunks, 1);
        assert_eq!(outcome.text, "Hel");
    }
}
