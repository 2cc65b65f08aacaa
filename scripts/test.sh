#!/usr/bin/env bash
# The whole test suite, as the README states it: installs what the build and the tests need,
# then checks formatting, lints, runs every workspace test, a short crash-safety run (SIGKILL
# and restart, invariants checked; `seam-bench crash --kills 50` for the full run) and every
# fuzz target for a fixed time (scripts/fuzz.sh).
#
# Build dependencies: Oxigraph's RocksDB binding runs bindgen, which needs libclang (Debian:
# libclang-dev). Interop test peers: libcoap3-bin (Debian), aiocoap (PyPI), lwm2m-node-lib (npm),
# installed by scripts/interop-peers.sh; the web page's browser tests need Debian's chromium and
# playwright-core and axe-core (npm), installed there too. The web page's front-end packages
# (web/package-lock.json) are installed by scripts/web-build.sh. The target directory lives
# outside the clone so repeated runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
source scripts/interop-peers.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seam-target}"
# The logs are written there before cargo has made it (a fresh machine has no target directory).
mkdir -p "$CARGO_TARGET_DIR"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Keep test builds lean on 2 cores: no incremental artefacts in CI.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi

start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "web page: registry/assets/web/ is what web/ builds"
./scripts/web-build.sh --check

step "cargo build + clippy (every target, -D warnings, in one build)"
# Clippy runs as the compiler of the workspace's own crates (RUSTC_WORKSPACE_WRAPPER, what `cargo
# clippy` does in check mode) during the one real build: dependencies are compiled once, for the
# lints, the tests and `scripts/run.sh` alike, instead of once more in check mode (19 minutes
# on a cold machine). CLIPPY_ARGS is how cargo-clippy hands `-D warnings` to the driver; the log
# is checked for warnings too, in case a future driver ignores it. The whole workspace is built
# at once (features are unified over the packages selected), the device simulator that the
# interop tests run included.
RUSTC_WORKSPACE_WRAPPER="${RUSTC_WORKSPACE_WRAPPER:-$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)}"
if [ -z "$RUSTC_WORKSPACE_WRAPPER" ]; then
    echo "error: clippy is missing (rustup component add clippy)" >&2
    exit 1
fi
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings"
build_log="${CARGO_TARGET_DIR}/last-build.log"
cargo build --workspace --all-targets --locked 2>&1 | tee "$build_log"
if grep -q '^warning' "$build_log"; then
    echo "error: the build has warnings (see above)" >&2
    exit 1
fi

step "cargo test (workspace)"
cargo test --workspace --locked 2>&1 | tee "${CARGO_TARGET_DIR}/last-test.log"

step "crash safety: SIGKILL at random moments of loads, registration storms, rollouts"
"$CARGO_TARGET_DIR/debug/seam-bench" crash --seam "$CARGO_TARGET_DIR/debug/seam" --kills "${SEAM_CRASH_KILLS:-6}"

step "fuzz: every target for ${SEAM_FUZZ_SECONDS:-30} s on its committed corpus"
SEAM_FUZZ_SEED="${SEAM_FUZZ_SEED:-1}" ./scripts/fuzz.sh "${SEAM_FUZZ_SECONDS:-30}"

step "done"
