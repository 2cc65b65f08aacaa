#!/usr/bin/env bash
# The whole test suite, as the README states it: installs what the build and the tests need,
# then checks formatting, lints, and runs every workspace test.
#
# Build dependencies: Oxigraph's RocksDB binding runs bindgen, which needs libclang (Debian:
# libclang-dev). Interop test peers: libcoap3-bin (Debian), aiocoap (PyPI), lwm2m-node-lib (npm),
# installed by scripts/interop-peers.sh. The target directory lives outside the clone so repeated
# runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
source scripts/interop-peers.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seam-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Keep test builds lean on 2 cores: no incremental artefacts in CI.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi

start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (every target, the device simulator the interop tests run included)"
# `cargo test` builds a package's binaries only for that package's own tests; the simulator is
# run by the root package's interop tests, so it is built first. The whole workspace is built
# at once: features are unified over the packages selected, so building the simulator alone
# compiled its dependencies a second time with other features (8 minutes on a cold machine).
cargo build --workspace --all-targets --locked

step "cargo test (workspace)"
cargo test --workspace --locked 2>&1 | tee "${CARGO_TARGET_DIR}/last-test.log"

step "done"
