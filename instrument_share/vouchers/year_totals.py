"""The committed subsidy of each policy year, kept in step with every flushed change of a claim.

A claim counts with its subsidy while its status is one of COMMITTED_STATES. Rather than each transition adjusting
the total (and one forgotten path making it drift), the session's flush computes the change from the claims'
attribute history and applies it as one atomic UPDATE per year, in the same transaction.
"""

from sqlalchemy import inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..db import db
from .models import COMMITTED_STATES, VoucherClaim, VoucherYearTotal


def _share(status, subsidy) -> int:
    return int(subsidy or 0) if status in COMMITTED_STATES else 0


def _before_and_after(claim: VoucherClaim) -> tuple[int, int]:
    state = inspect(claim)
    after = _share(claim.status, claim.subsidy_fen)
    if state.pending:
        return 0, after
    old = {}
    for name in ("status", "subsidy_fen", "year"):
        history = state.attrs[name].history
        old[name] = history.deleted[0] if history.deleted else getattr(claim, name)
    before = _share(old["status"], old["subsidy_fen"])
    if state.deleted:
        after = 0
    return before, after


def _changes(session: Session) -> dict[int, int]:
    delta: dict[int, int] = {}
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, VoucherClaim):
            continue
        before, after = _before_and_after(obj)
        old_year = inspect(obj).attrs.year.history.deleted
        if old_year and old_year[0] != obj.year:  # never done, but a moved claim must leave its old year
            delta[old_year[0]] = delta.get(old_year[0], 0) - before
            delta[obj.year] = delta.get(obj.year, 0) + after
        elif after != before:
            delta[obj.year] = delta.get(obj.year, 0) + after - before
    return {year: d for year, d in delta.items() if d}


def remember_changes(session: Session, _context, _instances) -> None:
    # History is complete before the flush; the rows are written after it, in the same transaction.
    session.info["voucher_year_deltas"] = _changes(session)


def apply_changes(session: Session, _context) -> None:
    deltas = session.info.pop("voucher_year_deltas", None)
    if not deltas:
        return
    connection = session.connection()
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    for year, change in deltas.items():
        connection.execute(dialect_insert(VoucherYearTotal).values(year=year, committed_fen=0)
                           .on_conflict_do_nothing(index_elements=["year"]))
        connection.execute(update(VoucherYearTotal).where(VoucherYearTotal.year == year)
                           .values(committed_fen=VoucherYearTotal.committed_fen + change))


def committed_in_year(year: int) -> int:
    """The year's committed subsidy, as of the session's flushed state."""
    db.session.flush()
    return int(db.session.scalar(select(VoucherYearTotal.committed_fen).where(VoucherYearTotal.year == year)) or 0)
