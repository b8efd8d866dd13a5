#!/usr/bin/env bash
# The lint gates CI runs before the tests: rustfmt, clippy on the workspace, and clippy on
# the helper programs that build scripts compile with plain rustc (berth-monitor,
# berth-dmz, the test probe: see lib/build-support), which cargo clippy never sees.
# Every warning fails.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

# The helpers: every `berth_build_support::*_binary("SOURCE", …)` in a build script, linted
# as its own binary crate with the workspace's lints. Only checked (--emit=metadata), so
# the no_std dmz needs none of its link flags here.
driver=${CLIPPY_DRIVER:-$(command -v clippy-driver || rustup which clippy-driver)}
rustc=${RUSTC:-$(command -v rustc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
found=0
while IFS= read -r build_rs; do
  crate_dir=$(dirname "$build_rs")
  for source in $(grep -o '_binary("[^"]*"' "$build_rs" | sed 's/^_binary("//; s/"$//'); do
    found=$((found + 1))
    echo "clippy: $crate_dir/$source"
    "$driver" "$rustc" "$crate_dir/$source" --edition 2021 --crate-type bin \
      -C panic=abort --emit=metadata --out-dir "$out" \
      -D warnings -D unsafe_op_in_unsafe_fn -D clippy::undocumented_unsafe_blocks
  done
done < <(git ls-files '*build.rs')
if [ "$found" -eq 0 ]; then
  echo "lint.sh: no helper program found in the build scripts" >&2
  exit 1
fi
