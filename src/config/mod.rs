//! Configuration: one TOML file, overridden key by key from `VEIL_*` variables,
//! validated before anything starts.
//!
//! `VEIL_<SECTION>__<KEY>` sets `section.key` (`VEIL_LISTEN` sets `listen`,
//! `VEIL_PLANS__FREE__RPM` sets `plans.free.rpm`, `VEIL_PROVIDERS__0__BASE_URL`
//! sets `providers[0].base_url`). Unknown keys and bad values stop startup with
//! a message naming the key. Secrets never live here: providers name the
//! environment variable that holds their API key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

mod billing;
mod env;
mod media;
mod redaction;
mod server;

pub use billing::{BillingConfig, PackConfig, StripeConfig};
use env::{apply_env, name_override};
pub use media::MediaConfig;
pub use redaction::{RedactionConfig, RedactionList};
pub use server::{AuthConfig, LimitsConfig, ServerConfig};

/// Environment variables starting with `VEIL_` that are not config overrides.
pub const RESERVED_ENV: &[&str] = &["VEIL_CONFIG", "VEIL_LOG", "VEIL_KEY_PEPPER"];

/// Why the configuration was refused; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: String, message: String },
    #[error("invalid config key `{key}`: {message}")]
    Key { key: String, message: String },
}

fn key_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Key { key: key.into(), message: message.into() }
}

/// The validated configuration of one Veil process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP listener.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `sqlite://PATH` (embedded) or `postgres://...`.
    #[serde(default = "default_database_url")]
    pub database_url: DatabaseUrl,
    /// Connections in the PostgreSQL pool of one process (ignored on SQLite).
    #[serde(default = "default_database_max_connections")]
    pub database_max_connections: usize,
    /// Empty: limits are kept in process.
    #[serde(default)]
    pub redis_url: String,
    /// Print one test key (with test credits) when the store has no key at all.
    #[serde(default = "yes")]
    pub bootstrap_key: bool,
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    #[serde(default = "default_plans")]
    pub plans: BTreeMap<String, PlanConfig>,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub billing: BillingConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub redaction: RedactionConfig,
    #[serde(default)]
    pub media: MediaConfig,
}

/// A database URL whose password never reaches a log through `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.split_once("://") {
            Some((scheme, _)) => write!(f, "{scheme}://***"),
            None => f.write_str("***"),
        }
    }
}

impl DatabaseUrl {
    /// The URL without its user and password, for messages.
    pub fn without_credentials(&self) -> String {
        match self.0.split_once("://") {
            Some((scheme, rest)) => {
                let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
                let start = rest[..host_end].rfind('@').map_or(0, |at| at + 1);
                format!("{scheme}://{}", &rest[start..])
            }
            None => "***".into(),
        }
    }

    /// The SQLite file path of a `sqlite://` URL.
    pub fn sqlite_path(&self) -> Option<&str> {
        self.0.strip_prefix("sqlite://")
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible HTTP server.
    Openai,
    /// The built-in deterministic provider.
    Echo,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Required for `openai`: the URL that ends before `/chat/completions`.
    #[serde(default)]
    pub base_url: String,
    /// Name of the environment variable holding the provider's API key.
    #[serde(default)]
    pub api_key_env: String,
    /// Longest wait for the first byte, and between two stream chunks.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// Ask for `stream_options.include_usage` upstream so usage is exact.
    #[serde(default = "yes")]
    pub request_usage: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What clients send as `model`.
    pub id: String,
    pub provider: String,
    /// What the provider receives; defaults to `id`.
    #[serde(default)]
    pub upstream_model: String,
    #[serde(default)]
    pub input_usd_per_mtok: f64,
    #[serde(default)]
    pub output_usd_per_mtok: f64,
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
}

/// Limits of a plan; keys may override each of them.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    pub rpm: u32,
    pub tpm: u64,
    pub daily_requests: u64,
}

pub(super) fn yes() -> bool {
    true
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_database_max_connections() -> usize {
    16
}
fn default_database_url() -> DatabaseUrl {
    DatabaseUrl("sqlite://veil.db".into())
}
fn default_timeout_secs() -> f64 {
    600.0
}
fn default_max_output_tokens() -> u32 {
    4096
}

fn default_plans() -> BTreeMap<String, PlanConfig> {
    BTreeMap::from([
        ("free".into(), PlanConfig { rpm: 60, tpm: 100_000, daily_requests: 10_000 }),
        ("pro".into(), PlanConfig { rpm: 600, tpm: 2_000_000, daily_requests: 200_000 }),
        (
            "enterprise".into(),
            PlanConfig { rpm: 6_000, tpm: 20_000_000, daily_requests: 5_000_000 },
        ),
    ])
}

impl Config {
    /// Where users reach this server (for redirect URLs).
    pub fn public_url(&self) -> String {
        if self.server.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.server.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// Reads the file (if any), applies `VEIL_*` overrides from the process
    /// environment, then validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`Config::load`], with the environment given (tests use this).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse { path: shown, message: e.to_string() })?
            }
            None => toml::Table::new(),
        };
        let overrides = apply_env(&mut table, env)?;
        Self::from_table(table).map_err(|err| name_override(err, &overrides))
    }

    /// Deserializes and validates an already assembled table.
    pub fn from_table(mut table: toml::Table) -> Result<Self, ConfigError> {
        merge_plan_defaults(&mut table);
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let path = e.path().to_string();
                key_error(if path == "." { "(root)".into() } else { path }, e.inner().to_string())
            })?;
        config.fill_defaults();
        config.validate()?;
        Ok(config)
    }

    /// With no provider and no model configured, two echo models are served.
    fn fill_defaults(&mut self) {
        if self.providers.is_empty() && self.models.is_empty() {
            self.providers.push(ProviderConfig {
                name: "echo".into(),
                kind: ProviderKind::Echo,
                base_url: String::new(),
                api_key_env: String::new(),
                timeout_secs: default_timeout_secs(),
                request_usage: true,
            });
            for (id, input, output) in [("echo", 0.15, 0.60), ("echo-large", 2.50, 10.00)] {
                self.models.push(ModelConfig {
                    id: id.into(),
                    provider: "echo".into(),
                    upstream_model: String::new(),
                    input_usd_per_mtok: input,
                    output_usd_per_mtok: output,
                    max_output_tokens: default_max_output_tokens(),
                });
            }
        }
        for model in &mut self.models {
            if model.upstream_model.is_empty() {
                model.upstream_model = model.id.clone();
            }
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen.parse::<SocketAddr>().map_err(|e| {
            key_error("listen", format!("`{}` is not an address: {e}", self.listen))
        })?;
        let url = &self.database_url.0;
        if !(url.starts_with("sqlite://")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(key_error("database_url", "must start with sqlite:// or postgres://"));
        }
        if !(self.redis_url.is_empty()
            || self.redis_url.starts_with("redis://")
            || self.redis_url.starts_with("rediss://"))
        {
            return Err(key_error(
                "redis_url",
                "must be empty or start with redis:// or rediss://",
            ));
        }
        self.media.fetch_policy().map_err(|(key, e)| key_error(key, e))?;
        if !(0.0..=1.0).contains(&self.media.pdf_withhold_page_above) {
            return Err(key_error("media.pdf_withhold_page_above", "must be from 0 to 1"));
        }
        if self.media.pdf_max_pages == 0 {
            return Err(key_error("media.pdf_max_pages", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.media.face_threshold) {
            return Err(key_error("media.face_threshold", "must be from 0 to 1"));
        }
        if self.database_max_connections == 0 {
            return Err(key_error("database_max_connections", "must be at least 1"));
        }
        if self.database_url.sqlite_path().is_some_and(str::is_empty) {
            return Err(key_error("database_url", "sqlite:// needs a file path"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let key = |field: &str| format!("providers[{i}].{field}");
            if p.name.is_empty() {
                return Err(key_error(key("name"), "must not be empty"));
            }
            if !names.insert(p.name.as_str()) {
                return Err(key_error(key("name"), format!("duplicate provider `{}`", p.name)));
            }
            if p.kind == ProviderKind::Openai
                && !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://"))
            {
                return Err(key_error(key("base_url"), "an http(s) URL is required"));
            }
            if !(p.timeout_secs.is_finite() && p.timeout_secs > 0.0) {
                return Err(key_error(key("timeout_secs"), "must be a positive number of seconds"));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let key = |field: &str| format!("models[{i}].{field}");
            if m.id.is_empty() {
                return Err(key_error(key("id"), "must not be empty"));
            }
            if !ids.insert(m.id.as_str()) {
                return Err(key_error(key("id"), format!("duplicate model `{}`", m.id)));
            }
            if !names.contains(m.provider.as_str()) {
                return Err(key_error(key("provider"), format!("no provider `{}`", m.provider)));
            }
            for (field, value) in [
                ("input_usd_per_mtok", m.input_usd_per_mtok),
                ("output_usd_per_mtok", m.output_usd_per_mtok),
            ] {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(key_error(key(field), "must be a non-negative price"));
                }
            }
            if m.max_output_tokens == 0 {
                return Err(key_error(key("max_output_tokens"), "must be at least 1"));
            }
        }
        if !self.plans.contains_key("free") {
            return Err(key_error("plans.free", "the `free` plan must be defined"));
        }
        for (name, plan) in &self.plans {
            for (field, value) in [
                ("rpm", u64::from(plan.rpm)),
                ("tpm", plan.tpm),
                ("daily_requests", plan.daily_requests),
            ] {
                if value == 0 {
                    return Err(key_error(format!("plans.{name}.{field}"), "must be at least 1"));
                }
            }
        }
        for (field, value) in [
            ("billing.preview_usd", self.billing.preview_usd),
            ("billing.bootstrap_test_usd", self.billing.bootstrap_test_usd),
        ] {
            if !(value.is_finite() && (0.0..=1e9).contains(&value)) {
                return Err(key_error(field, "must be a non-negative amount in USD"));
            }
        }
        if !(self.server.shutdown_grace_secs.is_finite() && self.server.shutdown_grace_secs >= 0.0)
        {
            return Err(key_error("server.shutdown_grace_secs", "must be a non-negative number"));
        }
        let mut pack_ids = std::collections::HashSet::new();
        for (i, pack) in self.billing.packs.iter().enumerate() {
            let key = |field: &str| format!("billing.packs[{i}].{field}");
            if pack.id.is_empty() || !pack_ids.insert(pack.id.as_str()) {
                return Err(key_error(key("id"), "must be present and unique"));
            }
            let cents = pack.price_usd * 100.0;
            if !(pack.price_usd.is_finite()
                && pack.price_usd >= 0.5
                && (cents - cents.round()).abs() < 1e-6)
            {
                return Err(key_error(
                    key("price_usd"),
                    "must be at least 0.50 and in whole cents",
                ));
            }
            if !(pack.credits_usd.is_finite() && pack.credits_usd > 0.0) {
                return Err(key_error(key("credits_usd"), "must be positive"));
            }
        }
        for (field, value) in [
            ("server.management_rpm", self.server.management_rpm),
            ("server.management_ip_rpm", self.server.management_ip_rpm),
        ] {
            if value == 0 {
                return Err(key_error(field, "must be at least 1"));
            }
        }
        for (i, origin) in self.server.cors_origins.iter().enumerate() {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(key_error(
                    format!("server.cors_origins[{i}]"),
                    "must be an origin like https://app.example.com",
                ));
            }
        }
        let connect = self.server.upstream_connect_timeout_secs;
        if !(connect.is_finite() && connect > 0.0) {
            return Err(key_error("server.upstream_connect_timeout_secs", "must be positive"));
        }
        if !(self.auth.last_used_flush_secs.is_finite() && self.auth.last_used_flush_secs > 0.0) {
            return Err(key_error("auth.last_used_flush_secs", "must be a positive number"));
        }
        Ok(())
    }
}

/// The built-in plans stay defined, and a plan that sets only some limits
/// keeps the built-in values of the others.
fn merge_plan_defaults(table: &mut toml::Table) {
    let plans = table.entry("plans").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(plans) = plans.as_table_mut() else { return };
    for (name, plan) in default_plans() {
        let entry = plans.entry(name).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(entry) = entry.as_table_mut() {
            let defaults = [
                ("rpm", i64::from(plan.rpm)),
                ("tpm", plan.tpm as i64),
                ("daily_requests", plan.daily_requests as i64),
            ];
            for (field, value) in defaults {
                entry.entry(field).or_insert(toml::Value::Integer(value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml_text.parse().map_err(|e: toml::de::Error| {
            ConfigError::Parse { path: "test".into(), message: e.to_string() }
        })?;
        let overrides =
            apply_env(&mut table, env.iter().map(|(k, v)| (k.to_string(), v.to_string())))?;
        Config::from_table(table).map_err(|e| name_override(e, &overrides))
    }

    #[test]
    fn empty_config_serves_two_echo_models_on_loopback() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(config.database_url.0, "sqlite://veil.db");
        assert_eq!(config.models.len(), 2);
        assert!(config.providers.iter().all(|p| p.kind == ProviderKind::Echo));
        assert!(config.bootstrap_key);
    }

    #[test]
    fn env_overrides_nested_keys_and_list_entries() {
        let text = r#"
            [[providers]]
            name = "local"
            kind = "openai"
            base_url = "http://127.0.0.1:9000/v1"
            [[models]]
            id = "m"
            provider = "local"
        "#;
        let config = load(
            text,
            &[
                ("VEIL_LISTEN", "0.0.0.0:9999"),
                ("VEIL_PLANS__FREE__RPM", "7"),
                ("VEIL_PROVIDERS__0__TIMEOUT_SECS", "1.5"),
                ("VEIL_CONFIG", "ignored.toml"),
            ],
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9999");
        assert_eq!(config.plans["free"].rpm, 7);
        assert_eq!(config.providers[0].timeout_secs, 1.5);
        assert_eq!(config.models[0].upstream_model, "m");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load("[server]\nmax_body = 3\n", &[]).unwrap_err().to_string();
        assert!(err.contains("server"), "{err}");
        assert!(err.contains("max_body"), "{err}");
        let err = load("", &[("VEIL_NOPE", "1")]).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("VEIL_NOPE"), "{err}");
        let err = load("", &[("VEIL_SERVER__MAX", "1")]).unwrap_err().to_string();
        assert!(err.contains("VEIL_SERVER__MAX"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let err = load("", &[("VEIL_PLANS__FREE__RPM", "many")]).unwrap_err().to_string();
        assert!(err.contains("plans.free.rpm") && err.contains("VEIL_PLANS__FREE__RPM"), "{err}");
        let err = load("listen = \"nowhere\"", &[]).unwrap_err().to_string();
        assert!(err.contains("`listen`"), "{err}");
        let err =
            load("[[providers]]\nname='p'\nkind='echo'\n[[models]]\nid='m'\nprovider='q'\n", &[])
                .unwrap_err()
                .to_string();
        assert!(err.contains("models[0].provider"), "{err}");
    }

    #[test]
    fn example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("veil.example.toml");
        let config = Config::load_with_env(Some(&path), Vec::new()).unwrap();
        assert_eq!(config.models.len(), 2);
        assert_eq!(config.providers[0].kind, ProviderKind::Openai);
    }

    #[test]
    fn database_url_debug_hides_credentials() {
        let url = DatabaseUrl("postgres://veil:hunter2@db/veil".into());
        assert_eq!(format!("{url:?}"), "postgres://***");
        assert_eq!(url.without_credentials(), "postgres://db/veil");
        let bare = DatabaseUrl("postgres://127.0.0.1:5432/veil?sslmode=disable".into());
        assert_eq!(bare.without_credentials(), "postgres://127.0.0.1:5432/veil?sslmode=disable");
    }
}
