"""Migration 0431c6613ec5 rebuilds the listing periods of existing listings from the audit log and their current
state (its docstring says how), on SQLite and PostgreSQL."""

import json
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from instrument_share.db import UTCDateTime, make_engine

from .test_migrations import alembic_config, fresh_url  # noqa: F401  the fixture

REVISION = "0431c6613ec5"
T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Nanjing


def t(days: int) -> datetime:
    return T0 + timedelta(days=days)


def table(name, *names, times=(), dates=()):
    return sa.table(name, *(sa.column(c) for c in names), *(sa.column(c, UTCDateTime()) for c in times),
                    *(sa.column(c, sa.Date()) for c in dates))


def test_periods_are_rebuilt_from_the_audit_log_and_the_current_listing(fresh_url):  # noqa: F811
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, ScriptDirectory.from_config(cfg).get_revision(REVISION).down_revision)
    engine = make_engine(fresh_url)
    orgs = table("organizations", "id", "name", "uscc", "kind", "region_code", "dishonest", "status",
                 times=("created_at",))
    instruments = table("instruments", "id", "owner_id", "status", "name_zh", "original_value_fen", "category_code",
                        "service_modes", times=("created_at", "updated_at", "published_at"),
                        dates=("approved_on", "valid_until"))
    audit = table("audit_entries", "seq", "action", "object_type", "object_id", "organization_id", "outcome",
                  "details", "prev_hash", "hash", times=("at",))
    seq = iter(range(1, 100))

    def event(at, action, object_id, unit=7, **details):
        n = next(seq)
        return {"seq": n, "at": at, "action": action, "object_type": "instrument" if action.startswith("instrument.")
                else "stored_file", "object_id": str(object_id), "organization_id": unit, "outcome": "success",
                "details": json.dumps(details), "prev_hash": f"{n - 1:064d}", "hash": f"{n:064d}"}

    def listing(instrument_id, owner, status, published_at=None, approved_on=None, valid_until=None):
        return {"id": instrument_id, "owner_id": owner, "status": status, "name_zh": "仪器", "original_value_fen": 0,
                "category_code": "0101", "service_modes": "machine_time", "created_at": t(-10), "updated_at": t(-10),
                "published_at": published_at, "approved_on": approved_on, "valid_until": valid_until}

    try:
        with engine.begin() as conn:
            conn.execute(orgs.insert(), [
                {"id": 7, "name": "大学", "uscc": "12320100MB0000001X", "kind": "university", "region_code": "320100",
                 "dishonest": False, "status": "verified", "created_at": t(-20)},
                {"id": 8, "name": "军工研究所", "uscc": "12320100MB0000002X", "kind": "defence_unit",
                 "region_code": "320100", "dishonest": False, "status": "verified", "created_at": t(-20)}])
            conn.execute(instruments.insert(), [
                listing(11, 7, "published", t(0)),  # published, suspended, resumed
                listing(12, 8, "published", t(0), date(2026, 9, 1), date(2027, 9, 1)),  # approvals, expiry, renewal
                listing(13, 7, "published", t(5)),  # no audit entries (demo data)
                listing(14, 7, "retired", t(0)),
                listing(15, 7, "suspended", t(0)),  # its suspension is not in the log: no known end
                listing(16, 7, "published", t(3)),  # imported published
                listing(17, 8, "draft"),  # in the import's id range, of another unit
                listing(18, 7, "draft")])
            conn.execute(audit.insert(), [
                event(t(0), "instrument.published", 11), event(t(1), "instrument.suspended", 11),
                event(t(2), "instrument.resumed", 11),
                event(t(0), "instrument.approved", 12, unit=8, valid_until="2026-06-30"),
                event(t(30), "instrument.revision_approved", 12, unit=8, valid_until="2026-08-31"),
                event(t(184), "instrument.expired", 12, unit=8, valid_until="2026-08-31"),
                event(t(184), "instrument.renewed", 12, unit=8, valid_until="2027-09-01"),
                event(t(0), "instrument.published", 14), event(t(9), "instrument.retired", 14),
                event(t(0), "instrument.published", 15),
                event(t(3), "catalogue.imported", 1, published=True, first_instrument_id=16, last_instrument_id=17),
                event(t(4), "instrument.created", 18)])
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table("listing_periods", "instrument_id", "source", times=(
                "opened_at", "closed_at"), dates=("valid_from", "valid_until"))).order_by(
                sa.column("instrument_id"), sa.column("opened_at"))).mappings().all()
            found = [(r["instrument_id"], r["opened_at"], r["closed_at"], r["valid_from"], r["valid_until"])
                     for r in rows]
            assert {r["source"] for r in rows} == {"backfilled"}
            assert conn.scalar(text("SELECT count(*) FROM listing_periods WHERE closed_at IS NULL")) == 4
        assert found == [
            (11, t(0), t(1), None, None), (11, t(2), None, None, None),
            (12, t(0), t(30), date(2026, 3, 1), date(2026, 6, 30)),
            (12, t(30), t(184), date(2026, 3, 31), date(2026, 8, 31)),
            (12, t(184), None, date(2026, 9, 1), date(2027, 9, 1)),  # the listing's current approval
            (13, t(5), None, None, None),
            (14, t(0), t(9), None, None),
            (16, t(3), None, None, None)]
    finally:
        engine.dispose()
