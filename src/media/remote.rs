//! Remote images: every `image_url` with an http(s) URL is fetched through
//! the guarded fetcher ([`crate::fetch`]) before redaction and replaced by
//! a data URL, so the redactor only ever sees bytes, and the provider
//! never sees the original URL (it could fetch the unredacted image). The
//! `urls` and remote `pdfs` of a request are fetched the same way
//! ([`fetch_documents`]).

use base64::Engine;
use serde_json::{Map, Value};

use super::raster::{Format, data_url};
use crate::error::ApiError;
use crate::fetch::{FetchError, FetchPolicy, fetch};

/// Fetches the remote images of a chat request (in order, one at a time)
/// and puts them in as data URLs. A refused or failed fetch refuses the
/// request, naming the part.
pub async fn inline_images(
    body: &mut Map<String, Value>,
    policy: &FetchPolicy,
) -> Result<(), ApiError> {
    let mut remote = Vec::new();
    crate::redact::request::visit_images(body, &mut |path, url| {
        if is_remote(url) {
            remote.push((path.to_owned(), url.clone()));
        } else if !url.starts_with("data:") {
            return Err(ApiError::validation(
                format!("{path}.url"),
                "An image URL must be a data: URL or an http(s) URL.",
            ));
        }
        Ok(())
    })?;
    if remote.is_empty() {
        return Ok(());
    }
    let mut fetched = std::collections::HashMap::new();
    for (path, url) in remote {
        let bytes = fetch_image(&url, policy).await.map_err(|message| {
            ApiError::validation(
                format!("{path}.url"),
                format!(
                    "The image could not be fetched: {message}; the request was not forwarded."
                ),
            )
        })?;
        fetched.insert(path, bytes);
    }
    crate::redact::request::visit_images(body, &mut |path, url| {
        if let Some(inline) = fetched.remove(path) {
            *url = inline;
        }
        Ok(())
    })
}

/// One remote image as a data URL; the error is safe to show the client.
pub async fn fetch_image(url: &str, policy: &FetchPolicy) -> Result<String, String> {
    let fetched = fetch(url, policy).await.map_err(|e: FetchError| {
        if let FetchError::Blocked(_) = e {
            tracing::warn!("remote image refused: non-public address");
        }
        e.to_string()
    })?;
    let format = Format::sniff(&fetched.body)
        .ok_or_else(|| "the content is not a PNG, JPEG, WebP or GIF image".to_owned())?;
    Ok(data_url(format.mime(), &fetched.body))
}

/// What a fetched body is, by its first bytes, else its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Image(Format),
    Html,
    Text,
}

impl Kind {
    pub fn of(bytes: &[u8], content_type: Option<&str>) -> Self {
        let mime = content_type
            .and_then(|c| c.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        if bytes.starts_with(b"%PDF-") {
            Kind::Pdf
        } else if let Some(format) = Format::sniff(bytes) {
            Kind::Image(format)
        } else if mime == "text/html"
            || mime == "application/xhtml+xml"
            || head.starts_with("<!doctype html")
            || head.starts_with("<html")
        {
            Kind::Html
        } else {
            Kind::Text
        }
    }

    /// Whether Veil can read a body of this `Content-Type` as text.
    fn readable_text(bytes: &[u8], content_type: Option<&str>) -> bool {
        let mime = content_type.and_then(|c| c.split(';').next()).map(str::trim).unwrap_or("");
        mime.starts_with("text/")
            || mime.ends_with("json")
            || mime.ends_with("xml")
            || (mime.is_empty() && std::str::from_utf8(bytes).is_ok())
    }
}

/// Whether `url` is one Veil fetches itself (http or https).
pub fn is_remote(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// An entry given as a string, or as an object with one of `keys` (the
/// first present); `None` otherwise.
pub fn string_or_field<'a>(item: &'a Value, keys: &[&str]) -> Option<&'a str> {
    match item {
        Value::String(s) => Some(s),
        Value::Object(o) => keys.iter().find_map(|k| o.get(*k)).and_then(Value::as_str),
        _ => None,
    }
}

/// At most this many `urls` and remote `pdfs` are fetched per request.
pub const MAX_DOCUMENTS: usize = 16;

/// Fetches the remote entries of `urls` and `pdfs` (one at a time, each
/// through the guarded fetcher). A `urls` entry becomes
/// `{"url", "content_type", "data": base64}`; a remote PDF a data URL.
pub async fn fetch_documents(
    body: &mut Map<String, Value>,
    policy: &FetchPolicy,
) -> Result<(), ApiError> {
    let mut fetched = 0;
    if let Some(urls) = body.get_mut("urls").filter(|v| !v.is_null()) {
        let Value::Array(urls) = urls else {
            return Err(ApiError::validation("urls", "`urls` must be an array of http(s) URLs."));
        };
        for (i, item) in urls.iter_mut().enumerate() {
            let param = format!("urls[{i}]");
            let url = string_or_field(item, &["url"]).unwrap_or("").to_owned();
            if !is_remote(&url) {
                return Err(ApiError::validation(&param, "A URL must be an http(s) URL."));
            }
            fetched += 1;
            check_count(fetched, &param)?;
            let got = fetch_document(&url, policy, &param).await?;
            let kind = Kind::of(&got.body, got.content_type.as_deref());
            if kind == Kind::Text && !Kind::readable_text(&got.body, got.content_type.as_deref()) {
                return Err(ApiError::validation(
                    &param,
                    "The URL's content is not HTML, text, a PDF or an image, so it was not used; the request was not forwarded.",
                ));
            }
            *item = serde_json::json!({
                "url": url,
                "content_type": got.content_type,
                "data": base64::engine::general_purpose::STANDARD.encode(&got.body),
            });
        }
    }
    if let Some(Value::Array(pdfs)) = body.get_mut("pdfs") {
        for (i, item) in pdfs.iter_mut().enumerate() {
            let Some(url) = string_or_field(item, &["url"]).filter(|u| is_remote(u)) else {
                continue;
            };
            let url = url.to_owned();
            let param = format!("pdfs[{i}]");
            fetched += 1;
            check_count(fetched, &param)?;
            let got = fetch_document(&url, policy, &param).await?;
            if Kind::of(&got.body, None) != Kind::Pdf {
                return Err(ApiError::validation(
                    &param,
                    "The URL's content is not a PDF; the request was not forwarded.",
                ));
            }
            *item = Value::String(data_url("application/pdf", &got.body));
        }
    }
    Ok(())
}

fn check_count(n: usize, param: &str) -> Result<(), ApiError> {
    if n > MAX_DOCUMENTS {
        return Err(ApiError::validation(
            param,
            format!("At most {MAX_DOCUMENTS} URLs and remote PDFs are fetched per request."),
        ));
    }
    Ok(())
}

async fn fetch_document(
    url: &str,
    policy: &FetchPolicy,
    param: &str,
) -> Result<crate::fetch::Fetched, ApiError> {
    fetch(url, policy).await.map_err(|e| {
        if let FetchError::Blocked(_) = e {
            tracing::warn!("remote document refused: non-public address");
        }
        ApiError::validation(
            param,
            format!("The URL could not be fetched: {e}; the request was not forwarded."),
        )
    })
}
