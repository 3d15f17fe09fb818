//! Operator commands that act on the store directly (`veil keys ...`,
//! `veil credits ...`, `veil ledger`). They print for humans; scripts rely
//! on the documented last lines and on `--json`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::auth::keys::{KeyMode, KeyStore, Scope, normalize_wallet};
use crate::auth::{KeyService, KeySpec};
use crate::billing::money::{format_usd, parse_usd};
use crate::billing::{Account, Credit, EntryKind, EntryQuery, Ledger};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::state::{Stores, open_stores};

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

async fn key_service(config: &Config) -> anyhow::Result<KeyService> {
    let store: Arc<dyn KeyStore> = open_stores(config, Arc::new(SystemClock)).await?.store;
    Ok(KeyService::new(store, Duration::ZERO).await?)
}

fn wallet(address: &str) -> anyhow::Result<String> {
    normalize_wallet(address)
        .with_context(|| format!("`{address}` is not a wallet address (0x + 40 hex)"))
}

/// `veil keys create`: prints details, then the secret alone on the last line.
pub async fn keys_create(config: &Config, opts: CreateKey) -> anyhow::Result<()> {
    if !config.plans.contains_key(&opts.plan) {
        let known: Vec<_> = config.plans.keys().cloned().collect();
        bail!("unknown plan `{}` (configured: {})", opts.plan, known.join(", "));
    }
    let scopes = match &opts.scopes {
        Some(list) => Scope::parse_list(list).map_err(anyhow::Error::msg)?,
        None => Scope::ALL.to_vec(),
    };
    let keys = key_service(config).await?;
    let created = keys
        .create(KeySpec {
            wallet: wallet(&opts.wallet)?,
            name: opts.name,
            mode: if opts.test { KeyMode::Test } else { KeyMode::Live },
            plan: opts.plan,
            rpm: opts.rpm,
            tpm: opts.tpm,
            daily_requests: opts.daily_requests,
            scopes,
        })
        .await?;
    let r = &created.record;
    eprintln!("created {} ({} key, plan {}, wallet {})", r.id, r.mode.as_str(), r.plan, r.wallet);
    eprintln!("the secret is shown once:");
    println!("{}", created.secret);
    Ok(())
}

/// `veil keys list`: one line per key, no secrets.
pub async fn keys_list(config: &Config, address: &str) -> anyhow::Result<()> {
    let keys = key_service(config).await?;
    let list = keys.store().list_keys(&wallet(address)?).await?;
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
pub async fn keys_revoke(config: &Config, id: &str) -> anyhow::Result<()> {
    let keys = key_service(config).await?;
    if keys.revoke(id).await? {
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

async fn ledger(config: &Config) -> anyhow::Result<Arc<dyn Ledger>> {
    Ok(open_stores(config, Arc::new(SystemClock)).await?.ledger)
}

/// `veil credits grant`: adds credits (idempotent per `--reference`).
pub async fn credits_grant(
    config: &Config,
    address: &str,
    usd: &str,
    test: bool,
    reference: Option<String>,
) -> anyhow::Result<()> {
    let amount = parse_usd(usd).map_err(anyhow::Error::msg)?;
    if amount <= 0 {
        bail!("--usd must be positive");
    }
    let mode = if test { KeyMode::Test } else { KeyMode::Live };
    let account = Account { wallet: wallet(address)?, mode };
    let ledger = ledger(config).await?;
    let credited = ledger
        .credit(Credit { account: account.clone(), kind: EntryKind::Grant, amount, reference })
        .await?;
    if !credited.new {
        println!("reference already credited (entry {}); nothing changed", credited.entry.id);
    }
    let balance = ledger.balance(account).await?;
    println!(
        "{} balance of {}: ${} (available ${})",
        mode.as_str(),
        credited.entry.wallet,
        format_usd(balance.balance),
        format_usd(balance.available)
    );
    Ok(())
}

/// `veil credits balance`: live and test balances of a wallet.
pub async fn credits_balance(config: &Config, address: &str, json: bool) -> anyhow::Result<()> {
    let wallet = wallet(address)?;
    let ledger = ledger(config).await?;
    if json {
        let live = ledger.balance(Account { wallet: wallet.clone(), mode: KeyMode::Live }).await?;
        let test = ledger.balance(Account { wallet: wallet.clone(), mode: KeyMode::Test }).await?;
        println!("{}", serde_json::json!({"wallet": wallet, "live": live, "test": test}));
        return Ok(());
    }
    println!(
        "{:<5} {:>16} {:>16} {:>16} {:>10}",
        "MODE", "BALANCE", "HELD", "AVAILABLE", "OPEN HOLDS"
    );
    for mode in [KeyMode::Live, KeyMode::Test] {
        let b = ledger.balance(Account { wallet: wallet.clone(), mode }).await?;
        println!(
            "{:<5} {:>16} {:>16} {:>16} {:>10}",
            mode.as_str(),
            format_usd(b.balance),
            format_usd(b.held),
            format_usd(b.available),
            b.open_holds
        );
    }
    Ok(())
}

/// `veil ledger`: a wallet's entries, oldest first (`--json`: one JSON array).
pub async fn ledger_list(
    config: &Config,
    address: &str,
    request_id: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let ledger = ledger(config).await?;
    let mut query =
        EntryQuery { wallet: wallet(address)?, request_id, limit: 1000, ..EntryQuery::default() };
    let mut all = Vec::new();
    loop {
        let page = ledger.entries(query.clone()).await?;
        let Some(last) = page.last() else { break };
        query.after_id = Some(last.id);
        all.extend(page);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    println!(
        "{:>6} {:<20} {:<4} {:<10} {:>14} {:>14} {:>14} {:<22} {:<20} TOKENS",
        "ID", "TIME", "MODE", "KIND", "AMOUNT", "BALANCE", "AVAILABLE", "REQUEST", "KEY"
    );
    for e in all {
        let time = chrono::DateTime::from_timestamp_millis(e.created_at_ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let tokens = match (e.prompt_tokens, e.completion_tokens) {
            (Some(p), Some(c)) => format!("{p}+{c}"),
            _ => String::new(),
        };
        println!(
            "{:>6} {:<20} {:<4} {:<10} {:>14} {:>14} {:>14} {:<22} {:<20} {}",
            e.id,
            time,
            e.mode.as_str(),
            e.kind.as_str(),
            format_usd(e.amount),
            format_usd(e.balance_after),
            format_usd(e.available_after),
            e.request_id.as_deref().or(e.reference.as_deref()).unwrap_or("-"),
            e.key_id.as_deref().unwrap_or("-"),
            tokens
        );
    }
    Ok(())
}

/// `veil redact FILE`: the redaction pipeline on a local text file, image
/// or PDF (its redacted text, page by page).
pub async fn redact_file(
    config: &Config,
    file: &str,
    output: Option<&str>,
    entities: &[String],
) -> anyhow::Result<()> {
    use std::io::{Read, Write};

    let mut bytes = Vec::new();
    if file == "-" {
        std::io::stdin().read_to_end(&mut bytes).context("cannot read stdin")?;
    } else {
        bytes = std::fs::read(file).with_context(|| format!("cannot read {file}"))?;
    }
    let kind = crate::redact::sniff(&bytes);
    let mut redaction = config.redaction.clone();
    if !entities.is_empty() {
        redaction.entities = entities.to_vec();
    }
    // Only the `hash` operator needs the deployment's key (from the store).
    let hash_key = if redaction.operator == crate::redact::pipeline::Operator::Hash {
        let Stores { store, .. } = open_stores(config, Arc::new(SystemClock)).await?;
        KeyService::new(store, Duration::from_secs(1)).await?.hash_key()
    } else {
        Vec::new()
    };
    let defaults = crate::redact::default_text_config(&redaction)?;
    let pipeline = crate::redact::build_pipeline(&redaction, hash_key)?;
    let mut session = pipeline.session(defaults);
    let found: Vec<&'static str> = match kind {
        "text" => {
            let text =
                String::from_utf8(bytes).with_context(|| format!("{file} is not UTF-8 text"))?;
            let (redacted, findings) = session.redact(&text).context("redaction failed")?;
            match output {
                Some(path) => std::fs::write(path, &redacted)
                    .with_context(|| format!("cannot write {path}"))?,
                None => std::io::stdout().write_all(redacted.as_bytes())?,
            }
            findings.iter().map(|f| f.entity.name()).collect()
        }
        "an image" => {
            let Some(path) = output else {
                bail!("{file} is an image: name the redacted copy with -o OUT");
            };
            let media = crate::media::Media::load(&config.media, &redaction.onnxruntime_library)?;
            let image = media
                .redact_image(&bytes, &config.media.image_options(), &session)
                .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
            std::fs::write(path, &image.bytes).with_context(|| format!("cannot write {path}"))?;
            image.findings.iter().map(|f| f.entity.map_or("FACE", |e| e.name())).collect()
        }
        "a PDF" => {
            // Scanned pages need the OCR model; text pages do not.
            let media = if config.media.enabled && config.media.ocr {
                Some(crate::media::Media::load(&config.media, &redaction.onnxruntime_library)?)
            } else {
                None
            };
            let name = std::path::Path::new(file).file_name().and_then(|n| n.to_str());
            let name = name.filter(|n| *n != "-").map(|n| (n, "file.filename".to_owned()));
            let doc = crate::redact::document::read_pdf(
                &bytes,
                name,
                "file",
                &config.media.pdf_options(),
                media.as_ref(),
            )
            .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
            let texts: Vec<&str> = doc.texts().map(|(t, _)| t).collect();
            let findings = session.analyze(&texts).context("redaction failed")?;
            let redacted = doc.render(&mut session, &findings);
            let mut text = redacted.text;
            text.push('\n');
            match output {
                Some(path) => {
                    std::fs::write(path, &text).with_context(|| format!("cannot write {path}"))?
                }
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
            let withheld = redacted.pages.iter().filter(|p| p.withheld).count();
            if withheld > 0 {
                eprintln!("withheld {withheld} page(s) of {}", redacted.pages.len());
            }
            findings.iter().flatten().map(|f| f.entity.name()).collect()
        }
        _ => bail!("{file} looks like {kind}; Veil redacts text files, images and PDFs"),
    };
    let mut counts = std::collections::BTreeMap::new();
    for name in &found {
        *counts.entry(*name).or_insert(0_usize) += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    eprintln!(
        "redacted {} value(s){}{}",
        found.len(),
        if summary.is_empty() { "" } else { ": " },
        summary.join(" ")
    );
    Ok(())
}
