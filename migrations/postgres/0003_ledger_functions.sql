-- Holds and settlements as one statement each: the account row is locked
-- for the time the server takes to run them, not for a dozen network round
-- trips, which is what bounds throughput on a busy account. Same rules as
-- billing/postgres.rs and the SQLite ledger (the conformance suite checks
-- both).

-- (balance, held) of the account, created if needed; its row stays locked
-- until the transaction ends.
CREATE FUNCTION veil_lock_account(p_wallet TEXT, p_mode TEXT,
                                  OUT o_balance BIGINT, OUT o_held BIGINT) AS $$
BEGIN
    SELECT balance, held INTO o_balance, o_held
      FROM accounts WHERE wallet = p_wallet AND mode = p_mode FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO accounts (wallet, mode) VALUES (p_wallet, p_mode) ON CONFLICT DO NOTHING;
        SELECT balance, held INTO o_balance, o_held
          FROM accounts WHERE wallet = p_wallet AND mode = p_mode FOR UPDATE;
    END IF;
END;
$$ LANGUAGE plpgsql;

-- Places a hold of p_amount. o_hold is NULL when the available credits
-- (o_available) do not cover it; nothing is written then.
CREATE FUNCTION veil_hold(p_wallet TEXT, p_mode TEXT, p_key_id TEXT, p_request_id TEXT,
                          p_model TEXT, p_amount BIGINT, p_reference TEXT, p_now BIGINT,
                          OUT o_hold BIGINT, OUT o_available BIGINT) AS $$
DECLARE
    v_balance BIGINT;
    v_held    BIGINT;
BEGIN
    SELECT o_balance, o_held INTO v_balance, v_held FROM veil_lock_account(p_wallet, p_mode);
    o_available := v_balance - v_held;
    IF o_available < p_amount THEN
        RETURN;
    END IF;
    v_held := v_held + p_amount;
    UPDATE accounts SET held = v_held, open_holds = open_holds + 1
     WHERE wallet = p_wallet AND mode = p_mode;
    INSERT INTO holds (wallet, mode, key_id, request_id, model, amount, created_at)
    VALUES (p_wallet, p_mode, p_key_id, p_request_id, p_model, p_amount, p_now)
    RETURNING id INTO o_hold;
    INSERT INTO ledger_entries (wallet, mode, kind, amount, balance_after, available_after,
                                key_id, request_id, hold_id, model, reference, created_at)
    VALUES (p_wallet, p_mode, 'hold', -p_amount, v_balance, v_balance - v_held,
            p_key_id, p_request_id, 'hold_' || o_hold, p_model, p_reference, p_now);
    o_available := v_balance - v_held;
END;
$$ LANGUAGE plpgsql;

-- Closes hold p_id once: returns the hold and, when p_settle, charges what
-- the account can pay of p_cost (a `release` entry, then a `settle` entry,
-- so no entry shows negative available credits). o_found is false for an
-- unknown hold; o_already is true when it was closed before, with the
-- first outcome's charge.
CREATE FUNCTION veil_close_hold(p_id BIGINT, p_cost BIGINT, p_settle BOOLEAN,
                                p_prompt_tokens BIGINT, p_completion_tokens BIGINT, p_now BIGINT,
                                OUT o_found BOOLEAN, OUT o_already BOOLEAN,
                                OUT o_charged BIGINT) AS $$
DECLARE
    h         holds%ROWTYPE;
    v_balance BIGINT;
    v_held    BIGINT;
BEGIN
    SELECT * INTO h FROM holds WHERE id = p_id FOR UPDATE;
    o_found := FOUND;
    IF NOT o_found THEN
        RETURN;
    END IF;
    IF h.status <> 'open' THEN
        o_already := TRUE;
        o_charged := coalesce(h.charged, 0);
        RETURN;
    END IF;
    o_already := FALSE;
    SELECT o_balance, o_held INTO v_balance, v_held FROM veil_lock_account(h.wallet, h.mode);
    o_charged := greatest(0, least(p_cost, greatest(v_balance - v_held + h.amount, 0)));
    v_held := v_held - h.amount;
    UPDATE accounts SET held = v_held, open_holds = open_holds - 1
     WHERE wallet = h.wallet AND mode = h.mode;
    INSERT INTO ledger_entries (wallet, mode, kind, amount, balance_after, available_after,
                                key_id, request_id, hold_id, model, created_at)
    VALUES (h.wallet, h.mode, 'release', h.amount, v_balance, v_balance - v_held,
            h.key_id, h.request_id, 'hold_' || h.id, h.model, p_now);
    IF p_settle THEN
        v_balance := v_balance - o_charged;
        UPDATE accounts SET balance = v_balance WHERE wallet = h.wallet AND mode = h.mode;
        INSERT INTO ledger_entries (wallet, mode, kind, amount, balance_after, available_after,
                                    key_id, request_id, hold_id, model, prompt_tokens,
                                    completion_tokens, created_at)
        VALUES (h.wallet, h.mode, 'settle', -o_charged, v_balance, v_balance - v_held,
                h.key_id, h.request_id, 'hold_' || h.id, h.model, p_prompt_tokens,
                p_completion_tokens, p_now);
    END IF;
    UPDATE holds SET status = CASE WHEN p_settle THEN 'settled' ELSE 'released' END,
                     charged = o_charged, closed_at = p_now
     WHERE id = h.id;
END;
$$ LANGUAGE plpgsql;
