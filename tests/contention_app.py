"""The application as a gunicorn worker builds it for the contention test and benchmarks: every setting from the
environment (DATABASE_URL of the test database, SECRET_KEY, SESSION_COOKIE_SECURE=0, DATABASE_POOL_SIZE).

Usage: DATABASE_URL=... SECRET_KEY=... SESSION_COOKIE_SECURE=0 gunicorn -w 4 -b 127.0.0.1:PORT tests.contention_app:app
"""

import os

from instrument_share import create_app

for name in ("DATABASE_URL", "SECRET_KEY"):
    if not os.environ.get(name):
        raise RuntimeError(f"{name} must be set for the contention app")

app = create_app()
