#!/usr/bin/env bash
# Builds berth and runs every test (unit and integration, as root). The integration tests
# run the built binaries as subprocesses, each with its own temporary --root.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo nextest run --workspace --no-fail-fast "$@"
