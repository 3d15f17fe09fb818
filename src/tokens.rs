//! Token counting with tiktoken: o200k_base for gpt-4o / gpt-4.1 / o-series /
//! gpt-5 names, cl100k_base for everything else (DESIGN §5). Used when the
//! provider reports no usage, for holds, and by the echo provider.

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// Tokens added per message by OpenAI's chat format.
const PER_MESSAGE: u64 = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: u64 = 3;
/// What an image part is counted as before a provider reports real usage.
const IMAGE_PART: u64 = 85;

/// The encoding a model name uses.
pub fn encoding_for(model: &str) -> &'static CoreBPE {
    let m = model.to_ascii_lowercase();
    let m = m.rsplit('/').next().unwrap_or(&m);
    let o200k = ["gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "o1", "o3", "o4"]
        .iter()
        .any(|p| m.starts_with(p));
    if o200k { tiktoken_rs::o200k_base_singleton() } else { tiktoken_rs::cl100k_base_singleton() }
}

/// Loads both encodings now, so the first request does not pay for it.
pub fn warm_up() {
    let _ = tiktoken_rs::o200k_base_singleton();
    let _ = tiktoken_rs::cl100k_base_singleton();
}

/// Tokens of a plain text.
pub fn count_text(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    encoding_for(model).encode_ordinary(text).len() as u64
}

/// Prompt tokens of a chat request: messages (text parts, names, tool calls)
/// and tool definitions, in OpenAI's accounting.
pub fn count_prompt(model: &str, request: &serde_json::Map<String, Value>) -> u64 {
    let bpe = encoding_for(model);
    let count = |s: &str| if s.is_empty() { 0 } else { bpe.encode_ordinary(s).len() as u64 };
    let mut total = REPLY_PRIMING;
    for message in request.get("messages").and_then(Value::as_array).into_iter().flatten() {
        total += PER_MESSAGE;
        total += message.get("role").and_then(Value::as_str).map_or(0, count);
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            total += count(name) + 1;
        }
        total += content_tokens(message.get("content"), &count);
        for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            let function = call.get("function");
            for field in ["name", "arguments"] {
                total +=
                    function.and_then(|f| f.get(field)).and_then(Value::as_str).map_or(0, count);
            }
        }
    }
    if let Some(tools) = request.get("tools").filter(|t| !t.is_null()) {
        total += count(&tools.to_string());
    }
    total
}

fn content_tokens(content: Option<&Value>, count: &dyn Fn(&str) -> u64) -> u64 {
    match content {
        Some(Value::String(s)) => count(s),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => part.get("text").and_then(Value::as_str).map_or(0, count),
                Some("image_url") => IMAGE_PART,
                _ => part.get("text").and_then(Value::as_str).map_or(0, count),
            })
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_names_pick_their_encoding() {
        let o200k = tiktoken_rs::o200k_base_singleton() as *const CoreBPE;
        let cl100k = tiktoken_rs::cl100k_base_singleton() as *const CoreBPE;
        assert_eq!(encoding_for("gpt-4o-mini") as *const CoreBPE, o200k);
        assert_eq!(encoding_for("openai/gpt-5") as *const CoreBPE, o200k);
        assert_eq!(encoding_for("o3-mini") as *const CoreBPE, o200k);
        assert_eq!(encoding_for("gpt-3.5-turbo") as *const CoreBPE, cl100k);
        assert_eq!(encoding_for("llama-3") as *const CoreBPE, cl100k);
    }

    #[test]
    fn counts_match_known_values() {
        // "hello world" is two tokens in both encodings.
        assert_eq!(count_text("gpt-4o", "hello world"), 2);
        assert_eq!(count_text("gpt-3.5-turbo", "hello world"), 2);
        assert_eq!(count_text("gpt-4o", ""), 0);
    }

    #[test]
    fn prompt_count_follows_the_chat_format() {
        let request = json!({"messages": [{"role": "user", "content": "hello world"}]});
        // 3 (priming) + 3 (message) + 1 (role) + 2 (content)
        assert_eq!(count_prompt("gpt-4o", request.as_object().unwrap()), 9);
        let parts = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "hello world"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        ]}]});
        assert_eq!(count_prompt("gpt-4o", parts.as_object().unwrap()), 9 + IMAGE_PART);
    }
}
