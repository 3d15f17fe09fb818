-- Keys, server metadata and wallet nonces on PostgreSQL; the same rules as
-- migrations/sqlite/0001 and 0003. Times are Unix milliseconds (UTC).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    wallet         TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    prefix         TEXT NOT NULL,
    key_hash       BYTEA NOT NULL UNIQUE,
    mode           TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    plan           TEXT NOT NULL DEFAULT 'free',
    rpm            BIGINT CHECK (rpm IS NULL OR rpm >= 0),
    tpm            BIGINT CHECK (tpm IS NULL OR tpm >= 0),
    daily_requests BIGINT CHECK (daily_requests IS NULL OR daily_requests >= 0),
    scopes         TEXT NOT NULL DEFAULT 'chat,pii_preview,models',
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT,
    revoked_at     BIGINT
);
CREATE INDEX api_keys_wallet ON api_keys (wallet, created_at);

-- Nonces of wallet-signed calls, kept until their message can no longer be
-- accepted, so a replay fails on every replica and after restarts.
CREATE TABLE wallet_nonces (
    wallet     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (wallet, nonce)
);
CREATE INDEX wallet_nonces_expiry ON wallet_nonces (expires_at);
