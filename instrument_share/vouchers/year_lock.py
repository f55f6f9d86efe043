"""The lock of one policy year: every submission, approval and policy version of a year runs under it.

It sits below both policies.py and claims.py (which use it), so neither needs to import the other for it.
"""

from ..db import db

YEAR_LOCK_BASE = 0x564F5543 << 16  # "VOUC": advisory lock keys of the voucher years (key = base + year)


def lock_year(year: int) -> None:
    """Serialise every submission and approval of one policy year, inside the caller's write transaction.

    SQLite: db.transaction() began with BEGIN IMMEDIATE, so the write lock is already held; PostgreSQL: a
    transaction-scoped advisory lock keyed by the year (all versions of a year share it).
    """
    if db.dialect == "sqlite" and not db.session.connection().get_execution_options().get("write"):
        raise RuntimeError("lock_year() must run inside db.transaction()")
    db.lock(YEAR_LOCK_BASE + int(year))
