"""The application as gunicorn workers build it for the fault-injection runs (tests/faults.py): the contention app,
plus, on SQLite, a way to make the database full while the workers run.

SQLite's `PRAGMA max_page_count` holds for one connection only, so the harness cannot set it from outside. Instead
it writes a page count into the file named by FAULTS_FULL_FLAG; whenever a worker takes a connection from its pool
it applies that limit (or lifts it when the file is gone). A write that needs a page beyond the limit then fails
with SQLITE_FULL ("database or disk is full"), exactly as on a full disk; nothing else of the application changes.

Usage: DATABASE_URL=... SECRET_KEY=... FAULTS_FULL_FLAG=/path gunicorn -w 4 -b 127.0.0.1:0 tests.faults_app:app
"""

import os

from sqlalchemy import event

from instrument_share.db import db
from tests.contention_app import app

NO_LIMIT = 4294967294  # SQLite clamps this to its largest allowed page count
FULL_FLAG = os.environ.get("FAULTS_FULL_FLAG", "")


def _wanted_limit() -> int:
    try:
        with open(FULL_FLAG) as fh:
            return int(fh.read().strip() or NO_LIMIT)
    except (OSError, ValueError):
        return NO_LIMIT


if FULL_FLAG and db.dialect == "sqlite":

    @event.listens_for(db.engine, "checkout")
    def _apply_page_limit(dbapi_conn, record, _proxy):
        wanted = _wanted_limit()
        if record.info.get("max_page_count") != wanted:
            dbapi_conn.execute(f"PRAGMA max_page_count={int(wanted)}")
            record.info["max_page_count"] = wanted


__all__ = ["app"]
