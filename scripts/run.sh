#!/usr/bin/env bash
# The run command: set up, build, and start Veil on its embedded defaults
# (127.0.0.1:8080, SQLite veil.db, echo models, a bootstrap test key printed
# on the first start). Extra arguments go to `veil serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --bin veil
exec target/release/veil serve "$@"
