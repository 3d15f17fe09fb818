//! Remote images: every `image_url` with an http(s) URL is fetched through
//! the guarded fetcher ([`crate::fetch`]) before redaction and replaced by
//! a data URL, so the redactor only ever sees bytes, and the provider
//! never sees the original URL (it could fetch the unredacted image).

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
        if url.starts_with("http://") || url.starts_with("https://") {
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
