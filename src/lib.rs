//! Veil: an OpenAI-compatible inference proxy that takes personal data out
//! of prompts before they reach a provider, meters every call against
//! prepaid credits, and relays streamed answers with the originals restored.
//!
//! # Layout
//!
//! The folders follow the request pipeline of `shared/DESIGN.md` §1:
//!
//! - [`config`] — TOML file + `VEIL_*` overrides → validated [`config::Config`].
//! - [`server`] — router, layer stack (documented there), handlers.
//! - [`auth`] — API keys (hashed, cached, batched `last_used_at`).
//! - [`limits`] — per-key RPM/TPM/daily limits.
//! - [`billing`] — the prepaid credit ledger (holds, settlement, flat charges).
//! - [`clock`] — time as a dependency, so tests control it.
//! - [`redact`] — personal data out, originals back (the `RequestRedactor` seam).
//! - [`upstream`] — providers (`echo`, OpenAI-compatible) and the model catalog.
//! - [`stream`] — the SSE relay: usage tap, in-band errors, `[DONE]`.
//! - [`sse`] — SSE parsing and encoding.
//! - [`tokens`] — tiktoken counting.
//! - [`store`] — SQLite connection and migrations.
//! - [`error`] — `ApiError`, the one error type of request paths.
//! - [`state`] — `AppState`, what every handler shares.
//! - [`admin`] — the operations behind the `veil keys ...` commands.

pub mod admin;
pub mod auth;
pub mod billing;
pub mod clock;
pub mod config;
pub mod error;
pub mod ids;
pub mod limits;
pub mod redact;
pub mod server;
pub mod sse;
pub mod state;
pub mod store;
pub mod stream;
pub mod tokens;
pub mod upstream;
