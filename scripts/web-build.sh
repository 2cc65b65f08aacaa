#!/usr/bin/env bash
# Builds the web page (web/, Vite) into registry/assets/web/, which the service compiles into its
# binary. With --check, builds into a scratch folder instead and fails when the committed files
# differ from what the sources build (the test command runs this: the page served is the page
# the sources say). Needs Node.js and npm; the front-end packages come from web/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is missing (Debian: nodejs npm), needed to build the web page" >&2
    exit 1
fi
# Installed again only when the lock file changed since the last install.
stamp=web/node_modules/.seam-lock
if [ ! -f "$stamp" ] || ! cmp -s web/package-lock.json "$stamp"; then
    # `npm install` from the lock file rather than `npm ci`: Vite 8 names an optional,
    # Windows-only dependency the registry does not serve, which `npm ci` takes for a lock file
    # out of step; `--no-save` keeps package.json and the lock file as committed.
    npm install --prefix web --no-save --no-audit --no-fund --loglevel=error >&2
    cp web/package-lock.json "$stamp"
fi

if [ "${1:-}" = "--check" ]; then
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    (cd web && SEAM_WEB_OUT="$scratch" npx --no-install vite build --logLevel warn)
    if ! diff -r "$scratch" registry/assets/web; then
        echo "error: registry/assets/web/ is not what web/ builds: run scripts/web-build.sh and commit the result" >&2
        exit 1
    fi
    echo "registry/assets/web/ is what web/ builds"
else
    (cd web && npx --no-install vite build)
fi
