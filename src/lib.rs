//! Veil: an OpenAI-compatible inference proxy that takes personal data out
//! of prompts before they reach a provider, meters every call against
//! prepaid credits, and relays streamed answers with the originals restored.
//!
//! # Layout
//!
//! The folders follow the request pipeline of `shared/DESIGN.md` §1:
//!
//! - [`config`] — TOML file + `VEIL_*` overrides → validated [`config::Config`].
//! - [`server`] — router, layer stack (documented there), handlers for
//!   `/v1/*` (API keys) and `/api/v1/*` (wallet signatures), CORS.
//! - [`auth`] — API keys (hashed, cached, batched `last_used_at`) and
//!   wallet signatures (EIP-191, nonces).
//! - [`limits`] — per-key RPM/TPM/daily limits: in process or on Redis.
//! - [`billing`] — the prepaid credit ledger (SQLite, PostgreSQL), money
//!   helpers, Stripe.
//! - [`redact`] — personal data out, originals back.
//! - [`upstream`] — providers (`echo`, OpenAI-compatible) and the model catalog.
//! - [`stream`] — the SSE relay: usage tap, in-band errors, `[DONE]`.
//! - [`sse`] — SSE parsing and encoding.
//! - [`media`] — images and PDFs: face blur, OCR redaction, metadata,
//!   page rules.
//! - [`fetch`] — the SSRF-guarded fetcher of remote media and `urls`.
//! - [`onnx`] — ONNX Runtime and model session pools.
//! - [`tokens`] — tiktoken counting.
//! - [`store`] — the SQLite connection, migrations, group commit, checkpoints.
//! - [`clock`] — time as a dependency, so tests control it.
//! - [`error`] — `ApiError`, the one error type of request paths.
//! - [`state`] — `AppState`, what every handler shares.
//! - [`admin`] — the operations behind `veil keys|credits|ledger`.

pub mod admin;
pub mod auth;
pub mod billing;
pub mod clock;
pub mod config;
pub mod error;
pub mod fetch;
pub mod ids;
pub mod limits;
pub mod media;
pub mod onnx;
pub mod redact;
pub mod server;
pub mod sse;
pub mod state;
pub mod store;
pub mod stream;
pub mod tokens;
pub mod upstream;
