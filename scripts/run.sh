#!/usr/bin/env bash
# Runs SEAM (any seam command) after making sure the build's system packages are there:
#   ./scripts/run.sh               seam demo: the whole story in one process (SeLoC-ML's TFLite
#                                  models too when ../shared/interop/seloc-ml/models is there)
#   ./scripts/run.sh serve
#   ./scripts/run.sh seam-device-sim --devices 100     (any binary of the workspace, by name)
#
# One cargo profile for everything: the `dev` profile, with dependencies optimised (opt-level 1,
# see Cargo.toml), is what the test command builds too, in the same target directory. Whichever
# of the two runs second finds every dependency built (RocksDB's C++ included) and compiles
# SEAM's own crates only. The whole workspace is built, as the test command builds it: features
# are unified over the packages selected, so building `seam` alone would compile shared
# dependencies a second time with other features.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seam-target}"
cargo build --workspace --locked
binary=seam
case "${1:-}" in
    seam-bench | seam-device-sim) binary=$1; shift ;;
    "")
        set -- demo
        if [ -d ../shared/interop/seloc-ml/models ]; then
            set -- demo --seloc-models ../shared/interop/seloc-ml/models
        fi
        ;;
esac
exec "$CARGO_TARGET_DIR/debug/$binary" "$@"
