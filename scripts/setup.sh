#!/usr/bin/env bash
# Create .venv (if missing) and install mip-mesh with every role's extra and everything the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[all,test]"
if command -v npm >/dev/null && [ ! -d examples/nodejs/node_modules ]; then
    (cd examples/nodejs && npm ci --no-audit --no-fund --loglevel=error)   # the Node.js example client
fi
echo "mip-mesh installed in .venv (try: .venv/bin/mip demo)"
