//! The `[billing]` section: the preview price, bootstrap credits, credit
//! packs and Stripe.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    /// Flat price of one `/v1/pii/preview` call, USD.
    #[serde(default = "default_preview_usd")]
    pub preview_usd: f64,
    /// Test credits granted with the bootstrap key, USD.
    #[serde(default = "default_bootstrap_usd")]
    pub bootstrap_test_usd: f64,
    /// Credit packs sold through Stripe Checkout.
    #[serde(default = "default_packs")]
    pub packs: Vec<PackConfig>,
    #[serde(default)]
    pub stripe: StripeConfig,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            preview_usd: default_preview_usd(),
            bootstrap_test_usd: default_bootstrap_usd(),
            packs: default_packs(),
            stripe: StripeConfig::default(),
        }
    }
}

/// A purchasable credit pack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackConfig {
    pub id: String,
    pub name: String,
    /// What the buyer pays, USD (whole cents).
    pub price_usd: f64,
    /// Credits added to the live balance, USD.
    pub credits_usd: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// Stripe's API root (tests point it at a local fake).
    #[serde(default = "default_stripe_base")]
    pub api_base: String,
    /// Environment variable holding the secret API key.
    #[serde(default = "default_stripe_key_env")]
    pub secret_key_env: String,
    /// Environment variable holding the webhook signing secret(s); several,
    /// comma-separated, while a secret is rotated.
    #[serde(default = "default_stripe_webhook_env")]
    pub webhook_secret_env: String,
    /// Largest accepted age of a webhook signature.
    #[serde(default = "default_stripe_tolerance")]
    pub tolerance_secs: i64,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            api_base: default_stripe_base(),
            secret_key_env: default_stripe_key_env(),
            webhook_secret_env: default_stripe_webhook_env(),
            tolerance_secs: default_stripe_tolerance(),
        }
    }
}

fn default_stripe_base() -> String {
    "https://api.stripe.com".into()
}
fn default_stripe_key_env() -> String {
    "STRIPE_SECRET_KEY".into()
}
fn default_stripe_webhook_env() -> String {
    "STRIPE_WEBHOOK_SECRET".into()
}
fn default_stripe_tolerance() -> i64 {
    300
}

fn default_packs() -> Vec<PackConfig> {
    [
        ("starter", "Starter", 10.0, 10.0),
        ("builder", "Builder", 50.0, 52.5),
        ("scale", "Scale", 200.0, 220.0),
    ]
    .into_iter()
    .map(|(id, name, price_usd, credits_usd)| PackConfig {
        id: id.into(),
        name: name.into(),
        price_usd,
        credits_usd,
    })
    .collect()
}

fn default_preview_usd() -> f64 {
    0.05
}
fn default_bootstrap_usd() -> f64 {
    10.0
}
