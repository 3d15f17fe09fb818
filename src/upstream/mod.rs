//! Model providers: the built-in `echo` and any OpenAI-compatible server,
//! behind one [`Provider`] enum, plus the model [`Catalog`] from config.
//!
//! A provider answers a chat request either as one JSON body or as an
//! [`EventStream`] of SSE `data` payloads (the `[DONE]` terminator is not
//! an item: the stream ends there). Failures before the first byte are
//! [`UpstreamError`]s that the handler maps to HTTP errors; failures after it
//! are items of the stream.

pub mod echo;
pub mod openai;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value;

use crate::config::{Config, ProviderKind};
use crate::error::ApiError;

/// SSE `data` payloads from a provider, in order, without `[DONE]`.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach the provider: {0}")]
    Connect(String),
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider answered {status}")]
    Status { status: StatusCode, body: Bytes },
    #[error("the provider sent an unusable answer: {0}")]
    Protocol(String),
    /// The stream broke after it started (reset, idle timeout).
    #[error("the provider's stream broke: {0}")]
    Interrupted(String),
    /// The stream ended without `[DONE]`.
    #[error("the provider's stream ended early")]
    Truncated,
}

impl UpstreamError {
    /// The HTTP error for a failure before the first byte. A provider's own
    /// 4xx is relayed with its status and message; its 401/403 mean the
    /// proxy's upstream credentials are wrong, which is not the client's
    /// fault, so they become 502 like any 5xx.
    pub fn into_api_error(self) -> ApiError {
        match self {
            Self::Timeout => ApiError::UpstreamTimeout,
            Self::Status { status, body }
                if status.is_client_error()
                    && status != StatusCode::UNAUTHORIZED
                    && status != StatusCode::FORBIDDEN =>
            {
                relayed_error(status, &body)
            }
            other => ApiError::Upstream(other.to_string()),
        }
    }
}

fn relayed_error(status: StatusCode, body: &[u8]) -> ApiError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = parsed.get("error");
    let field =
        |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str).map(str::to_owned);
    let code = error.and_then(|e| e.get("code")).and_then(|c| match c {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    ApiError::UpstreamRejected {
        status,
        message: field("message")
            .unwrap_or_else(|| format!("The upstream provider refused the request ({status}).")),
        kind: field("type").unwrap_or_else(|| "invalid_request_error".into()),
        param: field("param"),
        code: code.or_else(|| Some("upstream_error".into())),
    }
}

/// One configured provider.
pub enum Provider {
    Echo(echo::EchoProvider),
    OpenAi(openai::OpenAiProvider),
}

impl Provider {
    /// A non-streamed completion: the `chat.completion` body as sent.
    pub async fn complete(&self, request: &Value) -> Result<Bytes, UpstreamError> {
        match self {
            Self::Echo(p) => Ok(Bytes::from(p.complete(request).to_string())),
            Self::OpenAi(p) => p.complete(request).await,
        }
    }

    /// A streamed completion; returns once the provider accepted the request.
    pub async fn stream(&self, request: &Value) -> Result<EventStream, UpstreamError> {
        match self {
            Self::Echo(p) => Ok(p.stream(request)),
            Self::OpenAi(p) => p.stream(request).await,
        }
    }

    /// Whether streams should ask for `stream_options.include_usage`.
    pub fn requests_usage(&self) -> bool {
        match self {
            Self::Echo(_) => true,
            Self::OpenAi(p) => p.request_usage,
        }
    }

    /// Longest wait for the first streamed event.
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Echo(_) => Duration::from_secs(60),
            Self::OpenAi(p) => p.timeout,
        }
    }
}

/// Price of a model in micro-USD per million tokens (integer, exact to
/// 1e-6 USD per Mtok).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub input_micro_per_mtok: u64,
    pub output_micro_per_mtok: u64,
}

impl Price {
    pub fn from_usd_per_mtok(input: f64, output: f64) -> Self {
        let micro = |usd: f64| (usd * 1_000_000.0).round() as u64;
        Self { input_micro_per_mtok: micro(input), output_micro_per_mtok: micro(output) }
    }

    /// Cost in micro-USD, rounded up so fractions are never given away.
    pub fn cost_micro_usd(&self, prompt_tokens: u64, completion_tokens: u64) -> i64 {
        let total = u128::from(prompt_tokens) * u128::from(self.input_micro_per_mtok)
            + u128::from(completion_tokens) * u128::from(self.output_micro_per_mtok);
        i64::try_from(total.div_ceil(1_000_000)).unwrap_or(i64::MAX)
    }
}

/// A model clients may name.
pub struct Model {
    pub id: String,
    pub upstream_model: String,
    pub provider: Arc<Provider>,
    pub provider_name: String,
    pub price: Price,
    pub max_output_tokens: u32,
}

/// The models of the configuration, in config order.
pub struct Catalog {
    models: Vec<Arc<Model>>,
    by_id: HashMap<String, Arc<Model>>,
    /// Unix time reported as `created` for every model.
    pub created: i64,
}

impl Catalog {
    /// Builds providers (one shared HTTP client with connection pooling) and
    /// the models that point at them.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let client = openai::build_client(Duration::from_secs_f64(
            config.server.upstream_connect_timeout_secs,
        ))?;
        let mut providers = HashMap::new();
        for p in &config.providers {
            let provider = match p.kind {
                ProviderKind::Echo => Provider::Echo(echo::EchoProvider),
                ProviderKind::Openai => {
                    Provider::OpenAi(openai::OpenAiProvider::new(p, client.clone())?)
                }
            };
            providers.insert(p.name.clone(), Arc::new(provider));
        }
        let mut models = Vec::new();
        for m in &config.models {
            let provider = providers
                .get(&m.provider)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("models: no provider `{}`", m.provider))?;
            models.push(Arc::new(Model {
                id: m.id.clone(),
                upstream_model: m.upstream_model.clone(),
                provider,
                provider_name: m.provider.clone(),
                price: Price::from_usd_per_mtok(m.input_usd_per_mtok, m.output_usd_per_mtok),
                max_output_tokens: m.max_output_tokens,
            }));
        }
        let by_id = models.iter().map(|m| (m.id.clone(), m.clone())).collect();
        Ok(Self { models, by_id, created: chrono::Utc::now().timestamp() })
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Model>> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.models.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_integer_and_round_up() {
        let price = Price::from_usd_per_mtok(0.15, 0.60);
        assert_eq!(price.input_micro_per_mtok, 150_000);
        // 1 prompt token at $0.15/Mtok is 0.15 micro-USD: charged as 1.
        assert_eq!(price.cost_micro_usd(1, 0), 1);
        assert_eq!(price.cost_micro_usd(1_000_000, 1_000_000), 750_000);
        assert_eq!(Price::from_usd_per_mtok(0.0, 0.0).cost_micro_usd(10, 10), 0);
    }

    #[test]
    fn provider_4xx_is_relayed_and_401_is_not() {
        let body = Bytes::from_static(br#"{"error":{"message":"bad temperature","type":"invalid_request_error","param":"temperature","code":null}}"#);
        let err = UpstreamError::Status { status: StatusCode::BAD_REQUEST, body: body.clone() }
            .into_api_error();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let json = err.openai_body();
        assert_eq!(json["error"]["message"], "bad temperature");
        assert_eq!(json["error"]["param"], "temperature");
        let err = UpstreamError::Status { status: StatusCode::UNAUTHORIZED, body }.into_api_error();
        assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
        let err =
            UpstreamError::Status { status: StatusCode::SERVICE_UNAVAILABLE, body: Bytes::new() };
        assert_eq!(err.into_api_error().code(), "upstream_error");
        assert_eq!(UpstreamError::Timeout.into_api_error().status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
