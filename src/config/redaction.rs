//! The `[redaction]` section: the text pipeline's defaults, its models and
//! the operator's word lists.

use serde::Deserialize;

use super::yes;

/// `[redaction]`: the text pipeline's defaults and its models.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// Off: requests are forwarded as they are (not recommended).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Entity types redacted when a request names none; empty: all.
    #[serde(default)]
    pub entities: Vec<String>,
    /// Findings scored below this are ignored (requests may override).
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// `placeholder`, `mask`, `hash` or `remove`.
    #[serde(default)]
    pub operator: crate::redact::pipeline::Operator,
    /// Run the NER model (PERSON, LOCATION, ORGANIZATION).
    #[serde(default = "yes")]
    pub ner: bool,
    /// Folder with `model.int8.onnx`, `tokenizer.json`, `labels.json`.
    #[serde(default = "default_ner_dir")]
    pub ner_model_dir: String,
    /// The ONNX Runtime shared library (`scripts/setup.sh` puts it here).
    #[serde(default = "default_onnxruntime")]
    pub onnxruntime_library: String,
    /// Model sessions kept (concurrent NER calls).
    #[serde(default = "default_ner_sessions")]
    pub ner_sessions: usize,
    /// Threads per model call.
    #[serde(default = "one")]
    pub ner_threads: usize,
    /// Texts whose NER findings are remembered (conversations resend
    /// their history every turn); 0 turns the cache off.
    #[serde(default = "default_ner_cache_entries")]
    pub ner_cache_entries: usize,
    /// Redaction jobs running at once on the blocking pool; others wait.
    #[serde(default = "default_ner_sessions")]
    pub max_concurrent: usize,
    /// Operator word lists: each value is redacted as `entity`.
    #[serde(default)]
    pub lists: Vec<RedactionList>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionList {
    pub entity: String,
    #[serde(default)]
    pub values: Vec<String>,
    /// A file with one value per line, read at start.
    #[serde(default)]
    pub file: String,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            entities: Vec::new(),
            threshold: default_threshold(),
            operator: Default::default(),
            ner: true,
            ner_model_dir: default_ner_dir(),
            onnxruntime_library: default_onnxruntime(),
            ner_sessions: default_ner_sessions(),
            ner_threads: 1,
            ner_cache_entries: default_ner_cache_entries(),
            max_concurrent: default_ner_sessions(),
            lists: Vec::new(),
        }
    }
}

fn default_threshold() -> f32 {
    0.5
}
fn default_ner_dir() -> String {
    "models/ner".into()
}
fn default_onnxruntime() -> String {
    ".cache/models/libonnxruntime.so.1.32.0".into()
}
fn default_ner_sessions() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}
fn default_ner_cache_entries() -> usize {
    4096
}
fn one() -> usize {
    1
}
