//! Documents in chat requests (DESIGN §5, §6): PDF `file` parts, the
//! `pdfs` parameter and the `urls` parameter. None is ever forwarded as it
//! came: each becomes a text of its own (a header, the document
//! information, then page by page) whose parts run through the request's
//! text session like every other text, so placeholders are numbered in
//! request order. A page whose share of words that are personal data is
//! over `withholdPageAbove` is withheld whole.
//!
//! `file` parts are replaced in place by a text part. `pdfs` and `urls`
//! are added as context: parts appended to the last user message (a new
//! user message if there is none). Remote `pdfs` and `urls` must have been
//! fetched before ([`crate::media::remote::fetch_documents`]).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::entity::Finding;
use super::pipeline::Session;
use crate::error::ApiError;
use crate::media::pdf::Pdf;
use crate::media::raster::{decode_base64, parse_data_url};
use crate::media::remote;
use crate::media::{Media, MediaError};

/// `piiConfig.pdf`: per-request PDF settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PdfOptions {
    /// More pages is a 413. A request may lower the deployment's value,
    /// not raise it.
    pub max_pages: usize,
    /// Read pages without a text layer with OCR.
    pub ocr_scanned_pages: bool,
    /// A page whose share of personal-data words is over this is withheld.
    pub withhold_page_above: f32,
}

impl Default for PdfOptions {
    fn default() -> Self {
        Self { max_pages: 50, ocr_scanned_pages: true, withhold_page_above: 0.3 }
    }
}

impl PdfOptions {
    /// Applies `piiConfig.pdf` (at `path`) on top of `self`; `max_pages`
    /// stays at most `cap`.
    pub fn apply(&mut self, v: &Value, path: &str, cap: usize) -> Result<(), ApiError> {
        for (key, value) in super::request::section(v, path)? {
            let param = format!("{path}.{key}");
            match key.as_str() {
                "maxPages" | "max_pages" => {
                    let n = value.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                        ApiError::validation(
                            &param,
                            format!("`{param}` must be a whole number of at least 1."),
                        )
                    })?;
                    self.max_pages = usize::try_from(n).unwrap_or(usize::MAX).min(cap);
                }
                "ocrScannedPages" | "ocr_scanned_pages" => {
                    self.ocr_scanned_pages = value.as_bool().ok_or_else(|| {
                        ApiError::validation(&param, format!("`{param}` must be a boolean."))
                    })?;
                }
                "withholdPageAbove" | "withhold_page_above" => {
                    self.withhold_page_above = super::request::fraction(value, &param)?;
                }
                _ => {
                    return Err(ApiError::validation(
                        &param,
                        format!(
                            "Unknown field `{param}`; expected maxPages, ocrScannedPages or withholdPageAbove."
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One part of a document's text.
#[derive(Debug)]
enum Piece {
    /// Veil's own words (headers): not analyzed.
    Fixed(String),
    /// Text of the document (its name, information, a web page): redacted.
    Text { text: String, location: String },
    /// A page: redacted, or withheld whole. It is analyzed as `flat`, its
    /// text with line breaks made spaces (same byte offsets), so a value
    /// wrapped onto the next line ("+44 20 7946" / "0958") is found whole.
    Page {
        number: usize,
        of: usize,
        text: String,
        flat: String,
        location: String,
        note: Option<String>,
    },
}

/// A document turned into text, ready to be redacted.
#[derive(Debug)]
pub struct Document {
    pieces: Vec<Piece>,
    withhold_above: f32,
}

/// A page after redaction.
#[derive(Debug, Clone)]
pub struct RedactedPage {
    pub number: usize,
    pub text: String,
    pub withheld: bool,
    /// How the page was read or why it was not (`scanned; read by OCR`).
    pub note: Option<String>,
}

/// A document after redaction: the whole text and its pages.
#[derive(Debug, Clone, Default)]
pub struct RedactedDocument {
    pub text: String,
    pub pages: Vec<RedactedPage>,
}

impl Document {
    /// The texts to analyze, with their locations, in order.
    pub fn texts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Fixed(_) => None,
            Piece::Text { text, location } | Piece::Page { flat: text, location, .. } => {
                Some((text.as_str(), location.as_str()))
            }
        })
    }

    /// The redacted text; `findings` has one list per text of [`Self::texts`].
    pub fn render(&self, session: &mut Session, findings: &[Vec<Finding>]) -> RedactedDocument {
        let mut out = RedactedDocument::default();
        let mut findings = findings.iter();
        let none = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Fixed(s) => out.text.push_str(s),
                Piece::Text { text, .. } => {
                    let f = findings.next().unwrap_or(&none);
                    out.text.push_str(&session.apply(text, f));
                }
                Piece::Page { number, of, text, note, .. } => {
                    let f = findings.next().unwrap_or(&none);
                    let share = pii_share(text, f);
                    let withheld = share > self.withhold_above;
                    let (text, note) = if withheld {
                        let why =
                            format!("withheld: {:.0} % of it is personal data", share * 100.0);
                        (String::new(), Some(why))
                    } else {
                        (session.apply(text, f), note.clone())
                    };
                    let label = note.as_ref().map_or(String::new(), |n| format!(" ({n})"));
                    out.text.push_str(&format!("\n\n--- Page {number} of {of}{label} ---\n"));
                    out.text.push_str(&text);
                    out.pages.push(RedactedPage { number: *number, text, withheld, note });
                }
            }
        }
        out
    }
}

/// The share of a text's tokens that are personal data, each finding
/// counted as one token (a phone number written in four groups is one
/// value, not four) and every word outside findings as one.
pub fn pii_share(text: &str, findings: &[Finding]) -> f32 {
    let mut other = 0usize;
    for word in text.split_whitespace() {
        let start = word.as_ptr() as usize - text.as_ptr() as usize;
        let end = start + word.len();
        if !findings.iter().any(|f| f.start < end && start < f.end) {
            other += 1;
        }
    }
    let pii = findings.len();
    if pii == 0 { 0.0 } else { pii as f32 / (pii + other) as f32 }
}

/// Reads a PDF into a [`Document`]. `name` is the file name with its
/// location; page locations are `{base}.pages[p]` (0-based).
pub fn read_pdf(
    bytes: &[u8],
    name: Option<(&str, String)>,
    base: &str,
    options: &PdfOptions,
    media: Option<&Media>,
) -> Result<Document, MediaError> {
    let pdf = Pdf::open(bytes, options.max_pages)?;
    let of = pdf.page_count();
    let mut pieces = vec![Piece::Fixed("PDF document".into())];
    if let Some((name, location)) = name {
        pieces.push(Piece::Fixed(" \"".into()));
        pieces.push(Piece::Text { text: name.to_owned(), location });
        pieces.push(Piece::Fixed("\"".into()));
    }
    pieces.push(Piece::Fixed(format!(
        ", {of} page{}; its text extracted by the privacy proxy, personal data redacted.",
        if of == 1 { "" } else { "s" }
    )));
    let info = pdf.info();
    if !info.is_empty() {
        pieces.push(Piece::Fixed("\n".into()));
        pieces.push(Piece::Text { text: info, location: format!("{base}.info") });
    }
    for p in 0..of {
        let page = pdf.page(p);
        let mut text = page.text;
        let mut notes = Vec::new();
        if page.scanned {
            notes.push(read_scanned(&pdf, &page.images, options, media, &mut text)?);
        }
        if page.damaged {
            notes.push("partly unreadable".to_owned());
        }
        pieces.push(Piece::Page {
            number: page.number,
            of,
            flat: flat(&text),
            text,
            location: format!("{base}.pages[{p}]"),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        });
    }
    Ok(Document { pieces, withhold_above: options.withhold_page_above })
}

/// `text` with line breaks made spaces: the same byte offsets, one line.
pub fn flat(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// OCR of a scanned page's images into `text`; returns the page's note.
fn read_scanned(
    pdf: &Pdf,
    images: &[lopdf::ObjectId],
    options: &PdfOptions,
    media: Option<&Media>,
    text: &mut String,
) -> Result<String, MediaError> {
    if !options.ocr_scanned_pages {
        return Ok("scanned; not read, ocrScannedPages is off".into());
    }
    let Some(media) = media else {
        return Ok("scanned; not read, OCR is not available on this server".into());
    };
    let mut read = 0;
    for id in images {
        let Some(pixels) = pdf.image(*id, media.max_pixels)? else { continue };
        let Some(found) = media.read_text(&pixels)? else {
            return Ok("scanned; not read, OCR is not available on this server".into());
        };
        read += 1;
        if !found.is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&found);
        }
    }
    Ok(if read == 0 {
        "scanned; not read, its images use an encoding Veil does not read".into()
    } else {
        "scanned; read by OCR".into()
    })
}

/// A fetched web page or text file as a [`Document`].
pub fn web_document(url: &str, text: String, base: &str) -> Document {
    Document {
        pieces: vec![
            Piece::Fixed("Content of ".into()),
            Piece::Text { text: url.to_owned(), location: format!("{base}.url") },
            Piece::Fixed(", fetched by the privacy proxy, personal data redacted:\n".into()),
            Piece::Text { text, location: format!("{base}.text") },
        ],
        withhold_above: 1.0,
    }
}

/// The PDF bytes of a `file_data` or `pdfs` entry: a data URL or bare base64.
fn pdf_bytes(data: &str) -> Result<Vec<u8>, MediaError> {
    if data.starts_with("data:") {
        let (mime, bytes) = parse_data_url(data)?;
        if mime != "application/pdf" && !bytes.starts_with(b"%PDF-") {
            return Err(MediaError::Invalid(format!(
                "a {mime} file cannot be redacted; only PDFs (application/pdf) are read"
            )));
        }
        Ok(bytes)
    } else {
        decode_base64(data)
    }
}

/// Texts of a request that are documents, by the path of the text part
/// that holds each (`messages[0].content[1].text`).
pub type Documents = HashMap<String, Document>;

/// Reads every document of a request: `file` parts become text parts and
/// `pdfs`/`urls` context parts; the returned documents give their texts.
pub fn expand(
    body: &mut Map<String, Value>,
    options: &PdfOptions,
    media: Option<&Media>,
) -> Result<Documents, ApiError> {
    let mut docs = Documents::new();
    super::request::visit_files(body, &mut |path, part| {
        let file = part.get("file").and_then(Value::as_object);
        let data = file.and_then(|f| f.get("file_data")).and_then(Value::as_str);
        let Some(data) = data else {
            let message = if file.is_some_and(|f| f.contains_key("file_id")) {
                "A file uploaded to the provider (`file_id`) cannot be redacted; send its content as `file.file_data` (a PDF data URL)."
            } else {
                "A file part needs `file.file_data`: a PDF as a data URL or base64."
            };
            return Err(ApiError::validation(format!("{path}.file"), message));
        };
        let param = format!("{path}.file.file_data");
        let bytes = pdf_bytes(data).map_err(|e| e.into_api_error(&param))?;
        let name = file.and_then(|f| f.get("filename")).and_then(Value::as_str);
        let name = name.map(|n| (n, format!("{path}.file.filename")));
        let doc =
            read_pdf(&bytes, name, path, options, media).map_err(|e| e.into_api_error(&param))?;
        *part = json!({"type": "text", "text": ""});
        docs.insert(format!("{path}.text"), doc);
        Ok(())
    })?;
    let mut context: Vec<(Value, Option<Document>)> = Vec::new();
    if let Some(pdfs) = body.remove("pdfs").filter(|v| !v.is_null()) {
        let Value::Array(pdfs) = pdfs else {
            return Err(ApiError::validation("pdfs", "`pdfs` must be an array of PDFs."));
        };
        for (i, item) in pdfs.iter().enumerate() {
            let param = format!("pdfs[{i}]");
            let data = remote::string_or_field(item, &["file_data", "url"]).unwrap_or("");
            if data.is_empty() || remote::is_remote(data) {
                return Err(ApiError::validation(
                    &param,
                    "A PDF is a data URL, base64 or an http(s) URL (fetched by the proxy).",
                ));
            }
            let bytes = pdf_bytes(data).map_err(|e| e.into_api_error(&param))?;
            let doc = read_pdf(&bytes, None, &param, options, media)
                .map_err(|e| e.into_api_error(&param))?;
            context.push((json!({"type": "text", "text": ""}), Some(doc)));
        }
    }
    if let Some(urls) = body.remove("urls").filter(|v| !v.is_null()) {
        for (i, item) in urls.as_array().into_iter().flatten().enumerate() {
            context.extend(fetched_url(item, i, options, media)?);
        }
    }
    if !context.is_empty() {
        let (index, parts) = last_user_parts(body)?;
        for (part, doc) in context {
            if let Some(doc) = doc {
                docs.insert(format!("messages[{index}].content[{}].text", parts.len()), doc);
            }
            parts.push(part);
        }
    }
    Ok(docs)
}

/// One fetched `urls` entry (`{"url", "content_type", "data"}`, put there by
/// the fetch step) as context parts.
fn fetched_url(
    item: &Value,
    i: usize,
    options: &PdfOptions,
    media: Option<&Media>,
) -> Result<Vec<(Value, Option<Document>)>, ApiError> {
    let param = format!("urls[{i}]");
    let field = |k: &str| item.get(k).and_then(Value::as_str);
    let (Some(url), Some(data)) = (field("url"), field("data")) else {
        return Err(ApiError::internal("a URL was not fetched before redaction"));
    };
    let bytes = decode_base64(data).map_err(|e| e.into_api_error(&param))?;
    let content_type = field("content_type");
    let empty = || json!({"type": "text", "text": ""});
    Ok(match remote::Kind::of(&bytes, content_type) {
        remote::Kind::Pdf => {
            let name = Some((url, format!("{param}.url")));
            let doc = read_pdf(&bytes, name, &param, options, media)
                .map_err(|e| e.into_api_error(&param))?;
            vec![(empty(), Some(doc))]
        }
        remote::Kind::Image(format) => {
            let label = web_document(url, String::new(), &param);
            let image = crate::media::raster::data_url(format.mime(), &bytes);
            vec![
                (empty(), Some(label)),
                (json!({"type": "image_url", "image_url": {"url": image}}), None),
            ]
        }
        remote::Kind::Html => {
            let text =
                crate::media::html::to_text(&crate::media::html::decode(&bytes, content_type));
            vec![(empty(), Some(web_document(url, text, &param)))]
        }
        remote::Kind::Text => {
            let text = crate::media::html::decode(&bytes, content_type);
            vec![(empty(), Some(web_document(url, text, &param)))]
        }
    })
}

/// The content parts of the last user message (a string content becomes
/// a text part; a new user message is added if there is none).
fn last_user_parts(body: &mut Map<String, Value>) -> Result<(usize, &mut Vec<Value>), ApiError> {
    let messages = body.entry("messages").or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(messages) = messages else {
        return Err(ApiError::validation("messages", "`messages` must be an array."));
    };
    let index = match messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    {
        Some(i) => i,
        None => {
            messages.push(json!({"role": "user", "content": []}));
            messages.len() - 1
        }
    };
    let Some(message) = messages[index].as_object_mut() else {
        return Err(ApiError::validation(
            format!("messages[{index}]"),
            "A message must be an object.",
        ));
    };
    let parts = match message.remove("content") {
        Some(Value::Array(parts)) => parts,
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        _ => Vec::new(),
    };
    let content = message.entry("content").or_insert(Value::Array(parts));
    let Value::Array(parts) = content else {
        return Err(ApiError::internal("content parts were just set"));
    };
    Ok((index, parts))
}

#[cfg(test)]
mod tests;
