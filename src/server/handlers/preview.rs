//! `POST /v1/pii/preview`: runs the redaction pipeline only and returns what
//! it found and the redacted input, for a flat price (`billing.preview_usd`).
//!
//! The pipeline runs first and the charge is taken after it succeeded, so a
//! refused or failed preview costs nothing. Offsets are in characters
//! (Unicode scalar values) of the input string, as DESIGN §6 says.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::auth::keys::Scope;
use crate::billing::money::{format_usd, usd_f64_to_micro};
use crate::billing::{Account, EntryKind, FlatCharge, LedgerError};
use crate::error::ApiError;
use crate::limits::{KeyLimits, LimitError};
use crate::redact::document::{self, RedactedDocument};
use crate::redact::request::Options;
use crate::redact::{Analyzed, AnalyzedImage, ChatRedactor, RedactError};
use crate::server::extract::{AuthedKey, JsonObject, RequestId};
use crate::state::AppState;

pub async fn preview(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    AuthedKey(key): AuthedKey,
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    if !key.allows(Scope::PiiPreview) {
        return Err(ApiError::EndpointNotAllowed("/v1/pii/preview"));
    }
    let has_text = matches!(body.get("text"), Some(Value::String(_)));
    let has_messages = matches!(body.get("messages"), Some(Value::Array(_)));
    let has_images = matches!(body.get("images"), Some(Value::Array(_)));
    let has_pdfs = matches!(body.get("pdfs"), Some(Value::Array(_)));
    if !has_text && !has_messages && !has_images && !has_pdfs {
        return Err(ApiError::validation(
            "text",
            "Send `text` (a string), `messages` (an array of chat messages), `images` (an array of image URLs) and/or `pdfs` (an array of PDFs).",
        ));
    }
    let limits = KeyLimits::resolve(&key, &state.config.plans);
    let admission = state
        .limiter
        .admit(&limits, 0, state.clock.now_ms())
        .await
        .map_err(LimitError::into_api_error)?;

    let images = inline_images(&mut body, &state).await?;
    body.remove("urls");
    crate::media::remote::fetch_documents(&mut body, &state.fetch_policy).await?;
    let _slot =
        state.redact_slots.clone().acquire_owned().await.map_err(|_| ApiError::Unavailable)?;
    let redactor = ChatRedactor {
        pipeline: state.pipeline.clone(),
        defaults: (*state.redact_defaults).clone(),
        media: state.media.clone(),
    };
    let (entities, redacted) = tokio::task::spawn_blocking(move || run(&redactor, body, images))
        .await
        .map_err(|_| ApiError::internal("preview task failed"))??;

    let amount = usd_f64_to_micro(state.config.billing.preview_usd);
    if amount > 0 {
        let charge = FlatCharge {
            account: Account { wallet: key.wallet.clone(), mode: key.mode },
            kind: EntryKind::Preview,
            amount,
            key_id: key.id.clone(),
            request_id,
        };
        state.ledger.charge(charge).await.map_err(LedgerError::into_api_error)?;
    }
    let mut response = Json(json!({
        "object": "pii.preview",
        "entities": entities,
        "redacted": redacted,
        "cost": {"usd": short_usd(amount)},
    }))
    .into_response();
    response.extensions_mut().insert(admission.status);
    Ok(response)
}

/// The `images` array as data URLs (remote ones fetched), and the remote
/// images of `messages` inlined. An entry is a URL string or `{"url": ...}`.
async fn inline_images(
    body: &mut Map<String, Value>,
    state: &AppState,
) -> Result<Vec<String>, ApiError> {
    crate::media::remote::inline_images(body, &state.fetch_policy).await?;
    let Some(Value::Array(items)) = body.remove("images") else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let param = format!("images[{i}]");
        let url = match item {
            Value::String(url) => url,
            Value::Object(o) => match o.get("url") {
                Some(Value::String(url)) => url,
                _ => return Err(ApiError::validation(&param, "An image needs a `url`.")),
            },
            _ => {
                return Err(ApiError::validation(
                    &param,
                    "An image is a URL string (data: or http(s)) or an object with `url`.",
                ));
            }
        };
        if url.starts_with("data:") {
            out.push(url.clone());
        } else if crate::media::remote::is_remote(url) {
            let inline =
                crate::media::remote::fetch_image(url, &state.fetch_policy).await.map_err(|m| {
                    ApiError::validation(&param, format!("The image could not be fetched: {m}."))
                })?;
            out.push(inline);
        } else {
            return Err(ApiError::validation(
                &param,
                "An image URL must be a data: URL or an http(s) URL.",
            ));
        }
    }
    Ok(out)
}

/// Redacts `text`, `messages`, `images` and `pdfs` in one session (one
/// numbering).
fn run(
    redactor: &ChatRedactor,
    mut body: Map<String, Value>,
    images: Vec<String>,
) -> Result<(Vec<Value>, Map<String, Value>), ApiError> {
    let options = Options::parse(&body, &redactor.defaults)?;
    let mut session = redactor.pipeline.session(options.text.clone());
    let mut entities = Vec::new();
    let mut redacted = Map::new();
    if let Some(Value::String(text)) = body.get("text") {
        let (out, findings) = session.redact(text).map_err(RedactError::into_api_error)?;
        let analyzed = Analyzed { text: text.clone(), location: "text".into(), findings };
        entities.extend(describe(&analyzed));
        redacted.insert("text".into(), Value::String(out));
    }
    if body.get("messages").is_some_and(Value::is_array) {
        crate::server::handlers::chat::validate_messages(body.get("messages"))?;
        let mut only_messages = Map::new();
        if let Some(messages) = body.remove("messages") {
            only_messages.insert("messages".into(), messages);
        }
        let docs = document::expand(&mut only_messages, &options.pdf, redactor.media.as_deref())?;
        for analyzed in redactor.redact_texts(&mut session, &mut only_messages, &docs)?.analyzed {
            entities.extend(describe(&analyzed));
        }
        for image in redactor.redact_images(&session, &mut only_messages, &options.image)? {
            entities.extend(describe_image(&image));
        }
        if let Some(messages) = only_messages.remove("messages") {
            redacted.insert("messages".into(), messages);
        }
    }
    if !images.is_empty() {
        // The same walk as chat image parts, over a request of its own.
        let parts: Vec<Value> = images
            .into_iter()
            .map(|url| json!({"type": "image_url", "image_url": {"url": url}}))
            .collect();
        let mut wrapped = Map::new();
        wrapped.insert("messages".into(), json!([{"role": "user", "content": parts}]));
        let mut out = Vec::new();
        for (i, mut image) in
            redactor.redact_images(&session, &mut wrapped, &options.image)?.into_iter().enumerate()
        {
            image.location = format!("images[{i}]");
            entities.extend(describe_image(&image));
            out.push(Value::String(image.image.data_url()));
        }
        redacted.insert("images".into(), Value::Array(out));
    }
    if let Some(pdfs) = body.remove("pdfs").filter(|p| !p.is_null()) {
        // The same reading as the chat `pdfs` parameter, over a request of
        // its own: each PDF becomes one text part of one user message.
        let count = pdfs.as_array().map_or(0, Vec::len);
        let mut wrapped = Map::new();
        wrapped.insert("messages".into(), json!([]));
        wrapped.insert("pdfs".into(), pdfs);
        let docs = document::expand(&mut wrapped, &options.pdf, redactor.media.as_deref())?;
        let mut texts = redactor.redact_texts(&mut session, &mut wrapped, &docs)?;
        for analyzed in &texts.analyzed {
            entities.extend(describe(analyzed));
        }
        let out: Vec<Value> = (0..count)
            .map(|k| {
                let doc = texts
                    .documents
                    .remove(&format!("messages[0].content[{k}].text"))
                    .unwrap_or_default();
                describe_document(&doc)
            })
            .collect();
        redacted.insert("pdfs".into(), Value::Array(out));
    }
    Ok((entities, redacted))
}

/// `{"text", "pages": [{"page", "text", "withheld", "note"}]}`.
fn describe_document(doc: &RedactedDocument) -> Value {
    let pages: Vec<Value> = doc
        .pages
        .iter()
        .map(|p| json!({"page": p.number, "text": p.text, "withheld": p.withheld, "note": p.note}))
        .collect();
    json!({"text": doc.text, "pages": pages})
}

fn describe_image(analyzed: &AnalyzedImage) -> Vec<Value> {
    analyzed
        .image
        .findings
        .iter()
        .map(|f| {
            let rect = f.rect.map(|v| v.round() as i64);
            json!({
                "type": f.entity.map_or("FACE", |e| e.name()),
                "text": f.text,
                "score": (f64::from(f.score) * 1000.0).round() / 1000.0,
                "source": f.source,
                "location": analyzed.location,
                "box": rect,
            })
        })
        .collect()
}

/// `0.050000` → `0.05`: at least two decimals, no trailing zeros beyond.
fn short_usd(micro: i64) -> String {
    let full = format_usd(micro);
    let Some((whole, frac)) = full.split_once('.') else { return full };
    let frac = frac.trim_end_matches('0');
    format!("{whole}.{frac:0<2}")
}

fn describe(analyzed: &Analyzed) -> Vec<Value> {
    let text = &analyzed.text;
    analyzed
        .findings
        .iter()
        .map(|f| {
            let start = text[..f.start].chars().count();
            let value = &text[f.start..f.end];
            json!({
                "type": f.entity.name(),
                "text": value,
                "start": start,
                "end": start + value.chars().count(),
                "score": (f64::from(f.score) * 1000.0).round() / 1000.0,
                "source": f.source.name(),
                "location": analyzed.location,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_usd_keeps_two_decimals() {
        assert_eq!(super::short_usd(50_000), "0.05");
        assert_eq!(super::short_usd(1_234_500), "1.2345");
        assert_eq!(super::short_usd(0), "0.00");
    }
}
