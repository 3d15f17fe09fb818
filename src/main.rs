//! The `veil` binary: command line, config, telemetry, then the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use veil::admin;
use veil::config::Config;

/// mimalloc: a proxy allocates many short-lived buffers per request; this
/// allocator cut their cost measurably in the load benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "veil",
    version,
    about = "OpenAI-compatible proxy that redacts personal data and meters credits"
)]
struct Cli {
    /// TOML config file (defaults apply without one).
    #[arg(long, global = true, env = "VEIL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (overrides `listen`).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Grant credits and read balances.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// A wallet's ledger entries, oldest first.
    Ledger {
        #[arg(long)]
        wallet: String,
        /// Only the entries of this request id.
        #[arg(long)]
        request_id: Option<String>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the configured models.
    Models,
    /// Redact a text file or an image (PNG, JPEG, WebP, GIF) locally with
    /// the configured pipeline; text goes to stdout (or OUT), an image to OUT
    /// (`-o` is required for images), a count per entity type to stderr.
    Redact {
        /// The file to redact (`-` for stdin).
        file: String,
        /// Write the result here instead of stdout.
        #[arg(short, long)]
        output: Option<String>,
        /// Only these entity types, comma-separated (default: all enabled).
        #[arg(long, value_delimiter = ',')]
        entities: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; the secret is printed alone on the last line.
    Create(CreateArgs),
    /// List a wallet's keys (no secrets).
    List {
        #[arg(long)]
        wallet: String,
    },
    /// Revoke a key by id.
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum CreditsCommand {
    /// Add credits to a wallet's live (or, with --test, test) balance.
    Grant {
        #[arg(long)]
        wallet: String,
        /// Amount in USD, up to 6 decimals (e.g. 10 or 0.25).
        #[arg(long)]
        usd: String,
        #[arg(long)]
        test: bool,
        /// Idempotency reference: a second grant with it does nothing.
        #[arg(long)]
        reference: Option<String>,
    },
    /// Live and test balances of a wallet (micro-USD with --json).
    Balance {
        #[arg(long)]
        wallet: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct CreateArgs {
    #[arg(long)]
    wallet: String,
    #[arg(long, default_value = "")]
    name: String,
    /// A test key (draws on the test balance).
    #[arg(long)]
    test: bool,
    #[arg(long, default_value = "free")]
    plan: String,
    /// Per-key override of the plan's requests per minute.
    #[arg(long)]
    rpm: Option<u32>,
    /// Per-key override of the plan's tokens per minute.
    #[arg(long)]
    tpm: Option<u64>,
    /// Per-key override of the plan's daily request quota.
    #[arg(long)]
    daily_requests: Option<u64>,
    /// Comma-separated scopes (chat, pii_preview, models); all by default.
    #[arg(long)]
    scopes: Option<String>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                listen.parse::<std::net::SocketAddr>().context("--listen")?;
                config.listen = listen;
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let state = veil::state::AppState::build(config).await?;
                veil::server::run(state).await
            })
        }
        Command::Keys(KeysCommand::Create(a)) => block_on(admin::keys_create(
            &config,
            admin::CreateKey {
                wallet: a.wallet,
                name: a.name,
                test: a.test,
                plan: a.plan,
                rpm: a.rpm,
                tpm: a.tpm,
                daily_requests: a.daily_requests,
                scopes: a.scopes,
            },
        )),
        Command::Keys(KeysCommand::List { wallet }) => block_on(admin::keys_list(&config, &wallet)),
        Command::Keys(KeysCommand::Revoke { key_id }) => {
            block_on(admin::keys_revoke(&config, &key_id))
        }
        Command::Models => {
            admin::models(&config);
            Ok(())
        }
        Command::Redact { file, output, entities } => {
            block_on(admin::redact_file(&config, &file, output.as_deref(), &entities))
        }
        Command::Credits(CreditsCommand::Grant { wallet, usd, test, reference }) => {
            block_on(admin::credits_grant(&config, &wallet, &usd, test, reference))
        }
        Command::Credits(CreditsCommand::Balance { wallet, json }) => {
            block_on(admin::credits_balance(&config, &wallet, json))
        }
        Command::Ledger { wallet, request_id, json } => {
            block_on(admin::ledger_list(&config, &wallet, request_id, json))
        }
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(future)
}

/// Logs go to stderr; `VEIL_LOG` sets the filter (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VEIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
