//! Personal data out of requests, originals back into answers (DESIGN §6).
//!
//! - [`entity`]: the entity types and findings;
//! - [`patterns`]: regex + validation rules ([`checksum`] holds the checks);
//! - [`dictionary`]: operator lists and a request's allow/deny values;
//! - [`ner`]: PERSON/LOCATION/ORGANIZATION with an ONNX model;
//! - [`pipeline`]: recognizers → merge → operator, numbered per request;
//! - [`request`]: which strings of a chat request are text, the extension
//!   fields, and answer restoration;
//! - [`restore`]: placeholders back to originals, also across stream chunks.

pub mod cache;
pub mod checksum;
pub mod dictionary;
pub mod document;
pub mod entity;
mod gate;
pub mod ner;
pub mod patterns;
pub mod pipeline;
pub mod request;
pub mod restore;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::media::{Media, RedactedImage};
use entity::{EntitySet, Finding};
use pipeline::{Pipeline, Session, TextConfig};
use request::{Defaults, Options, PrivacyMode};
use restore::Restorer;

/// Why redaction could not run. Carries no text of the request.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("redaction setup failed: {0}")]
    Setup(String),
    #[error("NER model failed: {0}")]
    Model(String),
}

impl RedactError {
    /// Fail closed: the request is refused, never forwarded as it is.
    pub fn into_api_error(self) -> ApiError {
        tracing::error!(error = %self, "redaction failed; request refused");
        ApiError::Internal("redaction failed".into())
    }
}

/// A recognizer: pure and synchronous, text in, findings out (byte
/// offsets into `text`).
pub trait Redactor: Send + Sync {
    fn find(
        &self,
        text: &str,
        wanted: EntitySet,
        out: &mut Vec<Finding>,
    ) -> Result<(), RedactError>;

    /// Several texts at once (NER batches them).
    fn find_batch(
        &self,
        texts: &[&str],
        wanted: EntitySet,
    ) -> Result<Vec<Vec<Finding>>, RedactError> {
        texts
            .iter()
            .map(|t| {
                let mut out = Vec::new();
                self.find(t, wanted, &mut out).map(|()| out)
            })
            .collect()
    }
}

/// [`Redactor::find`] for a recognizer that works on batches.
fn find_one<R: Redactor + ?Sized>(
    redactor: &R,
    text: &str,
    wanted: EntitySet,
    out: &mut Vec<Finding>,
) -> Result<(), RedactError> {
    let mut found = redactor.find_batch(&[text], wanted)?;
    out.append(&mut found.pop().unwrap_or_default());
    Ok(())
}

/// What redacting one request produced.
pub struct Redaction {
    /// Puts originals back into the answer (empty in strict mode).
    pub restorer: Arc<Restorer>,
    pub mode: PrivacyMode,
    /// The client asked to skip redaction; recorded on the ledger entry.
    pub skipped: bool,
    /// Values replaced in the request.
    pub replaced: usize,
    /// Strict mode scans the answer with the request's own numbering.
    pub strict: Option<Mutex<Session>>,
}

impl Redaction {
    fn untouched(skipped: bool) -> Self {
        Self {
            restorer: Arc::default(),
            mode: PrivacyMode::Standard,
            skipped,
            replaced: 0,
            strict: None,
        }
    }

    /// Strict mode: redacts answer text in place (nothing restored).
    pub fn scan_answer(&self, text: &mut String) -> Result<(), ApiError> {
        let Some(session) = &self.strict else { return Ok(()) };
        let mut session =
            session.lock().map_err(|_| ApiError::internal("strict session poisoned"))?;
        let (redacted, _) = session.redact(text).map_err(RedactError::into_api_error)?;
        *text = redacted;
        Ok(())
    }
}

/// One text of a request with what was found in it.
pub struct Analyzed {
    /// The original text.
    pub text: String,
    /// Where it is in the request (`messages[0].content`).
    pub location: String,
    pub findings: Vec<Finding>,
}

/// Redacts a chat request in place and returns what restores the answer.
pub trait RequestRedactor: Send + Sync {
    fn redact(&self, request: &mut Map<String, Value>) -> Result<Redaction, ApiError>;
}

/// Forwards requests unchanged (redaction turned off in config).
pub struct PassThrough;

impl RequestRedactor for PassThrough {
    fn redact(&self, request: &mut Map<String, Value>) -> Result<Redaction, ApiError> {
        let options = Options::parse(request, &Defaults::default())?;
        Ok(Redaction::untouched(options.skip))
    }
}

/// The redactor of `/v1/chat/completions`.
pub struct ChatRedactor {
    pub pipeline: Arc<Pipeline>,
    pub defaults: Defaults,
    /// Face and OCR models; `None`: images are refused.
    pub media: Option<Arc<Media>>,
}

/// One image of a request, redacted.
pub struct AnalyzedImage {
    /// Where it is in the request (`messages[0].content[1].image_url`).
    pub location: String,
    pub image: RedactedImage,
}

/// What [`ChatRedactor::redact_texts`] found: every text analyzed (the
/// pages and parts of documents each on their own) and the documents as
/// redacted, by the path of the text part that holds each.
#[derive(Default)]
pub struct RedactedTexts {
    pub analyzed: Vec<Analyzed>,
    pub documents: std::collections::HashMap<String, document::RedactedDocument>,
}

impl ChatRedactor {
    /// Redacts every text of the request in one session, in request order
    /// (so placeholders are numbered in it); the texts at the paths of
    /// `docs` are documents, redacted piece by piece. Fails closed.
    pub fn redact_texts(
        &self,
        session: &mut Session,
        body: &mut Map<String, Value>,
        docs: &document::Documents,
    ) -> Result<RedactedTexts, ApiError> {
        let mut texts = Vec::new();
        let mut locations = Vec::new();
        request::visit_texts(body, &mut |path, s| {
            match docs.get(path) {
                Some(doc) => {
                    for (text, location) in doc.texts() {
                        texts.push(text.to_owned());
                        locations.push(location.to_owned());
                    }
                }
                None => {
                    texts.push(s.clone());
                    locations.push(path.to_owned());
                }
            }
            Ok(())
        })?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let findings = session.analyze(&refs).map_err(RedactError::into_api_error)?;
        let mut at = 0;
        let mut documents = std::collections::HashMap::new();
        request::visit_texts(body, &mut |path, s| {
            match docs.get(path) {
                Some(doc) => {
                    let n = doc.texts().count();
                    let found = findings.get(at..at + n).ok_or_else(|| {
                        ApiError::internal("request texts changed between passes")
                    })?;
                    let redacted = doc.render(session, found);
                    s.clone_from(&redacted.text);
                    documents.insert(path.to_owned(), redacted);
                    at += n;
                }
                None => {
                    let (text, found) = texts.get(at).zip(findings.get(at)).ok_or_else(|| {
                        ApiError::internal("request texts changed between passes")
                    })?;
                    *s = session.apply(text, found);
                    at += 1;
                }
            }
            Ok(())
        })?;
        let analyzed = texts
            .into_iter()
            .zip(locations)
            .zip(findings)
            .map(|((text, location), findings)| Analyzed { text, location, findings })
            .collect();
        Ok(RedactedTexts { analyzed, documents })
    }
}

impl ChatRedactor {
    /// Redacts every image part in place: its `url` becomes a data URL of
    /// the redacted image. Remote URLs must have been fetched into data
    /// URLs before ([`crate::media::remote`]); what is left is refused.
    pub fn redact_images(
        &self,
        session: &Session,
        body: &mut Map<String, Value>,
        options: &crate::media::ImageOptions,
    ) -> Result<Vec<AnalyzedImage>, ApiError> {
        let mut out = Vec::new();
        request::visit_images(body, &mut |path, url| {
            let media = self.media.as_ref().ok_or_else(|| {
                ApiError::validation(
                    path,
                    "Images cannot be redacted on this server ([media] is turned off), so the request was not forwarded. Send text, or set skip_pii_redaction.",
                )
            })?;
            let (_, bytes) = crate::media::raster::parse_data_url(url)
                .map_err(|e| e.into_api_error(&format!("{path}.url")))?;
            let image = media
                .redact_image(&bytes, options, session)
                .map_err(|e| e.into_api_error(&format!("{path}.url")))?;
            *url = image.data_url();
            out.push(AnalyzedImage { location: path.to_owned(), image });
            Ok(())
        })?;
        Ok(out)
    }
}

impl RequestRedactor for ChatRedactor {
    fn redact(&self, body: &mut Map<String, Value>) -> Result<Redaction, ApiError> {
        let options = Options::parse(body, &self.defaults)?;
        if options.skip {
            return Ok(Redaction::untouched(true));
        }
        let docs = document::expand(body, &options.pdf, self.media.as_deref())?;
        let mut session = self.pipeline.session(options.text);
        let texts = self.redact_texts(&mut session, body, &docs)?;
        let images = self.redact_images(&session, body, &options.image)?;
        let replaced = texts.analyzed.iter().map(|t| t.findings.len()).sum::<usize>()
            + images.iter().map(|i| i.image.findings.len()).sum::<usize>();
        Ok(match options.mode {
            PrivacyMode::Standard => Redaction {
                restorer: Arc::new(session.restorer()),
                mode: options.mode,
                skipped: false,
                replaced,
                strict: None,
            },
            PrivacyMode::Strict => Redaction {
                restorer: Arc::default(),
                mode: options.mode,
                skipped: false,
                replaced,
                strict: Some(Mutex::new(session)),
            },
        })
    }
}

/// Finds a bundled file: as given, else next to the crate's sources (so the
/// binary works from any directory of a checkout).
pub fn resolve(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
    if bundled.exists() { bundled } else { p.to_path_buf() }
}

/// The deployment's default text settings from `[redaction]`.
pub fn default_text_config(config: &crate::config::RedactionConfig) -> anyhow::Result<TextConfig> {
    let mut entities = EntitySet::all();
    if !config.entities.is_empty() {
        entities = EntitySet::empty();
        for name in &config.entities {
            let entity = entity::Entity::parse(name).ok_or_else(|| {
                anyhow::anyhow!("redaction.entities: unknown entity type {name:?}")
            })?;
            entities.insert(entity);
        }
    }
    if !(0.0..=1.0).contains(&config.threshold) {
        anyhow::bail!("redaction.threshold: must be from 0 to 1");
    }
    Ok(TextConfig {
        entities,
        threshold: config.threshold,
        operator: config.operator,
        ..TextConfig::default()
    })
}

/// Builds the pipeline: pattern rules, operator lists and (unless turned
/// off) the NER model. A missing model or runtime is a startup error that
/// says how to get it, not a failure at the first request.
pub fn build_pipeline(
    config: &crate::config::RedactionConfig,
    hash_key: Vec<u8>,
) -> anyhow::Result<Arc<Pipeline>> {
    let mut lists = Vec::new();
    for (i, list) in config.lists.iter().enumerate() {
        let entity = entity::Entity::parse(&list.entity).ok_or_else(|| {
            anyhow::anyhow!("redaction.lists[{i}].entity: unknown entity type {:?}", list.entity)
        })?;
        lists.extend(list.values.iter().map(|v| (entity, v.clone())));
        if !list.file.is_empty() {
            let text = std::fs::read_to_string(&list.file).map_err(|e| {
                anyhow::anyhow!("redaction.lists[{i}].file: cannot read {}: {e}", list.file)
            })?;
            lists.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| (entity, l.to_owned())),
            );
        }
    }
    let ner: Option<Arc<dyn Redactor>> = if config.enabled && config.ner {
        let started = std::time::Instant::now();
        let library = resolve(&config.onnxruntime_library);
        let runtime = ner::runtime(&library)?;
        let dir = resolve(&config.ner_model_dir);
        let model = ner::Ner::load(runtime, &dir, config.ner_sessions, config.ner_threads)?;
        tracing::info!(
            dir = %dir.display(),
            sessions = config.ner_sessions,
            common_words = model.common_words(),
            ms = started.elapsed().as_millis() as u64,
            "NER model loaded"
        );
        Some(Arc::new(cache::Cached::new(model, EntitySet::ner(), config.ner_cache_entries)))
    } else {
        None
    };
    Ok(Arc::new(Pipeline::new(ner, lists, hash_key)?))
}

/// What a file is, by its first bytes: `text`, `an image`, `a PDF` or
/// `binary data`.
pub fn sniff(bytes: &[u8]) -> &'static str {
    const IMAGES: [&[u8]; 5] = [b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"BM"];
    if bytes.starts_with(b"%PDF-") {
        "a PDF"
    } else if IMAGES.iter().any(|m| bytes.starts_with(m)) {
        "an image"
    } else if std::str::from_utf8(bytes).is_ok() {
        "text"
    } else {
        "binary data"
    }
}

/// The char boundary at or before byte `i` of `text`.
pub(crate) fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The char boundary at or after byte `i` of `text` (at most its length).
pub(crate) fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i.min(text.len())
}
