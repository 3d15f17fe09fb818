-- Nonces of wallet-signed calls, kept until their message can no longer be
-- accepted (timestamp + window), so a replay fails even after a restart.
CREATE TABLE wallet_nonces (
    wallet     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (wallet, nonce)
);
CREATE INDEX wallet_nonces_expiry ON wallet_nonces (expires_at);
