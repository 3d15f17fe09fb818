"""Credits and limits as the official `openai` SDK surfaces them."""

import json

import openai
import pytest
from openai import OpenAI

MESSAGES = [{"role": "user", "content": "hello"}]


def client_for(veil, key):
    return OpenAI(base_url=veil.base_url, api_key=key, max_retries=0)


def test_unfunded_key_gets_status_402(veil):
    key = veil.new_key("0x00000000000000000000000000000000000000e1")
    with pytest.raises(openai.APIStatusError) as info:
        client_for(veil, key).chat.completions.create(model="echo", messages=MESSAGES)
    assert info.value.status_code == 402
    assert info.value.code == "insufficient_credits"


def test_rpm_limit_raises_rate_limit_error(veil):
    wallet = "0x00000000000000000000000000000000000000e2"
    key = veil.new_key(wallet, "--rpm", "2")
    veil.cli("credits", "grant", "--wallet", wallet, "--usd", "1", "--test")
    client = client_for(veil, key)
    raw = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES)
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    assert raw.headers["x-veil-cost-usd"].startswith("0.0000")
    client.chat.completions.create(model="echo", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="echo", messages=MESSAGES)
    assert info.value.code == "rate_limit_exceeded_rpm"
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert int(info.value.response.headers["retry-after-ms"]) > 0


def test_ledger_records_the_request_id(veil):
    wallet = "0x00000000000000000000000000000000000000e3"
    key = veil.new_key(wallet)
    veil.cli("credits", "grant", "--wallet", wallet, "--usd", "0.5", "--test")
    client = client_for(veil, key)
    client.chat.completions.create(
        model="echo", messages=MESSAGES, extra_headers={"X-Request-Id": "py-req-1"}
    )
    entries = json.loads(veil.cli("ledger", "--wallet", wallet, "--request-id", "py-req-1", "--json"))
    assert [e["kind"] for e in entries] == ["hold", "release", "settle"]
    assert entries[-1]["completion_tokens"] > 0
