#!/usr/bin/env bash
# Set up and run every check: ruff, then the whole test suite on SQLite and on a throw-away PostgreSQL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python scripts/run_tests.py "$@"
