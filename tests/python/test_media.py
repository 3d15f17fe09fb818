"""Images end to end with the official `openai` SDK, checked by engines Veil
does not use: OpenCV's Haar cascade must find no face in what the upstream
received, and Tesseract must read none of the PII strings of rendered
documents (while it reads them in the originals, so the check can fail).
Also metadata, bad images, decompression bombs, remote images behind the
SSRF guard, the preview's image findings and `veil redact photo.jpg`."""

import base64
import io
import json
import pathlib
import re
import struct
import subprocess
import tempfile
import zlib

import cv2
import numpy as np
import openai
import pytest
import requests
from openai import OpenAI
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from conftest import PII, ROOT, clean_env, start_veil_with_mock, veil_bin
from file_server import FileServer

SAMPLES = ROOT / ".cache" / "test-media"
FONTS = pathlib.Path("/usr/share/fonts/truetype/dejavu")
WALLET = "0x00000000000000000000000000000000000000cc"


@pytest.fixture(scope="module")
def setup():
    veil, mock, key = start_veil_with_mock(WALLET, '[media]\nfetch_allow = ["127.0.0.2/32"]\n')
    yield veil, mock, key, OpenAI(base_url=veil.base_url, api_key=key, max_retries=0)
    veil.stop()
    mock.stop()


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png_bytes(image: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **params)
    return out.getvalue()


def send_image(client, url: str):
    return client.chat.completions.create(
        model="mock",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
        ]}],
    )


def forwarded_image(mock) -> tuple[str, bytes]:
    """The image part the upstream received: its media type and bytes."""
    parts = mock.requests[-1]["messages"][-1]["content"]
    (part,) = [p for p in parts if p["type"] == "image_url"]
    assert part["image_url"]["detail"] == "high"
    match = re.fullmatch(r"data:([^;]+);base64,(.*)", part["image_url"]["url"], re.S)
    assert match, "the upstream must receive a data URL"
    return match.group(1), base64.b64decode(match.group(2))


def haar_faces(data: bytes):
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    return list(cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5))


def tesseract(data: bytes, scale: int = 1) -> str:
    """Tesseract's reading; `scale` enlarges first (it cannot read 10 px text)."""
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        if scale > 1:
            image = image.resize((image.width * scale, image.height * scale), Image.BICUBIC)
        image.save(f.name)
        out = subprocess.run(["tesseract", f.name, "-", "--psm", "11"], capture_output=True, text=True, timeout=120)
    return out.stdout


def squash(text: str) -> str:
    return re.sub(r"[^0-9a-z@]", "", text.lower())


# -- faces -----------------------------------------------------------------


# The face in astronaut.png (x, y, w, h), where the independent detector
# finds it.
ASTRONAUT_FACE = (177, 66, 95, 95)


def group_photo() -> tuple[bytes, list]:
    """Three faces at different sizes, one mirrored, and where they are."""
    crop = (120, 0, 390, 300)
    face = Image.open(SAMPLES / "astronaut.png").convert("RGB").crop(crop)
    canvas = Image.new("RGB", (900, 420), (90, 110, 130))
    fx, fy, fw, fh = ASTRONAUT_FACE[0] - crop[0], ASTRONAUT_FACE[1], ASTRONAUT_FACE[2], ASTRONAUT_FACE[3]
    truth = []
    for (x, y), width, mirrored in [((10, 60), 270, False), ((330, 120), 180, True), ((600, 200), 120, False)]:
        scale = width / face.width
        pasted = face.transpose(Image.FLIP_LEFT_RIGHT) if mirrored else face
        canvas.paste(pasted.resize((width, round(face.height * scale))), (x, y))
        left = (face.width - fx - fw) if mirrored else fx
        truth.append((round(x + left * scale), round(y + fy * scale), round(fw * scale), round(fh * scale)))
    return png_bytes(canvas), truth


PHOTOS = {
    "astronaut": lambda: ((SAMPLES / "astronaut.png").read_bytes(), [ASTRONAUT_FACE]),
    "group": group_photo,
}


def on_a_face(found, truth) -> bool:
    x, y, w, h = found
    cx, cy = x + w / 2, y + h / 2
    return any(tx <= cx <= tx + tw and ty <= cy <= ty + th for tx, ty, tw, th in truth)


@pytest.mark.parametrize("name", list(PHOTOS))
def test_faces_are_no_longer_detectable(setup, name):
    _, mock, _, client = setup
    original, truth = PHOTOS[name]()
    found = [f for f in haar_faces(original) if on_a_face(f, truth)]
    assert len(found) == len(truth), "the independent detector finds every face in the original"
    send_image(client, data_url(original, "image/png"))
    mime, sent = forwarded_image(mock)
    assert mime == "image/png"
    # (The cascade also fires on helmets and rings; only faces count.)
    left = [f for f in haar_faces(sent) if on_a_face(f, truth)]
    assert left == [], "a face is still detectable after redaction"
    before = np.asarray(Image.open(io.BytesIO(original)).convert("L"), dtype=np.float32)
    after = np.asarray(Image.open(io.BytesIO(sent)).convert("L"), dtype=np.float32)
    assert before.shape == after.shape
    for x, y, w, h in truth:
        box_before, box_after = before[y:y + h, x:x + w], after[y:y + h, x:x + w]
        # Pixels changed over the whole box, and its fine detail is gone.
        assert np.mean(np.abs(box_before - box_after)) > 10
        detail = lambda a: np.mean(np.abs(np.diff(a, axis=1)))
        assert detail(box_after) < detail(box_before) / 4


def test_a_photo_without_faces_keeps_its_pixels(setup):
    _, mock, _, client = setup
    original = (SAMPLES / "coffee.png").read_bytes()
    send_image(client, data_url(original, "image/png"))
    _, sent = forwarded_image(mock)
    before = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(sent)).convert("RGB"))
    # Re-encoded (metadata gone) but PNG is lossless: nothing else changed
    # unless OCR found text to fill.
    assert np.mean(before != after) < 0.02


# -- text in images ----------------------------------------------------------



def document(font: str, size: int, fg=(0, 0, 0), bg=(255, 255, 255), angle: float = 0.0) -> bytes:
    face = ImageFont.truetype(str(FONTS / font), size)
    lines = [
        "Invoice 2024-117 for services",
        f"Customer: {PII['person']}",
        f"Email: {PII['email']}",
        f"Phone: {PII['phone']}",
        f"Card: {PII['card']}",
        f"IBAN: {PII['iban']}",
        "Thank you for your business.",
    ]
    step = int(size * 1.9)
    image = Image.new("RGB", (int(size * 26), step * len(lines) + 2 * size), bg)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((size, size + i * step), line, font=face, fill=fg)
    if angle:
        image = image.rotate(angle, expand=True, fillcolor=bg, resample=Image.BICUBIC)
    return png_bytes(image)


def chat_screenshot() -> bytes:
    """A dark-mode chat: light text on dark bubbles, two fonts."""
    image = Image.new("RGB", (760, 330), (32, 33, 36))
    draw = ImageDraw.Draw(image)
    sans = ImageFont.truetype(str(FONTS / "DejaVuSans.ttf"), 17)
    mono = ImageFont.truetype(str(FONTS / "DejaVuSansMono.ttf"), 16)
    draw.rounded_rectangle((20, 20, 600, 90), 12, fill=(60, 64, 67))
    draw.text((36, 32), f"Hi, this is {PII['person']} from accounts.", font=sans, fill=(232, 234, 237))
    draw.text((36, 58), f"Reach me at {PII['email']}", font=sans, fill=(232, 234, 237))
    draw.rounded_rectangle((140, 110, 740, 180), 12, fill=(26, 115, 232))
    draw.text((156, 122), f"Sure. Is {PII['phone']} still your number?", font=sans, fill=(255, 255, 255))
    draw.text((156, 148), "Invoice attached.", font=sans, fill=(255, 255, 255))
    draw.rounded_rectangle((20, 200, 600, 300), 12, fill=(60, 64, 67))
    draw.text((36, 212), f"Card {PII['card']}", font=mono, fill=(232, 234, 237))
    draw.text((36, 240), f"IBAN {PII['iban']}", font=mono, fill=(232, 234, 237))
    draw.text((36, 268), "Thank you!", font=sans, fill=(232, 234, 237))
    return png_bytes(image)


DOCUMENTS = {
    "sans-24": lambda: document("DejaVuSans.ttf", 24),
    "serif-18": lambda: document("DejaVuSerif.ttf", 18),
    "mono-small-14": lambda: document("DejaVuSansMono.ttf", 14),
    "sans-tiny-10": lambda: document("DejaVuSans.ttf", 10),
    "low-contrast": lambda: document("DejaVuSans.ttf", 22, fg=(150, 150, 150), bg=(205, 205, 205)),
    "rotated-7deg": lambda: document("DejaVuSans.ttf", 24, angle=7),
    "chat-dark-mode": chat_screenshot,
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_ocr_finds_none_of_the_pii_in_what_the_upstream_got(setup, name):
    _, mock, _, client = setup
    original = DOCUMENTS[name]()
    scale = 3 if "tiny" in name else 1
    read_before = squash(tesseract(original, scale))
    # The control: the independent reader does read the values before.
    assert "thornton" in read_before and "6467" in read_before, read_before
    send_image(client, data_url(original, "image/png"))
    _, sent = forwarded_image(mock)
    read_after = tesseract(sent, scale)
    squashed = squash(read_after)
    for kind, value in PII.items():
        assert squash(value) not in squashed, f"{kind} is still readable: {read_after!r}"
    # Distinctive pieces too: no four digits of the card, no surname.
    assert "thornton" not in squashed and "6467" not in squashed
    # The rest is still there: the bottom of the image (the "Thank you"
    # line, no PII) is untouched, pixel for pixel.
    before = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"), dtype=np.int16)
    after = np.asarray(Image.open(io.BytesIO(sent)).convert("RGB"), dtype=np.int16)
    bottom = before.shape[0] * 17 // 20
    assert np.mean(np.any(before[bottom:] != after[bottom:], axis=2)) < 0.01
    assert np.mean(np.any(before != after, axis=2)) < 0.5, "the image was not blanked"


# -- metadata ----------------------------------------------------------------


def test_exif_and_text_chunks_are_removed_and_the_family_kept(setup):
    _, mock, _, client = setup
    photo = Image.open(SAMPLES / "chelsea.png").convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0xA431] = "SN-99812345"  # BodySerialNumber (in the Exif IFD)
    exif[0x8825] = {1: "N", 2: (37.0, 46.0, 30.0), 3: "W", 4: (122.0, 25.0, 9.0)}  # GPS
    out = io.BytesIO()
    photo.save(out, "JPEG", exif=exif.tobytes(), quality=92)
    jpeg = out.getvalue()
    assert b"SecretCam" in jpeg
    send_image(client, data_url(jpeg, "image/jpeg"))
    mime, sent = forwarded_image(mock)
    assert mime == "image/jpeg" and sent[:3] == b"\xff\xd8\xff"
    assert b"SecretCam" not in sent and b"SN-99812345" not in sent and b"Exif" not in sent
    assert not Image.open(io.BytesIO(sent)).getexif()

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Roe, 12 Hidden Lane")
    png = png_bytes(photo, pnginfo=info)
    send_image(client, data_url(png, "image/png"))
    mime, sent = forwarded_image(mock)
    assert mime == "image/png" and b"Jane Roe" not in sent and b"tEXt" not in sent


# -- bad input ---------------------------------------------------------------


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image, with almost no data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_bad_images_are_refused_and_never_forwarded(setup):
    _, mock, _, client = setup
    seen = len(mock.requests)
    cases = [
        (data_url(b"this is not an image", "image/png"), openai.BadRequestError, 400),
        (data_url((SAMPLES / "coffee.png").read_bytes()[:4000], "image/png"), openai.BadRequestError, 400),
        ("data:image/png;base64,@@@not-base64@@@", openai.BadRequestError, 400),
        ("ftp://example.com/a.png", openai.BadRequestError, 400),
        (data_url(bomb_png(30000, 30000), "image/png"), openai.APIStatusError, 413),
    ]
    for url, error, status in cases:
        with pytest.raises(error) as caught:
            send_image(client, url)
        assert caught.value.status_code == status
        body = caught.value.response.json()["error"]
        assert status == 413 or body["param"].startswith("messages[0].content[1].image_url")
        if status == 413:
            assert body["code"] == "request_too_large"
    assert len(mock.requests) == seen, "a refused image must not reach the upstream"


# -- remote images -----------------------------------------------------------


def test_remote_images_are_fetched_only_from_allowed_addresses(setup):
    _, mock, _, client = setup
    photo = (SAMPLES / "astronaut.png").read_bytes()
    blocked = FileServer("127.0.0.1", photo, "image/png", "/photo.png")
    allowed = FileServer("127.0.0.2", photo, "image/png", "/photo.png")
    try:
        seen = len(mock.requests)
        with pytest.raises(openai.BadRequestError) as caught:
            send_image(client, blocked.url)
        assert "non-public address" in caught.value.response.json()["error"]["message"]
        assert blocked.hits == 0 and len(mock.requests) == seen
        # 127.0.0.2 is allowlisted in this deployment's [media] fetch_allow.
        send_image(client, allowed.url)
        assert allowed.hits == 1
        mime, sent = forwarded_image(mock)
        assert mime == "image/png" and haar_faces(sent) == []
        assert allowed.url not in json.dumps(mock.requests[-1]), "the provider must not get the URL"
    finally:
        blocked.stop()
        allowed.stop()


# -- preview and CLI ---------------------------------------------------------


def test_preview_reports_faces_and_text_with_boxes(setup):
    veil, mock, key, _ = setup
    seen = len(mock.requests)
    face = (SAMPLES / "astronaut.png").read_bytes()
    doc = document("DejaVuSans.ttf", 24)
    r = requests.post(
        f"{veil.base_url}/pii/preview",
        headers={"Authorization": f"Bearer {key}"},
        json={"images": [data_url(face, "image/png"), {"url": data_url(doc, "image/png")}]},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    faces = [e for e in out["entities"] if e["type"] == "FACE"]
    assert len(faces) == 1 and faces[0]["location"] == "images[0]" and faces[0]["source"] == "face"
    (hx, hy, hw, hh), = haar_faces(face)
    x0, y0, x1, y1 = faces[0]["box"]
    assert x0 <= hx + hw / 2 <= x1 and y0 <= hy + hh / 2 <= y1, "the box is where the face is"
    texts = {e["type"]: e for e in out["entities"] if e["location"] == "images[1]"}
    for kind in ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "PERSON"]:
        assert kind in texts, out["entities"]
        assert len(texts[kind]["box"]) == 4 and texts[kind]["source"] == "ocr"
    assert texts["EMAIL_ADDRESS"]["text"] == PII["email"]
    assert len(out["redacted"]["images"]) == 2
    redacted = base64.b64decode(out["redacted"]["images"][1].split(",", 1)[1])
    assert PII["email"] not in tesseract(redacted)
    assert len(mock.requests) == seen, "a preview never calls the upstream"


def test_cli_redacts_a_photo_to_a_file(tmp_path):
    photo = Image.open(SAMPLES / "astronaut.png").convert("RGB")
    source = tmp_path / "photo.jpg"
    photo.save(source, "JPEG", quality=90)
    assert haar_faces(source.read_bytes())
    out = tmp_path / "out.jpg"
    done = subprocess.run([veil_bin(), "redact", str(source), "-o", str(out)], capture_output=True,
                          text=True, timeout=120, env=clean_env(), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "FACE=1" in done.stderr
    assert out.read_bytes()[:3] == b"\xff\xd8\xff" and haar_faces(out.read_bytes()) == []
    missing = subprocess.run([veil_bin(), "redact", str(source)], capture_output=True, text=True,
                             timeout=120, env=clean_env(), cwd=ROOT)
    assert missing.returncode != 0 and "-o OUT" in missing.stderr
