//! Operator commands that act on the store directly (`veil keys ...`). They
//! print for humans; scripts rely on the documented last lines.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::auth::keys::{KeyMode, KeyStore, Scope, normalize_wallet};
use crate::auth::{KeyService, KeySpec};
use crate::config::Config;
use crate::state::open_store;

/// Options of `veil keys create`.
pub struct CreateKey {
    pub wallet: String,
    pub name: String,
    pub test: bool,
    pub plan: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub daily_requests: Option<u64>,
    pub scopes: Option<String>,
}

fn key_service(config: &Config) -> anyhow::Result<KeyService> {
    let store: Arc<dyn KeyStore> = Arc::new(open_store(config)?);
    Ok(KeyService::new(store, Duration::ZERO)?)
}

fn wallet(address: &str) -> anyhow::Result<String> {
    normalize_wallet(address)
        .with_context(|| format!("`{address}` is not a wallet address (0x + 40 hex)"))
}

/// `veil keys create`: prints details, then the secret alone on the last line.
pub fn keys_create(config: &Config, opts: CreateKey) -> anyhow::Result<()> {
    if !config.plans.contains_key(&opts.plan) {
        let known: Vec<_> = config.plans.keys().cloned().collect();
        bail!("unknown plan `{}` (configured: {})", opts.plan, known.join(", "));
    }
    let scopes = match &opts.scopes {
        Some(list) => Scope::parse_list(list).map_err(anyhow::Error::msg)?,
        None => Scope::ALL.to_vec(),
    };
    let keys = key_service(config)?;
    let created = keys.create(KeySpec {
        wallet: wallet(&opts.wallet)?,
        name: opts.name,
        mode: if opts.test { KeyMode::Test } else { KeyMode::Live },
        plan: opts.plan,
        rpm: opts.rpm,
        tpm: opts.tpm,
        daily_requests: opts.daily_requests,
        scopes,
    })?;
    let r = &created.record;
    eprintln!("created {} ({} key, plan {}, wallet {})", r.id, r.mode.as_str(), r.plan, r.wallet);
    eprintln!("the secret is shown once:");
    println!("{}", created.secret);
    Ok(())
}

/// `veil keys list`: one line per key, no secrets.
pub fn keys_list(config: &Config, address: &str) -> anyhow::Result<()> {
    let keys = key_service(config)?;
    let list = keys.store().list_keys(&wallet(address)?)?;
    println!(
        "{:<22} {:<14} {:<5} {:<8} {:<11} {:<20} NAME",
        "ID", "PREFIX", "MODE", "STATUS", "PLAN", "LAST USED"
    );
    for k in list {
        let last = k
            .last_used_at_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "never".into());
        let status = if k.active { "active" } else { "revoked" };
        println!(
            "{:<22} {:<14} {:<5} {:<8} {:<11} {:<20} {}",
            k.id,
            k.prefix,
            k.mode.as_str(),
            status,
            k.plan,
            last,
            k.name
        );
    }
    Ok(())
}

/// `veil keys revoke KEY_ID`.
pub fn keys_revoke(config: &Config, id: &str) -> anyhow::Result<()> {
    let keys = key_service(config)?;
    if keys.revoke(id)? {
        println!("revoked {id}");
        Ok(())
    } else {
        bail!("no active key with id {id}")
    }
}

/// `veil models`: the configured catalog.
pub fn models(config: &Config) {
    println!(
        "{:<24} {:<12} {:<28} {:>10} {:>10}",
        "ID", "PROVIDER", "UPSTREAM MODEL", "IN $/Mtok", "OUT $/Mtok"
    );
    for m in &config.models {
        println!(
            "{:<24} {:<12} {:<28} {:>10} {:>10}",
            m.id, m.provider, m.upstream_model, m.input_usd_per_mtok, m.output_usd_per_mtok
        );
    }
}
