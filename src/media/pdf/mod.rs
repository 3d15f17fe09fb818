//! PDFs (DESIGN §6): read with `lopdf`, never forwarded. Each page gives
//! its text ([`text`]) plus its annotations and form-field values; a page
//! with no text layer gives its images ([`image`]) for OCR. The document
//! information (title, author, …) is text too.
//!
//! Encrypted (password), truncated and unparsable files are refused with
//! [`MediaError::Invalid`]; more pages than allowed is
//! [`MediaError::TooLarge`].

pub mod image;
pub mod text;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::MediaError;

/// Largest size an object or cross-reference stream may decompress to
/// while the file is loaded (a small file cannot inflate beyond it).
const MAX_STREAM: usize = 64 << 20;

/// A page with fewer visible characters than this and an image is a
/// scanned page: its text is in the image.
const SCANNED_BELOW: usize = 16;

/// An opened PDF.
pub struct Pdf {
    doc: Document,
    pages: Vec<ObjectId>,
}

/// What one page holds.
#[derive(Debug, Default)]
pub struct PageContent {
    /// 1-based.
    pub number: usize,
    /// Drawn text, then annotations and form fields, one per line.
    pub text: String,
    /// No text layer but images: the text is in the images.
    pub scanned: bool,
    /// Image XObjects drawn on the page (read with [`Pdf::image`]).
    pub images: Vec<ObjectId>,
    /// Part of the page could not be parsed.
    pub damaged: bool,
}

impl Pdf {
    /// Opens `bytes`, refusing more than `max_pages` pages.
    pub fn open(bytes: &[u8], max_pages: usize) -> Result<Self, MediaError> {
        let head = &bytes[..bytes.len().min(1024)];
        if !head.windows(5).any(|w| w == b"%PDF-") {
            return Err(MediaError::Invalid("the file is not a PDF".into()));
        }
        let tail = &bytes[bytes.len().saturating_sub(2048)..];
        if !tail.windows(5).any(|w| w == b"%%EOF") {
            return Err(MediaError::Invalid(
                "the PDF is truncated (it has no end-of-file marker)".into(),
            ));
        }
        let options = lopdf::LoadOptions {
            max_decompressed_size: Some(MAX_STREAM),
            ..lopdf::LoadOptions::default()
        };
        let doc = Document::load_mem_with_options(bytes, options).map_err(|e| match e {
            lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_) => encrypted(),
            lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. }) => {
                MediaError::TooLarge("a stream of the PDF decompresses beyond the limit".into())
            }
            _ => MediaError::Invalid("the PDF could not be read (it is damaged)".into()),
        })?;
        if doc.is_encrypted() {
            return Err(encrypted());
        }
        let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
        if pages.is_empty() {
            return Err(MediaError::Invalid("the PDF has no pages".into()));
        }
        if pages.len() > max_pages {
            return Err(MediaError::TooLarge(format!(
                "the PDF has {} pages and at most {max_pages} are accepted (piiConfig.pdf.maxPages)",
                pages.len()
            )));
        }
        Ok(Self { doc, pages })
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The text of page `index` (0-based), annotations and fields included.
    pub fn page(&self, index: usize) -> PageContent {
        let Some(&id) = self.pages.get(index) else { return PageContent::default() };
        let drawn = text::page(&self.doc, id);
        let visible = drawn.text.chars().filter(|c| !c.is_whitespace()).count();
        let mut text = drawn.text;
        for line in self.annotations(id) {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&line);
        }
        PageContent {
            number: index + 1,
            text,
            scanned: visible < SCANNED_BELOW && !drawn.images.is_empty(),
            images: drawn.images,
            damaged: drawn.damaged,
        }
    }

    /// An image of a page, decoded; `None` if its encoding is not one Veil
    /// reads (JPEG 2000, CCITT fax, JBIG2).
    pub fn image(
        &self,
        id: ObjectId,
        max_pixels: u64,
    ) -> Result<Option<::image::RgbaImage>, MediaError> {
        let Ok(stream) = self.doc.get_object(id).and_then(Object::as_stream) else {
            return Ok(None);
        };
        image::decode(&self.doc, stream, max_pixels)
    }

    /// The document information dictionary: `Title: …`, one per line.
    pub fn info(&self) -> String {
        const KEYS: [&str; 6] = ["Title", "Author", "Subject", "Keywords", "Creator", "Producer"];
        let Some(info) = self
            .doc
            .trailer
            .get(b"Info")
            .ok()
            .and_then(|o| self.doc.dereference(o).ok())
            .and_then(|(_, o)| o.as_dict().ok())
        else {
            return String::new();
        };
        KEYS.iter()
            .filter_map(|k| {
                let v = self.string(info, k.as_bytes())?;
                Some(format!("{k}: {v}"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A text string of `dict`, decoded, control characters made spaces.
    fn string(&self, dict: &Dictionary, key: &[u8]) -> Option<String> {
        let (_, o) = self.doc.dereference(dict.get(key).ok()?).ok()?;
        let s = match o {
            Object::Name(n) => String::from_utf8_lossy(n).into_owned(),
            _ => lopdf::decode_text_string(o).ok()?,
        };
        let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    }

    /// Comments, link targets and form-field values of a page, one line each.
    fn annotations(&self, page: ObjectId) -> Vec<String> {
        let Ok(annotations) = self.doc.get_page_annotations(page) else { return Vec::new() };
        let mut out = Vec::new();
        for a in annotations {
            match a.get(b"Subtype").and_then(Object::as_name).unwrap_or(b"") {
                b"Popup" => {}
                b"Widget" => {
                    let (name, value) = self.field(a);
                    if let Some(value) = value {
                        out.push(match name {
                            Some(name) => format!("{name}: {value}"),
                            None => value,
                        });
                    }
                }
                b"Link" => {
                    let uri = a
                        .get(b"A")
                        .ok()
                        .and_then(|o| self.doc.dereference(o).ok())
                        .and_then(|(_, o)| o.as_dict().ok())
                        .and_then(|d| self.string(d, b"URI"));
                    out.extend(uri.map(|u| format!("Link: {u}")));
                }
                _ => {
                    if let Some(contents) = self.string(a, b"Contents") {
                        out.push(match self.string(a, b"T") {
                            Some(author) => format!("Comment by {author}: {contents}"),
                            None => format!("Comment: {contents}"),
                        });
                    }
                }
            }
        }
        out
    }

    /// A widget's field: its full name (`parent.child`) and value, both
    /// inherited through `/Parent`.
    fn field(&self, widget: &Dictionary) -> (Option<String>, Option<String>) {
        let mut names = Vec::new();
        let mut value = None;
        let mut node = Some(widget);
        for _ in 0..32 {
            let Some(dict) = node else { break };
            if let Some(t) = self.string(dict, b"T") {
                names.push(t);
            }
            if value.is_none() {
                value = self.field_value(dict);
            }
            node = dict
                .get(b"Parent")
                .ok()
                .and_then(|o| self.doc.dereference(o).ok())
                .and_then(|(_, o)| o.as_dict().ok());
        }
        names.reverse();
        ((!names.is_empty()).then(|| names.join(".")), value)
    }

    fn field_value(&self, dict: &Dictionary) -> Option<String> {
        let (_, v) = self.doc.dereference(dict.get(b"V").ok()?).ok()?;
        match v {
            Object::Array(items) => {
                let values: Vec<String> = items
                    .iter()
                    .filter_map(|i| lopdf::decode_text_string(i).ok())
                    .filter(|s| !s.trim().is_empty())
                    .collect();
                (!values.is_empty()).then(|| values.join(", "))
            }
            // Check boxes and radio buttons: `Off` is no value.
            Object::Name(n) if n.as_slice() == b"Off" => None,
            _ => self.string(dict, b"V"),
        }
    }
}

fn encrypted() -> MediaError {
    MediaError::Invalid(
        "the PDF is encrypted with a password; send it without the password protection".into(),
    )
}

#[cfg(test)]
pub(crate) mod tests;
