//! The `[media]` section: images and PDFs in requests (face and OCR
//! models, caps, defaults of `piiConfig.image` and `piiConfig.pdf`) and
//! the fetcher of remote media.

use serde::Deserialize;

use super::yes;
use crate::media::paint::Blur;

/// `[media]`: how images are redacted and remote media fetched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Off: requests with images are refused (400), never forwarded as
    /// they are, unless they ask to skip redaction.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Folder with `centerface.onnx`, `PP-OCRv6_det_small.onnx` and
    /// `PP-OCRv6_rec_small.onnx` (`scripts/setup.sh` puts them here).
    #[serde(default = "default_models_dir")]
    pub models_dir: String,
    /// Load the face detector (needed for `faceBlur`).
    #[serde(default = "yes")]
    pub faces: bool,
    /// Load the OCR models (needed for `ocr`).
    #[serde(default = "yes")]
    pub ocr: bool,
    /// Largest image accepted, in pixels (width × height); more is a 413,
    /// checked from the header before decoding.
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
    /// Model sessions kept per model (concurrent image jobs).
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// Threads per model call.
    #[serde(default = "one")]
    pub threads: usize,
    /// Defaults of `piiConfig.image`.
    #[serde(default = "yes")]
    pub face_blur: bool,
    #[serde(default = "default_face_threshold")]
    pub face_threshold: f32,
    /// `gaussian`, `pixelate` or `fill`.
    #[serde(default)]
    pub blur: Blur,
    #[serde(default = "yes")]
    pub strip_metadata: bool,
    /// Defaults of `piiConfig.pdf`. `pdf_max_pages` is also the most a
    /// request may ask for: more pages is a 413.
    #[serde(default = "default_pdf_max_pages")]
    pub pdf_max_pages: usize,
    #[serde(default = "yes")]
    pub pdf_ocr_scanned_pages: bool,
    #[serde(default = "default_pdf_withhold_page_above")]
    pub pdf_withhold_page_above: f32,
    /// Address blocks remote media may be fetched from although they are
    /// private, loopback or link-local (`10.0.0.0/8`, `::1`); empty: none.
    #[serde(default)]
    pub fetch_allow: Vec<String>,
    /// Largest remote image, PDF or page fetched.
    #[serde(default = "default_fetch_max_bytes")]
    pub fetch_max_bytes: usize,
    /// Longest fetch, redirects included.
    #[serde(default = "default_fetch_timeout_secs")]
    pub fetch_timeout_secs: f64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: default_models_dir(),
            faces: true,
            ocr: true,
            max_pixels: default_max_pixels(),
            sessions: default_sessions(),
            threads: 1,
            face_blur: true,
            face_threshold: default_face_threshold(),
            blur: Blur::default(),
            strip_metadata: true,
            pdf_max_pages: default_pdf_max_pages(),
            pdf_ocr_scanned_pages: true,
            pdf_withhold_page_above: default_pdf_withhold_page_above(),
            fetch_allow: Vec::new(),
            fetch_max_bytes: default_fetch_max_bytes(),
            fetch_timeout_secs: default_fetch_timeout_secs(),
        }
    }
}

impl MediaConfig {
    /// The deployment's defaults of `piiConfig.image`.
    pub fn image_options(&self) -> crate::media::ImageOptions {
        crate::media::ImageOptions {
            face_blur: self.face_blur && self.faces,
            face_threshold: self.face_threshold,
            blur: self.blur,
            ocr: self.ocr,
            strip_metadata: self.strip_metadata,
        }
    }

    /// The deployment's defaults of `piiConfig.pdf`.
    pub fn pdf_options(&self) -> crate::redact::document::PdfOptions {
        crate::redact::document::PdfOptions {
            max_pages: self.pdf_max_pages,
            ocr_scanned_pages: self.pdf_ocr_scanned_pages,
            withhold_page_above: self.pdf_withhold_page_above,
        }
    }

    /// The fetcher's limits; a bad value is an error naming its key.
    pub fn fetch_policy(&self) -> Result<crate::fetch::FetchPolicy, (&'static str, String)> {
        let allow = self
            .fetch_allow
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| ("media.fetch_allow", e))?;
        if !(self.fetch_timeout_secs > 0.0 && self.fetch_timeout_secs.is_finite()) {
            return Err(("media.fetch_timeout_secs", "must be a positive number".into()));
        }
        Ok(crate::fetch::FetchPolicy {
            allow,
            max_bytes: self.fetch_max_bytes,
            timeout: std::time::Duration::from_secs_f64(self.fetch_timeout_secs),
            ..Default::default()
        })
    }
}

fn default_models_dir() -> String {
    ".cache/models/media".into()
}
fn default_max_pixels() -> u64 {
    40_000_000
}
fn default_sessions() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}
fn one() -> usize {
    1
}
fn default_face_threshold() -> f32 {
    0.6
}
fn default_pdf_max_pages() -> usize {
    50
}
fn default_pdf_withhold_page_above() -> f32 {
    0.3
}
fn default_fetch_max_bytes() -> usize {
    20 << 20
}
fn default_fetch_timeout_secs() -> f64 {
    10.0
}
