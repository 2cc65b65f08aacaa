#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS each (default 30) on its committed
# corpus (fuzz/corpus/<target>), with libFuzzer through libfuzzer-sys: what `cargo fuzz run
# --sanitizer none` does, on the stable toolchain and without installing cargo-fuzz. The
# decoders are safe Rust, so a panic, a timeout or a runaway allocation is the finding; a
# sanitizer would add nothing but a second build of every dependency.
#
# The fuzz crate is its own workspace with its own target directory (coverage flags change
# every artifact), and links no store: RocksDB is never built for it.
#
# SEAM_FUZZ_SEED fixes libFuzzer's seed (the test command uses 1, so that a run can be
# repeated); 0, the default, lets libFuzzer pick one.
#
#   scripts/fuzz.sh            # every target, 30 s each
#   scripts/fuzz.sh 300 coap_datagram
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi
export CARGO_TARGET_DIR="${SEAM_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/seam-target}-fuzz}"
# The flags cargo-fuzz passes for libFuzzer's coverage (sancov), without a sanitizer.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the flags off build scripts and proc-macros (as cargo-fuzz does).
host="$(rustc -vV | sed -n 's/^host: //p')"
started=$(date +%s)
cargo build --quiet --locked --release --manifest-path fuzz/Cargo.toml --bins --target "$host"
bin="$CARGO_TARGET_DIR/$host/release"
echo "fuzz build: $(( $(date +%s) - started )) s" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for target in "${targets[@]}"; do
    mkdir -p "$work/$target"
    # New inputs go to a scratch corpus; the committed one is read only.
    if ! "$bin/$target" "$work/$target" "fuzz/corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -seed="${SEAM_FUZZ_SEED:-0}" \
        -artifact_prefix="$work/$target-" -print_final_stats=1 2>"$work/$target.log"; then
        echo "fuzz: $target FOUND A CRASH:" >&2
        tail -40 "$work/$target.log" >&2
        for artifact in "$work/$target"-*; do
            [ -f "$artifact" ] && echo "  input (base64): $(base64 -w0 "$artifact")" >&2
        done
        failed=1
    else
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || echo '?')
        echo "fuzz: $target: ${seconds} s, ${runs} inputs, no crash" >&2
    fi
done
echo "fuzz: $(( $(date +%s) - started )) s in all" >&2
exit $failed
