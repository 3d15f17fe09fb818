"""The wallet-signed management API and Stripe billing, with signatures made
by `eth-account` (what wallets produce), a local fake of Stripe's Checkout
Sessions endpoint, and the official `openai` SDK for the user story."""

import base64
import datetime
import http.server
import json
import threading
import urllib.parse

import pytest
import requests
from eth_account import Account
from openai import OpenAI

from conftest import start_veil
from helpers import body, headers, message, session_event, sign, stripe_signature

WEBHOOK_SECRET = "whsec_test_current"
OLD_WEBHOOK_SECRET = "whsec_test_previous"
APP_ORIGIN = "https://app.example.com"


class FakeStripe(http.server.ThreadingHTTPServer):
    """Answers POST /v1/checkout/sessions like Stripe and records requests."""

    def __init__(self):
        self.calls = []
        super().__init__(("127.0.0.1", 0), self.Handler)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length", 0))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            self.server.calls.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "form": form})
            session_id = f"cs_test_{len(self.server.calls)}"
            payload = json.dumps(
                {"id": session_id, "object": "checkout.session",
                 "url": f"https://checkout.stripe.com/c/pay/{session_id}"}
            ).encode()
            self.send_response(200 if self.path == "/v1/checkout/sessions" else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass


@pytest.fixture(scope="module")
def stripe():
    server = FakeStripe()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def config_for(stripe_server):
    return (
        f'[billing.stripe]\napi_base = "http://127.0.0.1:{stripe_server.server_address[1]}"\n'
        f'[server]\ncors_origins = ["{APP_ORIGIN}"]\n'
    )


ENV = {
    "STRIPE_SECRET_KEY": "sk_test_fake",
    "STRIPE_WEBHOOK_SECRET": f"{WEBHOOK_SECRET},{OLD_WEBHOOK_SECRET}",
}


@pytest.fixture(scope="module")
def veil(stripe):
    server = start_veil(config_for(stripe), ENV)
    yield server
    server.stop()


def api(veil, path):
    return f"{veil.root}/api/v1{path}"


def ok(response):
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["success"] is True
    return payload["data"]


def error(response, status, code):
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["success"] is False
    assert payload["error"]["code"] == code, payload
    return payload["error"]


def test_every_action_with_valid_signatures(veil, stripe):
    me = Account.create()
    assert ok(requests.get(api(veil, "/keys"), headers=headers(me, "keys.list")))["keys"] == []
    created = ok(requests.post(api(veil, "/keys"), json=body(me, "keys.create", name="laptop", mode="test")))
    assert created["key"].startswith("vk_test_") and created["status"] == "active"
    assert created["prefix"] == created["key"][:12]
    listed = ok(requests.post(api(veil, "/keys"), json=body(me, "keys.list")))["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0], "the secret is returned once, at creation"
    revoked = ok(requests.delete(api(veil, f"/keys/{created['id']}"),
                                 json=body(me, "keys.revoke", key_id=created["id"])))
    assert revoked["status"] == "revoked"
    balance = ok(requests.get(api(veil, "/billing/balance"), headers=headers(me, "billing.balance")))
    assert balance["live"]["availableUsd"] == "0.000000" and balance["test"]["openHolds"] == []
    ok(requests.post(api(veil, "/billing/balance"), json=body(me, "billing.balance")))
    ledger = ok(requests.get(api(veil, "/billing/ledger"), headers=headers(me, "billing.ledger")))
    assert ledger == {"entries": [], "nextCursor": None}
    ok(requests.post(api(veil, "/billing/ledger"), json=body(me, "billing.ledger", limit=10)))
    session = ok(requests.post(api(veil, "/billing/checkout"), json=body(me, "billing.checkout", packId="starter")))
    assert session["url"].startswith("https://checkout.stripe.com/")


def test_each_error_code(veil):
    me, other = Account.create(), Account.create()
    url = api(veil, "/keys")
    # Missing fields.
    error(requests.post(url, json={"walletAddress": me.address}), 401, "missing_wallet_auth")
    error(requests.get(url), 401, "missing_wallet_auth")
    # Malformed hex and truncated signatures.
    creds = body(me, "keys.list")
    error(requests.post(url, json={**creds, "signature": "0xnothex"}), 403, "SIGNATURE_VERIFY_ERROR")
    error(requests.post(url, json={**creds, "signature": creds["signature"][:100]}), 403, "SIGNATURE_VERIFY_ERROR")
    # Tampered message: the signature no longer recovers to the wallet.
    tampered = {**creds, "message": creds["message"].replace("keys.list", "keys.lisT")}
    error(requests.post(url, json=tampered), 403, "SIGNATURE_INVALID")
    # Another wallet's signature.
    text = message("keys.list")
    error(requests.post(url, json={"walletAddress": me.address, "message": text, "signature": sign(other, text)}),
          403, "SIGNATURE_INVALID")
    # Wrong action for the route.
    error(requests.post(api(veil, "/billing/balance"), json=body(me, "keys.list")), 403, "ACTION_MISMATCH")
    # Wrong key id.
    key = ok(requests.post(url, json=body(me, "keys.create")))
    error(requests.delete(api(veil, f"/keys/{key['id']}"), json=body(me, "keys.revoke", key_id="key_other")),
          403, "KEY_ID_MISMATCH")
    # Stale and future timestamps.
    now = datetime.datetime.now(datetime.timezone.utc)
    # Ten seconds past the five-minute window: the message's timestamp has
    # whole seconds, so a future one a second past it could land inside.
    for at in (now - datetime.timedelta(seconds=310), now + datetime.timedelta(seconds=310)):
        text = message("keys.list", at=at)
        error(requests.post(url, json={"walletAddress": me.address, "message": text, "signature": sign(me, text)}),
              403, "MESSAGE_EXPIRED")
    # Replayed nonce.
    creds = body(me, "keys.list")
    ok(requests.post(url, json=creds))
    error(requests.post(url, json=creds), 403, "NONCE_REPLAY")
    # Someone else's key cannot be revoked (it is not found for this wallet).
    error(requests.delete(api(veil, f"/keys/{key['id']}"), json=body(other, "keys.revoke", key_id=key["id"])),
          404, "not_found")
    # Credentials are never read from the query string.
    h = headers(me, "keys.list")
    query = {"walletAddress": h["X-Wallet-Address"], "signature": h["X-Wallet-Signature"],
             "message": base64.urlsafe_b64decode(h["X-Wallet-Message"] + "==").decode()}
    error(requests.get(url, params=query), 401, "missing_wallet_auth")


def test_replay_after_restart_is_refused(stripe):
    server = start_veil(config_for(stripe), ENV)
    me = Account.create()
    creds = body(me, "keys.list")
    ok(requests.post(api(server, "/keys"), json=creds))
    server.stop()
    again = start_veil(config_for(stripe), ENV, workdir=server.workdir)
    try:
        error(requests.post(api(again, "/keys"), json=creds), 403, "NONCE_REPLAY")
    finally:
        again.stop()


def balance_of(veil, account):
    data = ok(requests.get(api(veil, "/billing/balance"), headers=headers(account, "billing.balance")))
    return data["live"]["balanceMicroUsd"]


def deliver(veil, payload, secret=WEBHOOK_SECRET, timestamp=None):
    return requests.post(api(veil, "/billing/webhook"), data=payload,
                         headers={"Stripe-Signature": stripe_signature(secret, payload, timestamp),
                                  "content-type": "application/json"})


def test_webhook_credits_exactly_once(veil):
    me = Account.create()
    payload = session_event("checkout.session.completed", "cs_test_once", me.address)
    assert ok(deliver(veil, payload))["credited"] is True
    # Duplicate delivery (Stripe retries) and the rotated secret: no second credit.
    assert ok(deliver(veil, payload))["credited"] is False
    assert ok(deliver(veil, payload, secret=OLD_WEBHOOK_SECRET))["credited"] is False
    assert balance_of(veil, me) == 10_000_000


def test_webhook_out_of_order_delivery_credits_once(veil):
    me = Account.create()
    unpaid = session_event("checkout.session.completed", "cs_test_async", me.address, payment_status="unpaid")
    succeeded = session_event("checkout.session.async_payment_succeeded", "cs_test_async", me.address)
    paid = session_event("checkout.session.completed", "cs_test_async", me.address, pack_id="builder")
    assert ok(deliver(veil, succeeded))["credited"] is True
    assert ok(deliver(veil, unpaid))["credited"] is False
    assert ok(deliver(veil, paid))["credited"] is False
    assert balance_of(veil, me) == 10_000_000


def test_webhook_refuses_bad_signatures(veil):
    me = Account.create()
    payload = session_event("checkout.session.completed", "cs_test_bad", me.address)
    error(deliver(veil, payload, secret="whsec_wrong"), 400, "invalid_signature")
    error(deliver(veil, payload, timestamp=datetime.datetime.now().timestamp() - 301), 400, "invalid_signature")
    error(requests.post(api(veil, "/billing/webhook"), data=payload), 400, "invalid_signature")
    assert balance_of(veil, me) == 0


def test_checkout_sends_the_pack_to_stripe(veil, stripe):
    me = Account.create()
    before = len(stripe.calls)
    data = ok(requests.post(api(veil, "/billing/checkout"), json=body(me, "billing.checkout", packId="builder")))
    call = stripe.calls[before]
    form = {k: v[0] for k, v in call["form"].items()}
    assert call["path"] == "/v1/checkout/sessions"
    assert call["headers"]["authorization"] == "Bearer sk_test_fake"
    assert call["headers"]["idempotency-key"].startswith("veil-checkout-")
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][unit_amount]"] == "5000"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["metadata[wallet]"] == me.address.lower()
    assert form["metadata[pack_id]"] == "builder"
    assert form["success_url"].endswith("/api/v1/billing/success?session_id={CHECKOUT_SESSION_ID}")
    assert data["sessionId"] == f"cs_test_{before + 1}"
    error(requests.post(api(veil, "/billing/checkout"), json=body(me, "billing.checkout", packId="nope")),
          400, "validation_error")


def test_credit_packs_and_redirect_pages_are_public(veil):
    packs = ok(requests.get(api(veil, "/billing/credit-packs")))["packs"]
    assert [p["id"] for p in packs] == ["starter", "builder", "scale"]
    assert packs[0]["priceUsd"] == "10.00"
    assert requests.get(api(veil, "/billing/success")).status_code == 200
    assert requests.get(api(veil, "/billing/cancel")).status_code == 200


def test_cors(veil):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    r = requests.options(f"{veil.base_url}/chat/completions", headers={"Origin": "https://anywhere.test", **preflight})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
    r = requests.options(api(veil, "/keys"), headers={"Origin": APP_ORIGIN, **preflight})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == APP_ORIGIN
    r = requests.options(api(veil, "/keys"), headers={"Origin": "https://evil.test", **preflight})
    assert "access-control-allow-origin" not in r.headers
    r = requests.get(api(veil, "/billing/credit-packs"), headers={"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in r.headers


def test_full_user_story(veil):
    """Wallet → key → buy a pack (fake Stripe + signed webhook) → chat with
    the openai SDK → the ledger shows purchase, hold and settlement."""
    me = Account.create()
    key = ok(requests.post(api(veil, "/keys"), json=body(me, "keys.create", name="story")))
    session = ok(requests.post(api(veil, "/billing/checkout"), json=body(me, "billing.checkout", packId="starter")))
    payload = session_event("checkout.session.completed", session["sessionId"], me.address)
    assert ok(deliver(veil, payload))["credited"] is True
    client = OpenAI(base_url=veil.base_url, api_key=key["key"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "bought and used"}])
    request_id = raw.headers["x-request-id"]
    assert raw.parse().choices[0].message.content == "You said: bought and used"
    entries = ok(requests.get(api(veil, "/billing/ledger"), headers=headers(me, "billing.ledger")))["entries"]
    assert [e["kind"] for e in entries] == ["purchase", "hold", "release", "settle"]
    assert entries[0]["reference"] == session["sessionId"]
    assert all(e["requestId"] == request_id for e in entries[1:])
    assert entries[-1]["promptTokens"] > 0 and entries[-1]["amountMicroUsd"] < 0
    filtered = ok(requests.post(api(veil, "/billing/ledger"),
                                json=body(me, "billing.ledger", requestId=request_id, limit=2)))
    assert len(filtered["entries"]) == 2 and filtered["nextCursor"]
    rest = ok(requests.post(api(veil, "/billing/ledger"),
                            json=body(me, "billing.ledger", requestId=request_id, cursor=filtered["nextCursor"])))
    assert [e["kind"] for e in rest["entries"]] == ["settle"] and rest["nextCursor"] is None
