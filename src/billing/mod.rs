//! Money: holds placed before forwarding and settled after. The metering
//! issue brings the ledger; until then [`FreeMeter`] holds and charges
//! nothing, so the pipeline stage exists and is a no-op.

use crate::error::ApiError;

/// Token counts of one finished (or interrupted) completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A placed hold, to settle once.
#[derive(Debug, Clone, Default)]
pub struct Hold {
    pub request_id: String,
    pub amount_micro_usd: i64,
}

pub trait Meter: Send + Sync {
    fn hold(&self, request_id: &str, amount_micro_usd: i64) -> Result<Hold, ApiError>;
    /// Charges `cost_micro_usd` and releases the rest; returns the charge.
    fn settle(&self, hold: &Hold, cost_micro_usd: i64, usage: Usage) -> Result<i64, ApiError>;
}

/// Charges nothing.
pub struct FreeMeter;

impl Meter for FreeMeter {
    fn hold(&self, request_id: &str, _amount: i64) -> Result<Hold, ApiError> {
        Ok(Hold { request_id: request_id.to_owned(), amount_micro_usd: 0 })
    }

    fn settle(&self, _hold: &Hold, _cost: i64, _usage: Usage) -> Result<i64, ApiError> {
        Ok(0)
    }
}
