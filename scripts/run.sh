#!/usr/bin/env bash
# Runs the service (or any seam command) after making sure the build's system packages are there:
#   ./scripts/run.sh serve        (== cargo run --release -- serve)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
exec cargo run --release -- "$@"
