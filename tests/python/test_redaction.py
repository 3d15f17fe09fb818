"""Redaction end to end with the official `openai` SDK: the upstream (a
mock that records what it receives) never sees a PII value, and the client
gets the originals back, streamed and not, tool calls included."""

import json

import pytest
import requests
from openai import OpenAI

from conftest import start_veil_with_mock

PII = {
    "email": "jane.doe@example.com",
    "phone": "+44 20 7946 0958",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "key": "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34",
    "person": "Maria Gonzalez",
}
PROMPT = (
    f"Hi, I am {PII['person']}. Mail {PII['email']} or call {PII['phone']}; "
    f"card {PII['card']}, IBAN {PII['iban']}, key {PII['key']}."
)
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look up a record",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}}


@pytest.fixture(scope="module")
def setup():
    veil, mock, key = start_veil_with_mock("0x00000000000000000000000000000000000000aa")
    yield veil, mock, OpenAI(base_url=veil.base_url, api_key=key, max_retries=0)
    veil.stop()
    mock.stop()


def upstream_saw(mock):
    return json.dumps(mock.requests[-1])


def assert_clean(mock):
    seen = upstream_saw(mock)
    for name, value in PII.items():
        assert value not in seen, f"{name} reached the upstream"
    assert "[EMAIL_ADDRESS_1]" in seen and "[CREDIT_CARD_1]" in seen and "[PERSON_1]" in seen


def test_json_answer_is_restored(setup):
    veil, mock, client = setup
    out = client.chat.completions.create(model="mock", messages=[{"role": "user", "content": PROMPT}])
    assert_clean(mock)
    assert out.choices[0].message.content == PROMPT


def test_stream_is_restored_across_chunk_cuts(setup):
    veil, mock, client = setup
    stream = client.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": PROMPT}], stream=True)
    chunks = list(stream)
    assert_clean(mock)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == PROMPT
    assert len(chunks) > 20, "the answer must stay streamed, not collapsed into one chunk"


def test_tool_call_arguments_are_restored(setup):
    veil, mock, client = setup
    out = client.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": PROMPT}], tools=[TOOL])
    assert_clean(mock)
    args = json.loads(out.choices[0].message.tool_calls[0].function.arguments)
    assert args["text"] == PROMPT

    stream = client.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": PROMPT}], tools=[TOOL], stream=True)
    args = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in stream if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(args)["text"] == PROMPT


def test_history_and_tool_results_are_redacted_with_stable_numbers(setup):
    veil, mock, client = setup
    messages = [
        {"role": "user", "content": f"my email is {PII['email']}"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "lookup", "arguments": json.dumps({"text": PII["phone"]})}}]},
        {"role": "tool", "tool_call_id": "c1", "content": f"found {PII['email']} at {PII['phone']}"},
        {"role": "user", "content": "thanks"},
    ]
    client.chat.completions.create(model="mock", messages=messages, tools=[TOOL])
    sent = mock.requests[-1]["messages"]
    assert sent[0]["content"] == "my email is [EMAIL_ADDRESS_1]"
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"text": "[PHONE_NUMBER_1]"}
    assert sent[2]["content"] == "found [EMAIL_ADDRESS_1] at [PHONE_NUMBER_1]"


def test_skip_and_strict_modes(setup):
    veil, mock, client = setup
    out = client.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": f"mail {PII['email']}"}],
        extra_body={"privacyMode": "strict"})
    assert PII["email"] not in upstream_saw(mock)
    assert out.choices[0].message.content == "mail [EMAIL_ADDRESS_1]"

    client.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": f"mail {PII['email']}"}],
        extra_body={"skip_pii_redaction": True})
    assert PII["email"] in upstream_saw(mock)
    assert "skip_pii_redaction" not in mock.requests[-1]


def test_preview_reports_findings_and_charges(setup):
    veil, mock, client = setup
    r = requests.post(f"{veil.base_url}/pii/preview", headers={"Authorization": f"Bearer {client.api_key}"},
                      json={"text": PROMPT}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "pii.preview" and body["cost"]["usd"] == "0.05"
    found = {(e["type"], e["text"]) for e in body["entities"]}
    assert ("EMAIL_ADDRESS", PII["email"]) in found and ("CREDIT_CARD", PII["card"]) in found
    email = next(e for e in body["entities"] if e["type"] == "EMAIL_ADDRESS")
    assert PROMPT[email["start"]:email["end"]] == PII["email"]
    assert PII["email"] not in body["redacted"]["text"]

    bad = requests.post(f"{veil.base_url}/pii/preview", headers={"Authorization": f"Bearer {client.api_key}"},
                        json={"text": 5}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def test_image_parts_are_refused_not_forwarded(setup):
    veil, mock, client = setup
    before = len(mock.requests)
    import openai
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="mock", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}])
    assert len(mock.requests) == before
