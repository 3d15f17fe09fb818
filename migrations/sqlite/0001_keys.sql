-- Keys and server metadata. Times are Unix milliseconds (UTC).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    wallet         TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    prefix         TEXT NOT NULL,
    key_hash       BLOB NOT NULL UNIQUE,
    mode           TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    plan           TEXT NOT NULL DEFAULT 'free',
    rpm            INTEGER CHECK (rpm IS NULL OR rpm >= 0),
    tpm            INTEGER CHECK (tpm IS NULL OR tpm >= 0),
    daily_requests INTEGER CHECK (daily_requests IS NULL OR daily_requests >= 0),
    scopes         TEXT NOT NULL DEFAULT 'chat,pii_preview,models',
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    revoked_at     INTEGER
);

CREATE INDEX api_keys_wallet ON api_keys (wallet, created_at);
