#!/usr/bin/env bash
# Set up and serve InstrumentShare on SQLite: migrations, demo data on first start, gunicorn and the scheduler.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
export FLASK_APP=wsgi.py
PORT=${PORT:-5000}
export BASE_URL=${BASE_URL:-http://127.0.0.1:$PORT}
# Plain http on loopback for development; production keeps the default (Secure, __Host- cookies).
export SESSION_COOKIE_SECURE=${SESSION_COOKIE_SECURE:-0}
.venv/bin/flask db upgrade
.venv/bin/flask demo seed --if-empty
.venv/bin/flask scheduler run &
scheduler_pid=$!
trap 'kill "$scheduler_pid" 2>/dev/null || true' EXIT INT TERM
echo
echo "InstrumentShare is running at http://127.0.0.1:$PORT  (Ctrl-C stops it)"
.venv/bin/flask demo logins
.venv/bin/gunicorn --workers "${WEB_CONCURRENCY:-2}" --bind "127.0.0.1:$PORT" --access-logfile - wsgi:app
