//! Personal data out of requests, originals back into answers. The text
//! redaction issue fills this in; until then [`PassThrough`] changes nothing,
//! so the pipeline stage exists and is a no-op.

pub mod checksum;

use serde_json::Value;

use crate::error::ApiError;

/// Redacts a chat request in place and returns what restores the answer.
pub trait RequestRedactor: Send + Sync {
    fn redact(&self, request: &mut serde_json::Map<String, Value>) -> Result<Restorer, ApiError>;
}

/// Puts original values back into an answer; empty when nothing was redacted.
#[derive(Debug, Clone, Default)]
pub struct Restorer {}

impl Restorer {
    /// Whether answers need any rewriting at all.
    pub fn is_empty(&self) -> bool {
        true
    }
}

/// Forwards requests unchanged.
pub struct PassThrough;

impl RequestRedactor for PassThrough {
    fn redact(&self, _request: &mut serde_json::Map<String, Value>) -> Result<Restorer, ApiError> {
        Ok(Restorer::default())
    }
}
