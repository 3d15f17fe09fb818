-- Prepaid credits on PostgreSQL; the same rules as migrations/sqlite/0002.
-- Money is integer micro-USD. available = balance - held, never < 0.
CREATE TABLE accounts (
    wallet     TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    balance    BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    held       BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    open_holds BIGINT NOT NULL DEFAULT 0 CHECK (open_holds >= 0),
    CHECK (held <= balance),
    PRIMARY KEY (wallet, mode)
);

CREATE TABLE holds (
    id         BIGSERIAL PRIMARY KEY,
    wallet     TEXT NOT NULL,
    mode       TEXT NOT NULL,
    key_id     TEXT,
    request_id TEXT,
    model      TEXT,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled', 'released')),
    charged    BIGINT,
    created_at BIGINT NOT NULL,
    closed_at  BIGINT
);
CREATE INDEX holds_open ON holds (wallet, mode, id) WHERE status = 'open';

CREATE TABLE ledger_entries (
    id                BIGSERIAL PRIMARY KEY,
    wallet            TEXT NOT NULL,
    mode              TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('purchase', 'grant', 'hold', 'settle', 'release',
                                                    'preview', 'refund', 'adjustment')),
    amount            BIGINT NOT NULL,
    balance_after     BIGINT NOT NULL CHECK (balance_after >= 0),
    available_after   BIGINT NOT NULL CHECK (available_after >= 0),
    key_id            TEXT,
    request_id        TEXT,
    hold_id           TEXT,
    model             TEXT,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    reference         TEXT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX ledger_wallet ON ledger_entries (wallet, mode, id);
CREATE INDEX ledger_request ON ledger_entries (request_id);
CREATE INDEX ledger_key ON ledger_entries (key_id, id);
CREATE UNIQUE INDEX ledger_reference ON ledger_entries (kind, reference) WHERE reference IS NOT NULL;

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_entries_no_change BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
