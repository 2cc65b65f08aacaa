#!/usr/bin/env bash
# SEAM's Thing Description Directory beside Eclipse Thingweb's domus-tdd-api (PyPI), in one run,
# both on an Oxigraph server (PyPI `oxigraph`) of their own, with the same TDs and the same search.
#
#   bench/peers/domus-tdd.sh target/release/seam-bench [seam-bench directory options...]
#
# domus-tdd-api 1.0.2 runs as its README deploys it (gunicorn), two workers of four threads on
# this two-core machine, checking every TD against the TD JSON Schema and its SHACL shapes
# (CHECK_SCHEMA, as SEAM always does; SEAM_DOMUS_CHECK_SCHEMA=False turns it off). domus sends
# queries and updates to one Fuseki-style URL; bench/peers/sparql_router.py routes them to the
# Oxigraph server's /query and /update, and SEAM's store is reached through a router of its own,
# so both pay the same hop. domus's router asks the Oxigraph server to query over the union of
# its graphs, as domus's Fuseki configuration does (its searches read the TDs' named graphs);
# SEAM asks for that itself.
#
# domus reads each TD as JSON-LD by running jsonld.js in a node process (its design); its bundled
# TD 1.1 and Discovery contexts are used (OVERWRITE_DISCOVERY, its setting "for offline
# purposes"), so the TDs (TD 1.1 context only) need no network.
set -euo pipefail
bench="${1:?usage: domus-tdd.sh PATH/TO/seam-bench [directory options]}"
shift
here="$(cd "$(dirname "$0")" && pwd)"
venv="${SEAM_DOMUS_VENV:-$HOME/.cache/seam-domus-venv}"
if ! "$venv/bin/python" -c 'import tdd, gunicorn, pyoxigraph' >/dev/null 2>&1; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "domus-tdd-api==1.0.2" "gunicorn==27.0.1" "oxigraph==0.5.13" >&2
fi
command -v node >/dev/null || { echo "domus-tdd-api needs node on PATH" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 1 300); do
        if curl -s -o /dev/null "$1"; then return 0; fi
        sleep 0.2
    done
    echo "nothing answered at $1" >&2
    exit 1
}

domus_store=$(port); seam_store=$(port); domus_router=$(port); seam_router=$(port); domus_http=$(port)
"$venv/bin/oxigraph" serve --location "$work/domus-db" --bind "127.0.0.1:$domus_store" \
    >"$work/domus-oxigraph.log" 2>&1 &
pids+=($!)
"$venv/bin/oxigraph" serve --location "$work/seam-db" --bind "127.0.0.1:$seam_store" \
    >"$work/seam-oxigraph.log" 2>&1 &
pids+=($!)
"$venv/bin/python" "$here/sparql_router.py" "$domus_router" "$domus_store" --union-queries &
pids+=($!)
"$venv/bin/python" "$here/sparql_router.py" "$seam_router" "$seam_store" &
pids+=($!)
wait_http "http://127.0.0.1:$domus_store/"
wait_http "http://127.0.0.1:$seam_store/"
wait_http "http://127.0.0.1:$domus_router/"
wait_http "http://127.0.0.1:$seam_router/"

(
    cd "$work"
    TDD__SPARQLENDPOINT_URL="http://127.0.0.1:$domus_router/sparql" \
    TDD__TD_REPO_URL="http://127.0.0.1:$domus_http" \
    TDD__CHECK_SCHEMA="${SEAM_DOMUS_CHECK_SCHEMA:-True}" \
    TDD__PERIOD_CLEAR_EXPIRE_TD=0 \
    TDD__OVERWRITE_DISCOVERY=True \
        exec "$venv/bin/gunicorn" --workers 2 --threads 4 --bind "127.0.0.1:$domus_http" \
        --log-level warning 'tdd:create_app()'
) >"$work/domus.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$domus_http/things"

echo "domus-tdd-api 1.0.2 (gunicorn, 2 workers x 4 threads, CHECK_SCHEMA=${SEAM_DOMUS_CHECK_SCHEMA:-True}) on oxigraph $("$venv/bin/oxigraph" --version | awk '{print $2}')"
"$bench" directory --store "http://127.0.0.1:$seam_router/query" --update-url "http://127.0.0.1:$seam_router/update" \
    --peer "http://127.0.0.1:$domus_http" "$@" || { tail -30 "$work/domus.log" >&2; exit 1; }
