"""Wallet signatures and Stripe webhooks as real clients make them."""

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import time

from eth_account import Account
from eth_account.messages import encode_defunct


def message(action, key_id=None, nonce=None, at=None):
    at = at or datetime.datetime.now(datetime.timezone.utc)
    lines = ["Veil API request", f"Action: {action}"]
    if key_id:
        lines.append(f"Key ID: {key_id}")
    lines.append(f"Nonce: {nonce or secrets.token_hex(8)}")
    lines.append(f"Timestamp: {at.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    return "\n".join(lines)


def sign(account, text):
    signed = Account.sign_message(encode_defunct(text=text), account.key)
    return "0x" + signed.signature.hex().removeprefix("0x")


def body(account, action, key_id=None, **extra):
    """JSON body credentials (POST/DELETE), signed by `account`."""
    text = message(action, key_id)
    return {"walletAddress": account.address, "message": text, "signature": sign(account, text), **extra}


def headers(account, action, key_id=None):
    """Header credentials (GET): the message is base64url."""
    text = message(action, key_id)
    encoded = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return {
        "X-Wallet-Address": account.address,
        "X-Wallet-Message": encoded,
        "X-Wallet-Signature": sign(account, text),
    }


def stripe_signature(secret, payload: bytes, timestamp=None):
    timestamp = int(timestamp if timestamp is not None else time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def session_event(kind, session_id, wallet, pack_id="starter", payment_status="paid"):
    return json.dumps(
        {
            "id": "evt_" + secrets.token_hex(6),
            "object": "event",
            "type": kind,
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "payment_status": payment_status,
                    "amount_total": 1000,
                    "metadata": {"wallet": wallet.lower(), "pack_id": pack_id},
                }
            },
        }
    ).encode()
