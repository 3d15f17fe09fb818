-- Prepaid credits. Money is integer micro-USD. `balance` is settled funds;
-- `held` is the sum of open holds; available = balance - held, never < 0.
CREATE TABLE accounts (
    wallet     TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    balance    INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    held       INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
    open_holds INTEGER NOT NULL DEFAULT 0 CHECK (open_holds >= 0),
    CHECK (held <= balance),
    PRIMARY KEY (wallet, mode)
);

-- One row per hold; settles exactly once (status leaves 'open' once). The
-- id is sequential so inserts append to the table's last page.
CREATE TABLE holds (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    wallet     TEXT NOT NULL,
    mode       TEXT NOT NULL,
    key_id     TEXT,
    request_id TEXT,
    model      TEXT,
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled', 'released')),
    charged    INTEGER,
    created_at INTEGER NOT NULL,
    closed_at  INTEGER
);
CREATE INDEX holds_open ON holds (id) WHERE status = 'open';

-- Append-only. `amount` is the change of available credits; with no open
-- hold, the sum of a wallet's amounts is its balance.
CREATE TABLE ledger_entries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    wallet            TEXT NOT NULL,
    mode              TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('purchase', 'grant', 'hold', 'settle', 'release',
                                                    'preview', 'refund', 'adjustment')),
    amount            INTEGER NOT NULL,
    balance_after     INTEGER NOT NULL CHECK (balance_after >= 0),
    available_after   INTEGER NOT NULL CHECK (available_after >= 0),
    key_id            TEXT,
    request_id        TEXT,
    hold_id           TEXT,
    model             TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    reference         TEXT,
    created_at        INTEGER NOT NULL
);
CREATE INDEX ledger_wallet ON ledger_entries (wallet, mode, id);
CREATE INDEX ledger_request ON ledger_entries (request_id);
CREATE INDEX ledger_key ON ledger_entries (key_id, id);
-- A purchase or grant with a reference (a Stripe session id) credits once.
CREATE UNIQUE INDEX ledger_reference ON ledger_entries (kind, reference) WHERE reference IS NOT NULL;

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
