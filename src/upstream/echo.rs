//! The built-in `echo` provider: deterministic, offline, streams.
//!
//! It answers with `You said: <last user text>`. When the request offers
//! tools (and `tool_choice` is not `"none"`) and the last message is the
//! user's, it calls the first function tool instead, with the user's text in
//! the tool's first string parameter; after a `tool` message it answers
//! `Tool result: <content>`. `max_tokens` / `max_completion_tokens` cut the
//! answer (finish reason `length`). Usage is counted with tiktoken. One
//! choice is returned whatever `n` asks.

use bytes::Bytes;
use serde_json::{Value, json};

use super::EventStream;
use crate::tokens;

pub struct EchoProvider;

/// Words per streamed chunk.
const WORDS_PER_CHUNK: usize = 3;

enum Reply {
    Text { text: String, truncated: bool },
    ToolCall { name: String, arguments: String },
}

impl EchoProvider {
    pub fn complete(&self, request: &Value) -> Value {
        let model = model_of(request);
        let (message, finish, completion_tokens) = match reply(request) {
            Reply::Text { text, truncated } => {
                let tokens = tokens::count_text(&model, &text);
                let finish = if truncated { "length" } else { "stop" };
                (json!({"role": "assistant", "content": text, "refusal": null}), finish, tokens)
            }
            Reply::ToolCall { name, arguments } => {
                let tokens =
                    tokens::count_text(&model, &name) + tokens::count_text(&model, &arguments);
                let call = json!({"id": call_id(), "type": "function",
                                  "function": {"name": name, "arguments": arguments}});
                (
                    json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                    "tool_calls",
                    tokens,
                )
            }
        };
        json!({
            "id": completion_id(),
            "object": "chat.completion",
            "created": chrono::Utc::now().timestamp(),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage(request, &model, completion_tokens),
        })
    }

    pub fn stream(&self, request: &Value) -> EventStream {
        let model = model_of(request);
        let id = completion_id();
        let created = chrono::Utc::now().timestamp();
        let chunk = |delta: Value, finish: Value| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        };
        let mut chunks = Vec::new();
        let (finish, completion_tokens) = match reply(request) {
            Reply::Text { text, truncated } => {
                chunks.push(chunk(json!({"role": "assistant", "content": ""}), Value::Null));
                for piece in split_words(&text, WORDS_PER_CHUNK) {
                    chunks.push(chunk(json!({"content": piece}), Value::Null));
                }
                (if truncated { "length" } else { "stop" }, tokens::count_text(&model, &text))
            }
            Reply::ToolCall { name, arguments } => {
                let tokens =
                    tokens::count_text(&model, &name) + tokens::count_text(&model, &arguments);
                let first = json!({"role": "assistant", "content": null, "tool_calls": [{
                    "index": 0, "id": call_id(), "type": "function",
                    "function": {"name": name, "arguments": ""}}]});
                chunks.push(chunk(first, Value::Null));
                for piece in split_chars(&arguments, 8) {
                    let delta =
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]});
                    chunks.push(chunk(delta, Value::Null));
                }
                ("tool_calls", tokens)
            }
        };
        chunks.push(chunk(json!({}), json!(finish)));
        let wants_usage = request
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if wants_usage {
            chunks.push(json!({"id": id, "object": "chat.completion.chunk", "created": created,
                               "model": model, "choices": [],
                               "usage": usage(request, &model, completion_tokens)}));
        }
        let events: Vec<_> = chunks.into_iter().map(|c| Ok(Bytes::from(c.to_string()))).collect();
        Box::pin(futures_util::stream::iter(events))
    }
}

fn model_of(request: &Value) -> String {
    request.get("model").and_then(Value::as_str).unwrap_or("echo").to_owned()
}

fn completion_id() -> String {
    format!("chatcmpl-{}", crate::ids::base62(24))
}

fn call_id() -> String {
    format!("call_{}", crate::ids::base62(24))
}

fn usage(request: &Value, model: &str, completion_tokens: u64) -> Value {
    let prompt_tokens = request.as_object().map_or(0, |r| tokens::count_prompt(model, r));
    json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
           "total_tokens": prompt_tokens + completion_tokens})
}

/// The text of a message's content (string, or the text parts joined).
fn content_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn reply(request: &Value) -> Reply {
    let messages = request.get("messages").and_then(Value::as_array);
    let last = messages.and_then(|m| m.last());
    let role = last.and_then(|m| m.get("role")).and_then(Value::as_str).unwrap_or("");
    let text = last.map(content_text).unwrap_or_default();
    if role == "tool" {
        return limited(request, format!("Tool result: {text}"));
    }
    let tools_allowed = request.get("tool_choice").and_then(Value::as_str) != Some("none");
    let tool = request
        .get("tools")
        .and_then(Value::as_array)
        .and_then(|tools| {
            tools.iter().find(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        })
        .and_then(|t| t.get("function"));
    if let (Some(function), true, "user") = (tool, tools_allowed, role) {
        let name = function.get("name").and_then(Value::as_str).unwrap_or("tool").to_owned();
        let param = first_string_parameter(function.get("parameters")).unwrap_or("input".into());
        let arguments = json!({ param: text }).to_string();
        return Reply::ToolCall { name, arguments };
    }
    let answer = if text.trim().is_empty() {
        "Hello from the echo model.".to_owned()
    } else {
        format!("You said: {text}")
    };
    limited(request, answer)
}

fn first_string_parameter(schema: Option<&Value>) -> Option<String> {
    let properties = schema?.get("properties")?.as_object()?;
    let required = schema?.get("required").and_then(Value::as_array);
    let is_string = |name: &str| {
        properties.get(name).and_then(|p| p.get("type")).and_then(Value::as_str) == Some("string")
    };
    required
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|name| is_string(name))
        .or_else(|| properties.keys().map(String::as_str).find(|name| is_string(name)))
        .map(str::to_owned)
}

/// Cuts the answer to the request's output-token limit.
fn limited(request: &Value, text: String) -> Reply {
    let limit = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| request.get(*k).and_then(Value::as_u64));
    let Some(limit) = limit else {
        return Reply::Text { text, truncated: false };
    };
    let bpe = tokens::encoding_for(&model_of(request));
    let ids = bpe.encode_ordinary(&text);
    if ids.len() as u64 <= limit {
        return Reply::Text { text, truncated: false };
    }
    let cut: Vec<_> = ids.into_iter().take(limit as usize).collect();
    let text = bpe.decode(cut).unwrap_or_default();
    Reply::Text { text, truncated: true }
}

/// Pieces of `n` words, each keeping its trailing whitespace, so that the
/// pieces concatenate to the text.
fn split_words(text: &str, n: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    let mut in_space = false;
    for c in text.chars() {
        let space = c.is_whitespace();
        if in_space && !space {
            words += 1;
            if words == n {
                pieces.push(std::mem::take(&mut current));
                words = 0;
            }
        }
        in_space = space;
        current.push(c);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

fn split_chars(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn answers_deterministically_with_usage() {
        let req = json!({"model": "echo", "messages": [{"role": "user", "content": "hi there"}]});
        let a = EchoProvider.complete(&req);
        let b = EchoProvider.complete(&req);
        assert_eq!(a["choices"][0]["message"]["content"], "You said: hi there");
        assert_eq!(a["choices"], b["choices"]);
        assert_eq!(
            a["usage"]["completion_tokens"],
            tokens::count_text("echo", "You said: hi there")
        );
    }

    #[tokio::test]
    async fn streams_in_several_chunks_that_add_up() {
        let req = json!({"model": "echo", "stream": true,
                         "stream_options": {"include_usage": true},
                         "messages": [{"role": "user", "content": "one two three four five six seven"}]});
        let events: Vec<Value> = EchoProvider
            .stream(&req)
            .map(|e| serde_json::from_slice(&e.unwrap()).unwrap())
            .collect()
            .await;
        assert!(events.len() > 4);
        let text: String = events
            .iter()
            .filter_map(|e| e.pointer("/choices/0/delta/content").and_then(Value::as_str))
            .collect();
        assert_eq!(text, "You said: one two three four five six seven");
        let last = events.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0);
    }

    #[test]
    fn calls_the_offered_tool_then_reports_its_result() {
        let tools = json!([{"type": "function", "function": {"name": "lookup",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                           "required": ["query"]}}}]);
        let req = json!({"model": "echo", "tools": tools,
                         "messages": [{"role": "user", "content": "weather in Oslo"}]});
        let out = EchoProvider.complete(&req);
        let call = &out["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "lookup");
        assert_eq!(call["function"]["arguments"], r#"{"query":"weather in Oslo"}"#);
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        let follow = json!({"model": "echo", "tools": tools, "messages": [
            {"role": "user", "content": "weather in Oslo"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]});
        let out = EchoProvider.complete(&follow);
        assert_eq!(out["choices"][0]["message"]["content"], "Tool result: sunny");
    }

    #[test]
    fn max_tokens_cuts_the_answer() {
        let req = json!({"model": "echo", "max_tokens": 2,
                         "messages": [{"role": "user", "content": "a long sentence to repeat"}]});
        let out = EchoProvider.complete(&req);
        assert_eq!(out["choices"][0]["finish_reason"], "length");
        assert_eq!(out["usage"]["completion_tokens"], 2);
    }

    #[test]
    fn word_split_keeps_every_character() {
        let text = "  a b  c d\ne f ";
        assert_eq!(split_words(text, 2).concat(), text);
        assert_eq!(split_chars("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }
}
