//! Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, ...):
//! `POST {base_url}/chat/completions`, JSON or SSE back.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;

use super::{EventStream, UpstreamError};
use crate::config::ProviderConfig;
use crate::sse::SseParser;

/// The one HTTP client every provider shares (pooled keep-alive connections).
pub fn build_client(connect_timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .user_agent(concat!("veil/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

pub struct OpenAiProvider {
    /// Parsed once; reqwest would parse a string URL on every request.
    url: reqwest::Url,
    api_key: Option<String>,
    client: reqwest::Client,
    pub(super) timeout: Duration,
    pub(super) request_usage: bool,
}

impl OpenAiProvider {
    /// Reads the API key from the environment variable the config names.
    pub fn new(config: &ProviderConfig, client: reqwest::Client) -> anyhow::Result<Self> {
        let api_key = if config.api_key_env.is_empty() {
            None
        } else {
            match std::env::var(&config.api_key_env) {
                Ok(key) if !key.is_empty() => Some(key),
                _ => {
                    tracing::warn!(
                        provider = %config.name,
                        env = %config.api_key_env,
                        "api_key_env is not set; calling the provider without a key"
                    );
                    None
                }
            }
        };
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        Ok(Self {
            url: reqwest::Url::parse(&url)
                .map_err(|e| anyhow::anyhow!("providers.{}.base_url: {e}", config.name))?,
            api_key,
            client,
            timeout: Duration::from_secs_f64(config.timeout_secs),
            request_usage: config.request_usage,
        })
    }

    async fn send(
        &self,
        request: &Value,
        stream: bool,
    ) -> Result<reqwest::Response, UpstreamError> {
        let body =
            serde_json::to_vec(request).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let mut builder = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, if stream { "text/event-stream" } else { "application/json" })
            .body(body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = tokio::time::timeout(self.timeout, builder.send())
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            let body = tokio::time::timeout(self.timeout, response.bytes())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            return Err(UpstreamError::Status { status, body });
        }
        Ok(response)
    }

    /// The answer's body as sent (checked by the caller).
    pub async fn complete(&self, request: &Value) -> Result<Bytes, UpstreamError> {
        let response = self.send(request, false).await?;
        tokio::time::timeout(self.timeout, response.bytes())
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(classify)
    }

    pub async fn stream(&self, request: &Value) -> Result<EventStream, UpstreamError> {
        let response = self.send(request, true).await?;
        Ok(sse_events(response.bytes_stream(), self.timeout))
    }
}

fn classify(err: reqwest::Error) -> UpstreamError {
    if err.is_timeout() { UpstreamError::Timeout } else { UpstreamError::Connect(err.to_string()) }
}

/// Turns a byte stream into SSE data payloads. Ends at `[DONE]`; a gap
/// longer than `idle` between chunks, a transport error or an end without
/// `[DONE]` is the stream's last item, as an error.
pub fn sse_events<S>(bytes: S, idle: Duration) -> EventStream
where
    S: futures_util::Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
{
    struct State<S> {
        bytes: std::pin::Pin<Box<S>>,
        parser: SseParser,
        finished: bool,
    }
    let state = State { bytes: Box::pin(bytes), parser: SseParser::new(), finished: false };
    Box::pin(futures_util::stream::unfold(state, move |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            if let Some(event) = st.parser.next_event() {
                if &event.data[..] == b"[DONE]" {
                    return None;
                }
                return Some((Ok(event.data), st));
            }
            let failure = match tokio::time::timeout(idle, st.bytes.next()).await {
                Ok(Some(Ok(chunk))) => match st.parser.push(&chunk) {
                    Ok(()) => continue,
                    Err(e) => UpstreamError::Protocol(e.to_string()),
                },
                Ok(Some(Err(e))) => UpstreamError::Interrupted(e.to_string()),
                Err(_) => UpstreamError::Interrupted("idle timeout".into()),
                Ok(None) => match st.parser.finish() {
                    Some(event) if &event.data[..] == b"[DONE]" => return None,
                    Some(event) => {
                        // The stream's last event, then the missing `[DONE]`.
                        st.parser = SseParser::new();
                        return Some((Ok(event.data), st));
                    }
                    None => UpstreamError::Truncated,
                },
            };
            st.finished = true;
            return Some((Err(failure), st));
        }
    }))
}
