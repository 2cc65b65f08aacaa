# Sourced by scripts/test.sh: installs the independent implementations the interop tests run
# against SEAM, and exports where they are. Versions are pinned; everything lands outside the
# clone (~/.cache) so repeated runs reuse it.
#   - libcoap3-bin (Debian): coap-client-notls, a C CoAP client, registers by hand and fetches
#     packages block-wise;
#   - aiocoap (PyPI): a Python CoAP stack, scripted registrations and malformed options; with
#     DTLSSocket (PyPI, tinydtls; built with Debian's autoconf and automake) it registers over
#     DTLS with TLS_PSK_WITH_AES_128_CCM_8;
#   - lwm2m-node-lib (npm): Telefónica's LwM2M 1.0 client library on the node `coap` package;
#   - graphql-ws + ws + graphql (npm): the reference graphql-transport-ws client, for rollout
#     subscriptions over /graphql/ws;
#   - chromium (Debian), playwright-core + axe-core (npm): the web page's end-to-end tests drive
#     Debian's Chromium headless with Playwright's library (it downloads no browser) and check
#     every page with axe-core;
#   - @node-wot/core + @node-wot/binding-http (npm): Eclipse Thingweb's WoT consumer, driving the
#     Thing Description Directory through the directory's own TD. node-wot asks for
#     wot-thing-description-types ^1.1.0-12-March-2025, which npm resolves to the 2021 build
#     (prerelease tags compare as numbers: 27 > 12) whose schema refuses the TD 1.1 context, so
#     the 2025 build is named;
#   - jsonld (npm), the JSON-LD 1.1 reference implementation, and the W3C WoT TD playground's
#     example TDs (npm @thing-description-playground/core, its examples only: unpacked, not
#     installed): real TDs' triples are compared with jsonld.js's;
#   - onnxruntime + onnx (PyPI): ONNX Runtime's static quantiser, the external compiler declared
#     in compilers/onnxruntime.toml, run by the compiler bridge's `external` backend.

seam_cache="${XDG_CACHE_HOME:-$HOME/.cache}"

# seam_apt_install comes from scripts/ensure-deps.sh, which test.sh sources first; sourced alone
# (to set up the peers for one test by hand), this file brings it in itself.
if ! command -v seam_apt_install >/dev/null 2>&1; then
    # shellcheck source=scripts/ensure-deps.sh
    . "$(dirname "${BASH_SOURCE[0]}")/ensure-deps.sh"
fi
if ! command -v coap-client-notls >/dev/null 2>&1; then
    seam_apt_install libcoap3-bin "libcoap's coap-client, for the interop tests"
fi

if [ ! -x /usr/bin/chromium ]; then
    seam_apt_install chromium "Debian's Chromium, for the web page's browser tests"
fi
export SEAM_CHROMIUM=/usr/bin/chromium

export SEAM_INTEROP_PYTHON="$seam_cache/seam-interop-venv/bin/python"
if ! "$SEAM_INTEROP_PYTHON" -c 'import aiocoap' >/dev/null 2>&1; then
    echo "installing aiocoap into $seam_cache/seam-interop-venv (interop tests)..." >&2
    python3 -m venv "$seam_cache/seam-interop-venv" >&2
    "$seam_cache/seam-interop-venv/bin/pip" install -q --disable-pip-version-check aiocoap==0.4.17 >&2
fi
# aiocoap's DTLS transport is tinydtls through DTLSSocket, built from source (autoreconf).
if ! "$SEAM_INTEROP_PYTHON" -c 'import DTLSSocket' >/dev/null 2>&1; then
    command -v autoreconf >/dev/null 2>&1 || seam_apt_install autoconf "builds tinydtls for aiocoap's DTLS tests"
    command -v aclocal >/dev/null 2>&1 || seam_apt_install automake "builds tinydtls for aiocoap's DTLS tests"
    echo "installing DTLSSocket (tinydtls) into $seam_cache/seam-interop-venv (DTLS interop tests)..." >&2
    "$seam_cache/seam-interop-venv/bin/pip" install -q --disable-pip-version-check DTLSSocket==0.2.3 >&2
fi
if ! "$SEAM_INTEROP_PYTHON" -c 'import onnxruntime, onnx' >/dev/null 2>&1; then
    echo "installing onnxruntime and onnx into $seam_cache/seam-interop-venv (external compiler tests)..." >&2
    "$seam_cache/seam-interop-venv/bin/pip" install -q --disable-pip-version-check \
        onnxruntime==1.31.1 onnx==1.23.2 >&2
fi

export SEAM_NODE_MODULES="$seam_cache/seam-interop-node/node_modules"
seam_node_peers="lwm2m-node-lib@1.4.0 graphql-ws@6.0.6 graphql@16.11.0 ws@8.18.3 playwright-core@1.65.1 axe-core@4.14.1 jsonld@8.3.3 @node-wot/core@0.9.2 @node-wot/binding-http@0.9.2 wot-thing-description-types@1.1.0-12-March-2025"
seam_node_missing=0
for peer in $seam_node_peers; do
    name="${peer%@*}"
    version="${peer##*@}"
    if ! grep -q "\"version\": \"$version\"" "$SEAM_NODE_MODULES/$name/package.json" 2>/dev/null; then
        seam_node_missing=1
    fi
done
if [ "$seam_node_missing" = 1 ]; then
    echo "installing $seam_node_peers into $seam_cache/seam-interop-node (interop and browser tests)..." >&2
    mkdir -p "$seam_cache/seam-interop-node"
    # shellcheck disable=SC2086 # one argument per package
    npm install --prefix "$seam_cache/seam-interop-node" --no-audit --no-fund --loglevel=error $seam_node_peers >&2
fi

# Real TDs written by others: the playground package's examples (valid, invalid, warning), taken
# from its tarball without its dependencies.
export SEAM_TD_EXAMPLES="$seam_cache/seam-interop-node/td-playground/package/examples/tds"
if [ ! -d "$SEAM_TD_EXAMPLES/valid" ]; then
    echo "unpacking the W3C WoT TD playground's example TDs into $seam_cache/seam-interop-node/td-playground..." >&2
    mkdir -p "$seam_cache/seam-interop-node/td-playground"
    (cd "$seam_cache/seam-interop-node/td-playground" \
        && npm pack --silent @thing-description-playground/core@1.4.0 >/dev/null \
        && tar -xzf thing-description-playground-core-1.4.0.tgz package/examples/tds)
fi

# SPARQL engines SEAM runs on as a remote store (`--store URL`): Oxigraph server (PyPI
# `oxigraph`, the server binary in a wheel) and Virtuoso Open Source (Debian). The tests start
# private instances on loopback with data of their own.
export SEAM_OXIGRAPH_SERVER="$seam_cache/seam-interop-venv/bin/oxigraph"
if ! "$SEAM_OXIGRAPH_SERVER" --version 2>/dev/null | grep -q "0.5.13"; then
    echo "installing the Oxigraph server (PyPI oxigraph) into $seam_cache/seam-interop-venv (remote store tests)..." >&2
    "$seam_cache/seam-interop-venv/bin/pip" install -q --disable-pip-version-check oxigraph==0.5.13 >&2
fi
if ! command -v virtuoso-t >/dev/null 2>&1 || ! command -v isql-vt >/dev/null 2>&1; then
    seam_apt_install virtuoso-opensource-7-bin "Virtuoso Open Source, for the remote store tests"
fi
export SEAM_VIRTUOSO="$(command -v virtuoso-t)"
export SEAM_VIRTUOSO_ISQL="$(command -v isql-vt)"
