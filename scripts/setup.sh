#!/usr/bin/env bash
# Idempotent setup of everything Veil's run and tests need on a fresh machine:
# the Python venv with the pinned client packages used by the test suite.
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
step "setup done"
