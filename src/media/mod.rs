//! Images and PDFs inside requests (DESIGN §5, §6).
//!
//! - [`raster`]: decode with a pixel cap, re-encode without metadata;
//! - [`face`]: CenterFace detection;
//! - [`ocr`]: PP-OCR detection and recognition;
//! - [`paint`]: blurring faces and filling text boxes;
//! - [`pdf`]: PDF pages as text (and scanned pages' images for OCR);
//! - [`html`]: fetched web pages as readable text;
//! - [`remote`]: remote images, PDFs and `urls` fetched (SSRF-guarded).
//!
//! An image is decoded, its faces hidden, its text read and run through
//! the request's text pipeline, the boxes of the words that belong to a
//! finding filled, and the pixels re-encoded in the same format family.
//! Every failure refuses the request (fail closed): an image is never
//! forwarded as it came unless the client asked to skip redaction.

pub mod face;
pub mod html;
pub mod ocr;
pub mod paint;
pub mod pdf;
pub mod raster;
pub mod remote;

use image::RgbaImage;
use serde_json::Value;

use crate::error::ApiError;
use crate::redact::entity::{Entity, Finding};
use crate::redact::pipeline::Session;
use crate::redact::resolve;
use face::FaceDetector;
use ocr::{Line, Ocr};
use paint::{Blur, FILL, Quad, Rect};
use raster::Format;

/// Why an image could not be redacted. Carries no content of the image.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The client sent something that is not a readable image (400).
    #[error("{0}")]
    Invalid(String),
    /// Over a configured cap (413).
    #[error("{0}")]
    TooLarge(String),
    /// A model failed (500, fail closed).
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Internal(String),
}

impl MediaError {
    /// The contract's error, naming the request field (`param`).
    pub fn into_api_error(self, param: &str) -> ApiError {
        match self {
            MediaError::Invalid(m) => {
                ApiError::validation(param, format!("{m}; the request was not forwarded."))
            }
            MediaError::TooLarge(m) => ApiError::RequestTooLarge(format!("{param}: {m}.")),
            MediaError::Model(m) | MediaError::Internal(m) => {
                tracing::error!(error = %m, param, "image redaction failed; request refused");
                ApiError::Internal("image redaction failed".into())
            }
        }
    }
}

/// `piiConfig.image`: per-request image settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageOptions {
    pub face_blur: bool,
    pub face_threshold: f32,
    pub blur: Blur,
    pub ocr: bool,
    pub strip_metadata: bool,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            face_blur: true,
            face_threshold: 0.6,
            blur: Blur::Gaussian,
            ocr: true,
            strip_metadata: true,
        }
    }
}

impl ImageOptions {
    /// Applies `piiConfig.image` (at `path`) on top of `self`.
    pub fn apply(&mut self, v: &Value, path: &str) -> Result<(), ApiError> {
        for (key, value) in crate::redact::request::section(v, path)? {
            let param = format!("{path}.{key}");
            let boolean = || {
                value.as_bool().ok_or_else(|| {
                    ApiError::validation(&param, format!("`{param}` must be a boolean."))
                })
            };
            match key.as_str() {
                "faceBlur" | "face_blur" => self.face_blur = boolean()?,
                "ocr" => self.ocr = boolean()?,
                "stripMetadata" | "strip_metadata" => self.strip_metadata = boolean()?,
                "faceThreshold" | "face_threshold" => {
                    self.face_threshold = crate::redact::request::fraction(value, &param)?;
                }
                "blur" => {
                    self.blur = serde_json::from_value(value.clone()).map_err(|_| {
                        ApiError::validation(
                            &param,
                            format!("`{param}` must be one of gaussian, pixelate, fill."),
                        )
                    })?;
                }
                _ => {
                    return Err(ApiError::validation(
                        &param,
                        format!(
                            "Unknown field `{param}`; expected faceBlur, faceThreshold, blur, ocr or stripMetadata."
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The face and OCR models and the image caps of a deployment.
pub struct Media {
    faces: Option<FaceDetector>,
    ocr: Option<Ocr>,
    pub max_pixels: u64,
}

/// What was found in one image: faces and text findings with their boxes.
#[derive(Debug, Clone)]
pub struct ImageFinding {
    pub entity: Option<Entity>,
    /// The value read (empty for a face).
    pub text: String,
    pub score: f32,
    pub rect: Rect,
    pub source: &'static str,
}

/// A redacted image.
pub struct RedactedImage {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub findings: Vec<ImageFinding>,
}

impl RedactedImage {
    pub fn data_url(&self) -> String {
        raster::data_url(self.format.mime(), &self.bytes)
    }
}

impl Media {
    /// Loads the models named in `config`, logging how long each took. A
    /// missing file is an error that says how to get it.
    pub fn load(config: &crate::config::MediaConfig, onnxruntime: &str) -> anyhow::Result<Self> {
        let runtime = crate::onnx::runtime(&resolve(onnxruntime)).map_err(anyhow::Error::msg)?;
        let dir = resolve(&config.models_dir);
        let started = std::time::Instant::now();
        let faces = if config.faces {
            let model = dir.join("centerface.onnx");
            Some(
                FaceDetector::load(runtime, &model, config.sessions, config.threads)
                    .map_err(anyhow::Error::msg)?,
            )
        } else {
            None
        };
        let ocr = if config.ocr {
            Some(
                Ocr::load(
                    runtime,
                    &dir.join("PP-OCRv6_det_small.onnx"),
                    &dir.join("PP-OCRv6_rec_small.onnx"),
                    config.sessions,
                    config.threads,
                )
                .map_err(anyhow::Error::msg)?,
            )
        } else {
            None
        };
        tracing::info!(
            dir = %dir.display(),
            faces = config.faces,
            ocr = config.ocr,
            ms = started.elapsed().as_millis() as u64,
            "face and OCR models loaded"
        );
        Ok(Self { faces, ocr, max_pixels: config.max_pixels })
    }

    /// Redacts one image. Its text findings are found with `session` (the
    /// request's text settings).
    pub fn redact_image(
        &self,
        bytes: &[u8],
        options: &ImageOptions,
        session: &Session,
    ) -> Result<RedactedImage, MediaError> {
        let decoded = raster::decode(bytes, self.max_pixels)?;
        let mut pixels = decoded.pixels;
        let mut findings = Vec::new();
        if options.face_blur {
            let faces = self.faces.as_ref().ok_or_else(|| {
                MediaError::Internal(
                    "face blurring is asked for but no face model is loaded".into(),
                )
            })?;
            for found in faces.detect(&pixels, options.face_threshold)? {
                paint::hide(&mut pixels, face::with_margin(found.rect, 0.25), options.blur);
                findings.push(ImageFinding {
                    entity: None,
                    text: String::new(),
                    score: found.score,
                    rect: found.rect,
                    source: "face",
                });
            }
        }
        if options.ocr {
            let ocr = self.ocr.as_ref().ok_or_else(|| {
                MediaError::Internal("OCR is asked for but no OCR model is loaded".into())
            })?;
            let lines = ocr.read(&pixels)?;
            findings.extend(redact_lines(&mut pixels, &lines, session)?);
        }
        let bytes = if findings.is_empty() && !options.strip_metadata {
            bytes.to_vec()
        } else {
            raster::encode(&pixels, decoded.format)?
        };
        Ok(RedactedImage { bytes, format: decoded.format, findings })
    }
}

impl Media {
    /// The text of an image (a scanned page), rows joined as [`layout`]
    /// does; `None` when no OCR model is loaded.
    pub fn read_text(&self, pixels: &RgbaImage) -> Result<Option<String>, MediaError> {
        let Some(ocr) = &self.ocr else { return Ok(None) };
        Ok(Some(layout(&ocr.read(pixels)?).0))
    }
}

/// Runs the text read from an image through the text pipeline and fills
/// the part of each line that holds a finding. Lines on the same row are
/// joined with a space and rows with a newline, so a value split into
/// boxes (`+1 415` · `555 0100`) or over two lines is still seen whole.
fn redact_lines(
    pixels: &mut RgbaImage,
    lines: &[Line],
    session: &Session,
) -> Result<Vec<ImageFinding>, MediaError> {
    let (text, places) = layout(lines);
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    // Analyzed on one line (same offsets), so a value wrapped onto the
    // next line is found whole.
    let findings = session
        .analyze(&[&crate::redact::document::flat(&text)])
        .map_err(|e| MediaError::Model(e.to_string()))?
        .pop()
        .unwrap_or_default();
    let mut out = Vec::new();
    for Finding { entity, start, end, score, .. } in findings {
        let mut rect: Option<Rect> = None;
        for &(line, at) in &places {
            let len = lines[line].text.len();
            let (a, b) = (start.max(at), end.min(at + len));
            if a >= b {
                continue;
            }
            let Some((from, to)) = lines[line].extent(a - at, b - at) else { continue };
            // Margins: half a line height along the line (a character's
            // edges are estimates), a fifth across it.
            let quad = &lines[line].quad;
            let part = quad.part(from, to, 0.0);
            let part = Quad {
                half: (part.half.0 + quad.half.1 * 0.5, part.half.1 + quad.half.1 * 0.2),
                ..part
            };
            paint::fill_quad(pixels, &part, FILL);
            let b = part.bounds();
            rect = Some(match rect {
                None => b,
                Some(r) => [r[0].min(b[0]), r[1].min(b[1]), r[2].max(b[2]), r[3].max(b[3])],
            });
        }
        if let Some(rect) = rect {
            out.push(ImageFinding {
                entity: Some(entity),
                text: text[start..end].replace(['\n', '\r'], " "),
                score,
                rect,
                source: "ocr",
            });
        }
    }
    Ok(out)
}

/// The lines as one text, and where each line starts in it.
fn layout(lines: &[Line]) -> (String, Vec<(usize, usize)>) {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| lines[a].quad.center.1.total_cmp(&lines[b].quad.center.1));
    let mut rows: Vec<Vec<usize>> = Vec::new();
    for i in order {
        let q = &lines[i].quad;
        match rows.last_mut() {
            Some(row)
                if row.iter().any(|&j| {
                    let r = &lines[j].quad;
                    (r.center.1 - q.center.1).abs() < r.half.1.min(q.half.1) * 0.6
                }) =>
            {
                row.push(i)
            }
            _ => rows.push(vec![i]),
        }
    }
    let mut text = String::new();
    let mut places = Vec::new();
    for (r, mut row) in rows.into_iter().enumerate() {
        row.sort_by(|&a, &b| lines[a].quad.center.0.total_cmp(&lines[b].quad.center.0));
        if r > 0 {
            text.push('\n');
        }
        for (k, i) in row.into_iter().enumerate() {
            if k > 0 {
                text.push(' ');
            }
            places.push((i, text.len()));
            text.push_str(&lines[i].text);
        }
    }
    (text, places)
}

/// Loads the media models when `config` asks for them.
pub fn load(
    config: &crate::config::MediaConfig,
    onnxruntime: &str,
) -> anyhow::Result<Option<std::sync::Arc<Media>>> {
    if !config.enabled {
        return Ok(None);
    }
    Media::load(config, onnxruntime).map(|m| Some(std::sync::Arc::new(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, x: f32, y: f32) -> Line {
        let n = text.chars().count() as f32;
        Line {
            quad: Quad { center: (x, y), axis: (1.0, 0.0), half: (n * 5.0, 8.0) },
            text: text.into(),
            score: 0.9,
            chars: text
                .char_indices()
                .enumerate()
                .map(|(k, (o, _))| (o, k as f32 / n, (k + 1) as f32 / n))
                .collect(),
        }
    }

    #[test]
    fn rows_join_with_spaces_and_lines_with_newlines() {
        let lines = vec![
            line("555 0100", 300.0, 21.0),
            line("Call +1 415", 100.0, 20.0),
            line("Bye", 80.0, 60.0),
        ];
        let (text, places) = layout(&lines);
        assert_eq!(text, "Call +1 415 555 0100\nBye");
        assert_eq!(places, vec![(1, 0), (0, 12), (2, 21)]);
    }

    #[test]
    fn options_and_their_errors() {
        let mut o = ImageOptions::default();
        o.apply(
            &serde_json::json!({"faceBlur": false, "blur": "fill", "faceThreshold": 0.3}),
            "piiConfig.image",
        )
        .unwrap();
        assert_eq!(
            o,
            ImageOptions {
                face_blur: false,
                blur: Blur::Fill,
                face_threshold: 0.3,
                ..Default::default()
            }
        );
        for bad in [
            serde_json::json!({"blur": "smudge"}),
            serde_json::json!({"faceThreshold": 3}),
            serde_json::json!({"ocr": "yes"}),
            serde_json::json!({"faces": true}),
        ] {
            let key = bad.as_object().unwrap().keys().next().unwrap().clone();
            let err = o.apply(&bad, "piiConfig.image").unwrap_err();
            assert_eq!(err.openai_body()["error"]["param"], format!("piiConfig.image.{key}"));
        }
    }
}
