#!/usr/bin/env bash
# Installs the peer engines (pyoxigraph, rdflib, onnxruntime, from PyPI) in a virtual environment
# outside the clone and prints the path of its python, for `seam-bench match --peers` and
# `seam-bench analyze --peers`.
set -euo pipefail
venv="${SEAM_BENCH_VENV:-$HOME/.cache/seam-bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "pyoxigraph==0.5.13" "rdflib==7.6.0" "onnxruntime==1.31.1" >&2
echo "$venv/bin/python"
