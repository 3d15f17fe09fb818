#!/usr/bin/env bash
# The test command: formatting, lints, Rust tests, then the Python suite
# (official `openai` SDK) against the binary the Rust tests built.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*"; }

bash scripts/setup.sh
# The Python suite checks what Veil sends upstream with readers Veil does not
# use: Tesseract for redacted images, Poppler's pdftotext for PDFs, and the
# DejaVu font to draw test documents. Debian packages, installed when missing.
readers="tesseract-ocr tesseract-ocr-eng poppler-utils fonts-dejavu-core"
if ! command -v tesseract >/dev/null || ! command -v pdftotext >/dev/null \
    || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "error: the Python tests need Tesseract, pdftotext and the DejaVu font;" \
            "on Debian: sudo apt-get install $readers" >&2
        exit 1
    fi
    step "installing $readers (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086 # the list is meant to split into packages
    apt-get install -y -qq --no-install-recommends $readers >/dev/null
fi
step "cargo fmt --check"
cargo fmt --check
step "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast
else
    cargo test --locked --no-fail-fast
fi
step "Python tests (openai SDK)"
# target/debug/veil was built for the Rust tests (they run it too).
TEST_VEIL_BIN="$PWD/target/debug/veil" .venv/bin/python -m pytest -q tests/python
