"""PDFs and URLs end to end with the official `openai` SDK. What the mock
upstream receives is redacted text, page by page, never the file: none of
the PII values, while Poppler's `pdftotext` (an engine Veil does not use)
finds every one of them in the originals, so each check can fail. Also the
page caps, encrypted and truncated files, scanned pages read by OCR, the
`pdfs` and `urls` parameters behind the SSRF guard, the preview's PDF
findings and `veil redact doc.pdf`."""

import base64
import io
import json
import subprocess

import openai
import pytest
import requests
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from openai import OpenAI
from PIL import Image, ImageDraw, ImageFont

from conftest import PII, ROOT, clean_env, start_veil_with_mock, veil_bin
from file_server import FileServer
from test_media import SAMPLES, haar_faces

WALLET = "0x00000000000000000000000000000000000000dd"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
# Words of the letter that are not personal data: they must arrive.
PROSE = "Thank you for ordering the garden chairs"
LETTER = [
    f"Dear {PII['person']},",
    f"{PROSE}. They will be delivered next week, between nine and five, to the address "
    "you gave us. If the time does not suit you, please reply to this letter or write "
    f"to us at {PII['email']}, and we will find another day that works for both of us.",
    f"You can also call us on {PII['phone']} from Monday to Friday.",
    "With kind regards, the delivery team",
]
CONTACTS = [f"Name: {PII['person']}", f"Email: {PII['email']}", f"Phone: {PII['phone']}",
            f"Card: {PII['card']}", f"IBAN: {PII['iban']}"]


@pytest.fixture(scope="module")
def setup():
    veil, mock, key = start_veil_with_mock(
        WALLET, '[media]\nfetch_allow = ["127.0.0.2/32"]\npdf_max_pages = 60\n')
    yield veil, mock, key, OpenAI(base_url=veil.base_url, api_key=key, max_retries=0)
    veil.stop()
    mock.stop()


def pdf_bytes(pages: list[list[str]], font: str = "core", title: str | None = None,
              comment: str | None = None) -> bytes:
    """A text PDF, one list of paragraphs per page, in a standard font
    (`core`) or an embedded TrueType font (`ttf`, Identity-H with ToUnicode)."""
    pdf = FPDF()
    if font == "ttf":
        pdf.add_font("DejaVu", fname=DEJAVU)
    for i, paragraphs in enumerate(pages):
        pdf.add_page()
        pdf.set_font("DejaVu" if font == "ttf" else "Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
        if comment and i == 0:
            pdf.text_annotation(150, 20, comment)
    if title:
        pdf.set_title(title)
    return bytes(pdf.output())


def scanned_pdf() -> bytes:
    """One page that is only a photographed text (no text layer)."""
    image = Image.new("RGB", (1240, 520), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(DEJAVU, 34)
    for i, line in enumerate([f"Invoice for {PII['person']}", f"Email: {PII['email']}",
                              f"Phone: {PII['phone']}", "Amount due: 120 USD"]):
        draw.text((60, 60 + i * 90), line, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(buffer, x=10, y=10, w=190)
    return bytes(pdf.output())


def encrypted_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, f"Secret note for {PII['person']}")
    pdf.set_encryption(owner_password="owner", user_password="open sesame",
                       encryption_method=EncryptionMethod.RC4)
    return bytes(pdf.output())


def data_url(data: bytes) -> str:
    return "data:application/pdf;base64," + base64.b64encode(data).decode()


def pdftotext(data: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode()


def squash(text: str) -> str:
    return "".join(text.split())


def assert_no_pii(text: str):
    for name, value in PII.items():
        assert squash(value) not in squash(text), f"{name} reached the upstream"
    assert "Thornton" not in text


def file_message(data: bytes, name: str = "letter.pdf") -> list:
    return [{"role": "user", "content": [
        {"type": "text", "text": "Summarize this letter."},
        {"type": "file", "file": {"filename": name, "file_data": data_url(data)}},
    ]}]


def sent_parts(mock) -> list:
    return mock.requests[-1]["messages"][-1]["content"]


@pytest.mark.parametrize("font", ["core", "ttf"])
def test_a_pdf_file_part_reaches_the_upstream_as_redacted_text_only(setup, font):
    _, mock, _, client = setup
    data = pdf_bytes([LETTER, CONTACTS], font, title=f"Letter to {PII['person']}",
                     comment=f"Call {PII['phone']}")
    original = pdftotext(data)
    for value in PII.values():
        assert squash(value) in squash(original), "the fixture must hold every value"
    answer = client.chat.completions.create(model="mock", messages=file_message(data))
    parts = sent_parts(mock)
    assert [p["type"] for p in parts] == ["text", "text"], "the file must not be forwarded"
    text = parts[1]["text"]
    assert_no_pii(text)
    assert "JVBERi" not in json.dumps(mock.requests[-1]), "no PDF bytes may be forwarded"
    assert PROSE in text and "delivery team" in text, text
    assert "--- Page 1 of 2 ---" in text
    assert "--- Page 2 of 2 (withheld" in text, "a page of contact details is withheld whole"
    assert "Title: Letter to [PERSON_1]" in text and "Comment: Call [PHONE_NUMBER_1]" in text
    # The mock answers with what it got: the client gets the originals back.
    assert PII["person"] in answer.choices[0].message.content
    assert PII["email"] in answer.choices[0].message.content


def test_an_image_and_a_pdf_in_one_message_both_arrive_redacted(setup):
    _, mock, _, client = setup
    photo = (SAMPLES / "astronaut.png").read_bytes()
    assert haar_faces(photo), "the control: the face is found in the original"
    messages = file_message(pdf_bytes([LETTER]))
    messages[0]["content"].append({"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(photo).decode()}})
    client.chat.completions.create(model="mock", messages=messages)
    parts = sent_parts(mock)
    assert [p["type"] for p in parts] == ["text", "text", "image_url"]
    assert_no_pii(parts[1]["text"])
    assert PROSE in parts[1]["text"]
    sent = base64.b64decode(parts[2]["image_url"]["url"].split(",", 1)[1])
    assert haar_faces(sent) == [], "the face must not be detectable in what the upstream got"


def test_a_scanned_page_is_read_by_ocr_and_redacted(setup):
    _, mock, _, client = setup
    client.chat.completions.create(model="mock", messages=file_message(scanned_pdf(), "scan.pdf"),
                                   extra_body={"piiConfig": {"pdf": {"withholdPageAbove": 1}}})
    text = sent_parts(mock)[1]["text"]
    assert "(scanned; read by OCR)" in text
    assert "Amount due: 120 USD" in text, text
    assert_no_pii(text)


def test_page_caps_and_unreadable_pdfs_are_refused_and_never_forwarded(setup):
    _, mock, _, client = setup
    long = pdf_bytes([[f"Page {i + 1} of the report. Nothing personal here."] for i in range(60)])
    client.chat.completions.create(model="mock", messages=file_message(long, "report.pdf"))
    assert "--- Page 60 of 60 ---\nPage 60 of the report." in sent_parts(mock)[1]["text"]
    seen = len(mock.requests)
    letter = pdf_bytes([LETTER])
    cases = [
        (long, {"piiConfig": {"pdf": {"maxPages": 50}}}, 413, "60 pages"),
        (encrypted_pdf(), {}, 400, "encrypted with a password"),
        (letter[: len(letter) // 2], {}, 400, "truncated"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 500 + b"\n%%EOF\n", {}, 400, "damaged"),
        (b"plain text, not a PDF", {}, 400, "not a PDF"),
    ]
    for data, extra, status, reason in cases:
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="mock", messages=file_message(data),
                                           extra_body=extra)
        assert caught.value.status_code == status, reason
        error = caught.value.response.json()["error"]
        assert reason in error["message"], error
        if status == 400:
            assert error["param"] == "messages[0].content[1].file.file_data"
        else:
            assert error["code"] == "request_too_large"
    assert len(mock.requests) == seen, "a refused PDF must not reach the upstream"


def test_pdfs_and_urls_are_fetched_from_allowed_addresses_and_added_as_context(setup):
    _, mock, _, client = setup
    html = (f"<html><head><title>Team</title><script>track('{PII['email']}')</script></head>"
            f"<body><h1>Our team</h1><p>Write to {PII['person']} at {PII['email']}.</p>"
            "<p>Opening hours: nine to five.</p></body></html>").encode()
    page = FileServer("127.0.0.2", html, "text/html; charset=utf-8", "/team.html")
    pdf = FileServer("127.0.0.2", pdf_bytes([LETTER]), "application/pdf", "/letter.pdf")
    blocked = FileServer("127.0.0.1", html, "text/html", "/team.html")
    try:
        client.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": "What do these say?"}],
            extra_body={"urls": [page.url], "pdfs": [pdf.url]})
        assert page.hits == 1 and pdf.hits == 1
        parts = sent_parts(mock)
        assert parts[0] == {"type": "text", "text": "What do these say?"}
        pdf_text, web_text = parts[1]["text"], parts[2]["text"]
        assert pdf_text.startswith("PDF document") and PROSE in pdf_text
        assert web_text.startswith("Content of [") and "Opening hours: nine to five." in web_text
        assert "track(" not in web_text, "scripts are not text"
        sent = json.dumps(mock.requests[-1])
        assert_no_pii(sent)
        assert "127.0.0.2" not in sent, "the provider must not get the URLs"
        assert "urls" not in mock.requests[-1] and "pdfs" not in mock.requests[-1]
        seen = len(mock.requests)
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="mock", messages=[{"role": "user", "content": "x"}],
                extra_body={"urls": [blocked.url]})
        error = caught.value.response.json()["error"]
        assert error["param"] == "urls[0]" and "non-public address" in error["message"]
        assert blocked.hits == 0 and len(mock.requests) == seen
    finally:
        page.stop()
        pdf.stop()
        blocked.stop()


def test_preview_reports_pdf_findings_by_page(setup):
    veil, mock, key, _ = setup
    seen = len(mock.requests)
    r = requests.post(
        f"{veil.base_url}/pii/preview",
        headers={"Authorization": f"Bearer {key}"},
        json={"pdfs": [data_url(pdf_bytes([LETTER, CONTACTS]))]},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    emails = [e for e in out["entities"] if e["type"] == "EMAIL_ADDRESS"]
    assert {e["location"] for e in emails} == {"pdfs[0].pages[0]", "pdfs[0].pages[1]"}
    assert all(e["text"] == PII["email"] for e in emails)
    pages = out["redacted"]["pdfs"][0]["pages"]
    assert [p["page"] for p in pages] == [1, 2]
    assert not pages[0]["withheld"] and PROSE in pages[0]["text"]
    assert pages[1]["withheld"] and pages[1]["text"] == ""
    assert_no_pii(json.dumps(out["redacted"]))
    assert len(mock.requests) == seen, "a preview never calls the upstream"


def test_cli_prints_the_redacted_text_page_by_page(tmp_path):
    source = tmp_path / "letter.pdf"
    source.write_bytes(pdf_bytes([LETTER, ["Page two says nothing personal at all."]]))
    done = subprocess.run([veil_bin(), "redact", str(source)], capture_output=True, text=True,
                          timeout=120, env=clean_env(), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "--- Page 1 of 2 ---" in done.stdout and "--- Page 2 of 2 ---" in done.stdout
    assert PROSE in done.stdout and "Page two says nothing personal at all." in done.stdout
    assert_no_pii(done.stdout)
    assert "EMAIL_ADDRESS=1" in done.stderr
