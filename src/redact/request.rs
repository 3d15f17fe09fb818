//! Chat requests and answers: which strings are text to redact (DESIGN §5),
//! Veil's extension fields, and restoration of a non-streamed answer.

use serde_json::{Map, Value};

use super::document::PdfOptions;
use super::entity::{Entity, EntitySet};
#[cfg(test)]
use super::pipeline::Operator;
use super::pipeline::TextConfig;
use super::restore::Restorer;
use crate::error::ApiError;
use crate::media::ImageOptions;

/// Veil's own request fields (DESIGN §5), never forwarded.
pub const EXTENSION_FIELDS: &[&str] = &[
    "piiEntities",
    "pii_entities",
    "piiConfig",
    "pii_config",
    "privacyMode",
    "privacy_mode",
    "skip_pii_redaction",
    "skipPiiRedaction",
    "no_pii_redaction",
    "noPiiRedaction",
    "urls",
    "pdfs",
];

/// `privacyMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrivacyMode {
    /// Placeholders restored in the answer.
    #[default]
    Standard,
    /// Irreversible: nothing restored, the answer is redacted too.
    Strict,
}

/// Veil's per-request options, read from the extension fields.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub text: TextConfig,
    pub image: ImageOptions,
    pub pdf: PdfOptions,
    pub mode: PrivacyMode,
    pub skip: bool,
}

/// A deployment's defaults of the per-request options.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub text: TextConfig,
    pub image: ImageOptions,
    /// Its `max_pages` is also the most a request may ask for.
    pub pdf: PdfOptions,
}

fn field<'a>(
    body: &'a Map<String, Value>,
    names: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    names.iter().find_map(|n| body.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)))
}

impl Options {
    /// Reads `piiEntities`, `piiConfig`, `privacyMode` and the skip flags
    /// (each under all its aliases) on top of the deployment's defaults.
    pub fn parse(body: &Map<String, Value>, defaults: &Defaults) -> Result<Self, ApiError> {
        let mut text = defaults.text.clone();
        let mut image = defaults.image.clone();
        let mut pdf = defaults.pdf.clone();
        if let Some((name, v)) = field(body, &["piiEntities", "pii_entities"]) {
            let list = v.as_array().ok_or_else(|| {
                ApiError::validation(name, format!("`{name}` must be an array of entity names."))
            })?;
            let mut set = EntitySet::empty();
            for (i, item) in list.iter().enumerate() {
                let entity = item.as_str().and_then(Entity::parse).ok_or_else(|| {
                    ApiError::validation(
                        format!("{name}[{i}]"),
                        format!(
                            "Unknown entity type; use one of {}.",
                            Entity::ALL.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?;
                set.insert(entity);
            }
            text.entities = set;
        }
        if let Some((name, v)) = field(body, &["piiConfig", "pii_config"]) {
            let config = v.as_object().ok_or_else(|| {
                ApiError::validation(name, format!("`{name}` must be an object."))
            })?;
            if let Some(t) = config.get("text").filter(|t| !t.is_null()) {
                apply_text_config(&mut text, t, &format!("{name}.text"))?;
            }
            if let Some(i) = config.get("image").filter(|i| !i.is_null()) {
                image.apply(i, &format!("{name}.image"))?;
            }
            if let Some(p) = config.get("pdf").filter(|p| !p.is_null()) {
                pdf.apply(p, &format!("{name}.pdf"), defaults.pdf.max_pages)?;
            }
        }
        let mode = match field(body, &["privacyMode", "privacy_mode"]) {
            None => PrivacyMode::Standard,
            Some((_, Value::String(s))) if s == "standard" => PrivacyMode::Standard,
            Some((_, Value::String(s))) if s == "strict" => PrivacyMode::Strict,
            Some((name, _)) => {
                return Err(ApiError::validation(
                    name,
                    format!("`{name}` must be \"standard\" or \"strict\"."),
                ));
            }
        };
        let skip = match field(
            body,
            &["skip_pii_redaction", "skipPiiRedaction", "no_pii_redaction", "noPiiRedaction"],
        ) {
            None => false,
            Some((_, Value::Bool(b))) => *b,
            Some((name, _)) => {
                return Err(ApiError::validation(name, format!("`{name}` must be a boolean.")));
            }
        };
        Ok(Self { text, image, pdf, mode, skip })
    }
}

/// A `piiConfig` section as an object, or a 400 naming it.
pub(crate) fn section<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| ApiError::validation(path, format!("`{path}` must be an object.")))
}

/// A number from 0 to 1, or a 400 naming `param`.
pub(crate) fn fraction(value: &Value, param: &str) -> Result<f32, ApiError> {
    value.as_f64().filter(|t| (0.0..=1.0).contains(t)).map(|t| t as f32).ok_or_else(|| {
        ApiError::validation(param, format!("`{param}` must be a number from 0 to 1."))
    })
}

fn apply_text_config(text: &mut TextConfig, v: &Value, path: &str) -> Result<(), ApiError> {
    let obj = section(v, path)?;
    for (key, value) in obj {
        let param = format!("{path}.{key}");
        match key.as_str() {
            "threshold" => text.threshold = fraction(value, &param)?,
            "operator" => {
                text.operator = serde_json::from_value(value.clone()).map_err(|_| {
                    ApiError::validation(
                        &param,
                        format!("`{param}` must be one of placeholder, mask, hash, remove."),
                    )
                })?;
            }
            "allow" | "deny" => {
                let list: Vec<String> = value
                    .as_array()
                    .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect())
                    .ok_or_else(|| {
                        ApiError::validation(
                            &param,
                            format!("`{param}` must be an array of strings."),
                        )
                    })?;
                if key == "allow" {
                    text.allow = list;
                } else {
                    text.deny = list;
                }
            }
            _ => {
                return Err(ApiError::validation(
                    &param,
                    format!(
                        "Unknown field `{param}`; expected threshold, operator, allow or deny."
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Calls `visit` on every text of a chat request, in the order placeholders
/// are numbered: messages in order (content, then tool-call arguments),
/// then tool definitions. Tool-call arguments are JSON: their string
/// values are visited one by one and the arguments re-serialized.
/// Image parts are left to [`visit_images`]; file parts must have been
/// made text before ([`super::document::expand`]); other parts that are
/// not text (audio) are refused here: Veil cannot redact them, and never
/// forwards them unredacted.
pub fn visit_texts(
    body: &mut Map<String, Value>,
    visit: &mut dyn FnMut(&str, &mut String) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        for (i, message) in messages.iter_mut().enumerate() {
            let Some(message) = message.as_object_mut() else { continue };
            match message.get_mut("content") {
                Some(Value::String(s)) => visit(&format!("messages[{i}].content"), s)?,
                Some(Value::Array(parts)) => {
                    for (j, part) in parts.iter_mut().enumerate() {
                        visit_part(part, &format!("messages[{i}].content[{j}]"), visit)?;
                    }
                }
                _ => {}
            }
            if let Some(Value::String(s)) = message.get_mut("refusal") {
                visit(&format!("messages[{i}].refusal"), s)?;
            }
            if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
                for (k, call) in calls.iter_mut().enumerate() {
                    if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                        visit_json_text(
                            &format!("messages[{i}].tool_calls[{k}].function.arguments"),
                            args,
                            visit,
                        )?;
                    }
                }
            }
            if let Some(Value::String(args)) =
                message.get_mut("function_call").and_then(|f| f.get_mut("arguments"))
            {
                visit_json_text(&format!("messages[{i}].function_call.arguments"), args, visit)?;
            }
        }
    }
    for key in ["tools", "functions"] {
        if let Some(Value::Array(tools)) = body.get_mut(key) {
            for (t, tool) in tools.iter_mut().enumerate() {
                let (function, path) = if key == "tools" {
                    (tool.get_mut("function"), format!("tools[{t}].function"))
                } else {
                    (Some(tool), format!("functions[{t}]"))
                };
                if let Some(Value::Object(function)) = function {
                    if let Some(Value::String(d)) = function.get_mut("description") {
                        visit(&format!("{path}.description"), d)?;
                    }
                    if let Some(params) = function.get_mut("parameters") {
                        visit_descriptions(&format!("{path}.parameters"), params, visit)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Calls `visit` on the URL of every `image_url` part of a chat request
/// (`image_url.url`, or `image_url` itself when a client sends a string).
/// A part without a URL is refused.
pub fn visit_images(
    body: &mut Map<String, Value>,
    visit: &mut dyn FnMut(&str, &mut String) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let Some(Value::Array(messages)) = body.get_mut("messages") else { return Ok(()) };
    for (i, message) in messages.iter_mut().enumerate() {
        let Some(Value::Array(parts)) = message.get_mut("content") else { continue };
        for (j, part) in parts.iter_mut().enumerate() {
            if part.get("type").and_then(Value::as_str) != Some("image_url") {
                continue;
            }
            let path = format!("messages[{i}].content[{j}].image_url");
            let url = match part.get_mut("image_url") {
                Some(Value::String(url)) => url,
                Some(Value::Object(image)) => match image.get_mut("url") {
                    Some(Value::String(url)) => url,
                    _ => {
                        return Err(ApiError::validation(
                            format!("{path}.url"),
                            "An image part needs `image_url.url`: a data: URL or an http(s) URL.",
                        ));
                    }
                },
                _ => {
                    return Err(ApiError::validation(
                        path,
                        "An image part needs `image_url` with a `url`.",
                    ));
                }
            };
            visit(&path, url)?;
        }
    }
    Ok(())
}

/// Calls `visit` on every `file` part of a chat request (the whole part,
/// which the caller replaces).
pub fn visit_files(
    body: &mut Map<String, Value>,
    visit: &mut dyn FnMut(&str, &mut Value) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let Some(Value::Array(messages)) = body.get_mut("messages") else { return Ok(()) };
    for (i, message) in messages.iter_mut().enumerate() {
        let Some(Value::Array(parts)) = message.get_mut("content") else { continue };
        for (j, part) in parts.iter_mut().enumerate() {
            if part.get("type").and_then(Value::as_str) == Some("file") {
                visit(&format!("messages[{i}].content[{j}]"), part)?;
            }
        }
    }
    Ok(())
}

fn visit_part(
    part: &mut Value,
    path: &str,
    visit: &mut dyn FnMut(&str, &mut String) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" | "input_text" => {
            if let Some(Value::String(s)) = part.get_mut("text") {
                visit(&format!("{path}.text"), s)?;
            }
            Ok(())
        }
        "refusal" => {
            if let Some(Value::String(s)) = part.get_mut("refusal") {
                visit(&format!("{path}.refusal"), s)?;
            }
            Ok(())
        }
        // Redacted by `visit_images`' caller.
        "image_url" => Ok(()),
        other => Err(ApiError::validation(
            format!("{path}.type"),
            format!(
                "Content parts of type `{other}` cannot be redacted by this server yet, so the request was not forwarded. Send text, or set skip_pii_redaction."
            ),
        )),
    }
}

/// JSON Schema `description`s, at any depth.
fn visit_descriptions(
    path: &str,
    schema: &mut Value,
    visit: &mut dyn FnMut(&str, &mut String) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let here = format!("{path}.{key}");
                match value {
                    Value::String(s) if key == "description" => visit(&here, s)?,
                    other => visit_descriptions(&here, other, visit)?,
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                visit_descriptions(&format!("{path}[{i}]"), item, visit)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Arguments are a JSON text: redact its string values (keys stay, so the
/// schema still holds). Arguments that do not parse are redacted as text.
fn visit_json_text(
    path: &str,
    args: &mut String,
    visit: &mut dyn FnMut(&str, &mut String) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    match serde_json::from_str::<Value>(args) {
        Ok(mut value) => {
            visit_strings(&format!("{path}#"), &mut value, visit)?;
            *args = serde_json::to_string(&value).map_err(ApiError::internal)?;
            Ok(())
        }
        Err(_) => visit(path, args),
    }
}

/// String values of a JSON document; `path` ends in a JSON pointer.
fn visit_strings(
    path: &str,
    value: &mut Value,
    visit: &mut dyn FnMut(&str, &mut String) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    match value {
        Value::String(s) => visit(path, s),
        Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(i, v)| visit_strings(&format!("{path}/{i}"), v, visit)),
        Value::Object(map) => map.iter_mut().try_for_each(|(k, v)| {
            let key = k.replace('~', "~0").replace('/', "~1");
            visit_strings(&format!("{path}/{key}"), v, visit)
        }),
        _ => Ok(()),
    }
}

/// Restores a non-streamed `chat.completion` in place; returns whether
/// anything changed.
pub fn restore_answer(answer: &mut Value, restorer: &Restorer) -> bool {
    let mut changed = false;
    let Some(choices) = answer.get_mut("choices").and_then(Value::as_array_mut) else {
        return false;
    };
    for choice in choices {
        let Some(message) = choice.get_mut("message") else { continue };
        if let Some(Value::String(content)) = message.get_mut("content")
            && let std::borrow::Cow::Owned(restored) = restorer.restore(content)
        {
            *content = restored;
            changed = true;
        }
        let mut args: Vec<&mut Value> = Vec::new();
        if message.get("tool_calls").is_some_and(Value::is_array) {
            if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
                args.extend(calls.iter_mut().filter_map(|c| c.pointer_mut("/function/arguments")));
            }
        } else if let Some(a) = message.pointer_mut("/function_call/arguments") {
            args.push(a);
        }
        for a in args {
            if let Value::String(s) = a
                && let std::borrow::Cow::Owned(restored) = restorer.restore_json(s)
            {
                *s = restored;
                changed = true;
            }
        }
    }
    changed
}

/// Every text of a non-streamed answer (for strict mode's scan).
pub fn answer_texts(answer: &mut Value, visit: &mut dyn FnMut(&mut String)) {
    let Some(choices) = answer.get_mut("choices").and_then(Value::as_array_mut) else { return };
    for choice in choices {
        let Some(message) = choice.get_mut("message") else { continue };
        if let Some(Value::String(content)) = message.get_mut("content") {
            visit(content);
        }
        if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
            for call in calls {
                if let Some(Value::String(a)) = call.pointer_mut("/function/arguments") {
                    visit(a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visits_every_text_in_order() {
        let mut body = json!({
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": [{"type": "text", "text": "part"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"to\":\"arg\",\"n\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "result"}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "description": "desc",
                "parameters": {"type": "object", "properties": {"to": {"type": "string", "description": "param"}}}}}]
        });
        let mut seen = Vec::new();
        let mut paths = Vec::new();
        visit_texts(body.as_object_mut().unwrap(), &mut |path, s| {
            seen.push(s.clone());
            paths.push(path.to_owned());
            *s = s.to_uppercase();
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["sys", "part", "arg", "result", "desc", "param"]);
        assert_eq!(paths[1], "messages[1].content[0].text");
        assert_eq!(paths[2], "messages[2].tool_calls[0].function.arguments#/to");
        assert_eq!(paths[5], "tools[0].function.parameters.properties.to.description");
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"to\":\"ARG\",\"n\":1}"
        );
        assert_eq!(body["tools"][0]["function"]["name"], "f");
    }

    #[test]
    fn unknown_media_parts_are_refused_not_forwarded() {
        let mut body = json!({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]});
        let err = visit_texts(body.as_object_mut().unwrap(), &mut |_, _| Ok(())).unwrap_err();
        assert_eq!(err.openai_body()["error"]["param"], "messages[0].content[0].type");
    }

    #[test]
    fn image_urls_are_visited_in_both_shapes_and_a_missing_one_refused() {
        let mut body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:a", "detail": "low"}},
            {"type": "image_url", "image_url": "data:b"}]}]});
        let mut seen = Vec::new();
        visit_images(body.as_object_mut().unwrap(), &mut |path, url| {
            seen.push((path.to_owned(), url.clone()));
            url.push('!');
            Ok(())
        })
        .unwrap();
        assert_eq!(seen[0], ("messages[0].content[1].image_url".to_owned(), "data:a".to_owned()));
        assert_eq!(seen[1].1, "data:b");
        assert_eq!(body["messages"][0]["content"][1]["image_url"]["url"], "data:a!");
        assert_eq!(body["messages"][0]["content"][1]["image_url"]["detail"], "low");
        let mut missing = json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"detail": "low"}}]}]});
        let err = visit_images(missing.as_object_mut().unwrap(), &mut |_, _| Ok(())).unwrap_err();
        assert_eq!(err.openai_body()["error"]["param"], "messages[0].content[0].image_url.url");
    }

    #[test]
    fn options_and_their_errors() {
        let defaults = Defaults::default();
        let body = json!({"pii_entities": ["EMAIL_ADDRESS"], "piiConfig": {"text": {"threshold": 0.8, "operator": "mask"}},
                          "privacyMode": "strict", "noPiiRedaction": true});
        let o = Options::parse(body.as_object().unwrap(), &defaults).unwrap();
        assert!(o.skip && o.mode == PrivacyMode::Strict);
        assert_eq!(o.text.operator, Operator::Mask);
        assert!(
            o.text.entities.contains(Entity::EmailAddress)
                && !o.text.entities.contains(Entity::Person)
        );
        let param = |v: Value| {
            Options::parse(v.as_object().unwrap(), &defaults).unwrap_err().openai_body()["error"]["param"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(param(json!({"piiEntities": ["NAME"]})), "piiEntities[0]");
        assert_eq!(
            param(json!({"piiConfig": {"text": {"threshold": 2}}})),
            "piiConfig.text.threshold"
        );
        assert_eq!(
            param(json!({"piiConfig": {"text": {"operator": "blur"}}})),
            "piiConfig.text.operator"
        );
        assert_eq!(param(json!({"privacy_mode": "lax"})), "privacy_mode");
    }
}
