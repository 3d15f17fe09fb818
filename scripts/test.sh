#!/usr/bin/env bash
# The test command: formatting, lints, Rust tests, then the Python suite
# (official `openai` SDK) against the binary the Rust tests built.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*"; }

bash scripts/setup.sh
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
