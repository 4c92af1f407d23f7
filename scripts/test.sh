#!/usr/bin/env bash
# Install, then run every check CI runs: generated code, lint, format, types, imports, tests.
# The tests run against a real MonetDB server too: the prebuilt one in ../shared/monetdb is
# started in a temporary directory (and stopped at the end, even on failure), unless
# MIP_MONETDB_URL already names one. Without either, the MonetDB cases skip (fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/gen_protos.py --check
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
monetdb=../shared/monetdb
if [ -z "${MIP_MONETDB_URL:-}" ] && [ -f "$monetdb/start.sh" ]; then
    monetdb_dir=$(mktemp -d "${TMPDIR:-/tmp}/mip-test-monetdb.XXXXXX")
    trap 'bash "$monetdb/stop.sh" "$monetdb_dir"; rm -rf "$monetdb_dir"' EXIT
    port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    MIP_MONETDB_URL=$(bash "$monetdb/start.sh" "$monetdb_dir" "$port" mip)
    export MIP_MONETDB_URL
    echo "MonetDB for the tests: $MIP_MONETDB_URL"
fi
.venv/bin/python -m pytest -q "$@"
