"""listing periods: when each listing was open to other organisations, with the approval valid then

Measure 19 subsidises (and the platform records for other organisations) only services of instruments that were
open through the platform at the service's start, so the listing's history is kept from now on
(catalogue/listing_periods.py writes it with every change of status or approval). For the listings that exist, the
history is rebuilt as well as the stored data honestly allows, and every rebuilt row says so (source
'backfilled'):

- The audit log is replayed in order for each listing: instrument.published, .approved, .renewed and .resumed open
  a period (a catalogue.imported entry with published true opens the periods of the listings it created, from the
  unit's id range); .suspended, .retired, .revoked and .expired close it; an approval (.approved, .renewed,
  .revision_approved) of an open defence listing closes the period and opens one with the new validity. A defence
  period's validity runs from the local day of its approval to the valid_until the audit entry names.
- The listing's current row is authoritative for now: a listing published now whose replay ends closed (or that has
  no audit entries, e.g. demo data written directly) is open from its published_at (its created_at when that is
  empty), or from the end of the last replayed period when that is later, with its current approval; an open
  period keeps the current approval. A replay that ends open for a listing not published now has no known end:
  that last period is left out (nothing is claimed that cannot be shown).

Revision ID: 0431c6613ec5
Revises: ccdff2206fe8
Create Date: 2026-12-08 04:00:00
"""

import json
import os
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import instrument_share.db

revision: str = "0431c6613ec5"
down_revision: str | None = "ccdff2206fe8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPENS = ("instrument.published", "instrument.approved", "instrument.renewed", "instrument.resumed")
CLOSES = ("instrument.suspended", "instrument.retired", "instrument.revoked", "instrument.expired")
APPROVALS = ("instrument.approved", "instrument.renewed", "instrument.revision_approved")
UTC_TIME = instrument_share.db.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "listing_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", instrument_share.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", instrument_share.db.UTCDateTime(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.CheckConstraint("closed_at IS NULL OR closed_at >= opened_at",
                           name=op.f("ck_listing_periods_closes_after_opening")),
        sa.ForeignKeyConstraint(["instrument_id"], ["instruments.id"],
                                name=op.f("fk_listing_periods_instrument_id_instruments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_periods")),
    )
    with op.batch_alter_table("listing_periods", schema=None) as batch_op:
        batch_op.create_index("ix_listing_periods_instrument_opened", ["instrument_id", "opened_at"], unique=False)
        batch_op.create_index("uq_listing_periods_open", ["instrument_id"], unique=True,
                              sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL"))
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("listing_periods", schema=None) as batch_op:
        batch_op.drop_index("uq_listing_periods_open")
        batch_op.drop_index("ix_listing_periods_instrument_opened")
    op.drop_table("listing_periods")


# ------------------------------------------------------------------------------------------------ the backfill


def _events(conn, owners: dict[int, int]) -> dict[int, list[tuple[datetime, str, dict]]]:
    """(time, action, details) of every listing, in audit order; imports become 'instrument.published'."""
    audit = sa.table("audit_entries", sa.column("seq"), sa.column("at", UTC_TIME), sa.column("action"),
                     sa.column("object_type"), sa.column("object_id"), sa.column("organization_id"),
                     sa.column("details"))
    rows = conn.execute(sa.select(audit.c.at, audit.c.action, audit.c.object_type, audit.c.object_id,
                                  audit.c.organization_id, audit.c.details)
                        .where(sa.or_(sa.and_(audit.c.object_type == "instrument",
                                              audit.c.action.in_(OPENS + CLOSES + APPROVALS)),
                                      audit.c.action == "catalogue.imported"))
                        .order_by(audit.c.seq))
    events: dict[int, list] = {}
    for at, action, object_type, object_id, unit_id, details in rows:
        details = json.loads(details or "{}")
        if action == "catalogue.imported":
            if details.get("published"):
                first, last = int(details["first_instrument_id"]), int(details["last_instrument_id"])
                for instrument_id in range(first, last + 1):
                    if owners.get(instrument_id) == unit_id:
                        events.setdefault(instrument_id, []).append((at, "instrument.published", {}))
        elif object_id and object_id.isdigit() and int(object_id) in owners:
            events.setdefault(int(object_id), []).append((at, action, details))
    return events


def _replay(events, zone: ZoneInfo, defence: bool) -> tuple[list[list], list | None]:
    """Closed periods [opened, closed, valid_from, valid_until] and the open one (or None) after the events."""
    closed, current, validity = [], None, (None, None)
    for at, action, details in events:
        if action in APPROVALS and defence:
            until = details.get("valid_until")
            validity = (at.astimezone(zone).date(), date.fromisoformat(until) if until else None)
            if current is not None:  # a new approval of an open listing: a new period with its validity
                closed.append(current[:1] + [at] + current[2:])
                current = [at, None, *validity]
        if action in OPENS and current is None:
            current = [at, None, *(validity if defence else (None, None))]
        elif action in CLOSES and current is not None:
            closed.append(current[:1] + [at] + current[2:])
            current = None
    return closed, current


def _backfill(conn) -> None:
    zone = ZoneInfo(os.environ.get("TIMEZONE") or "Asia/Shanghai")
    instruments = sa.table("instruments", sa.column("id"), sa.column("owner_id"), sa.column("status"),
                           sa.column("published_at", UTC_TIME), sa.column("created_at", UTC_TIME),
                           sa.column("approved_on", sa.Date()), sa.column("valid_until", sa.Date()))
    organizations = sa.table("organizations", sa.column("id"), sa.column("kind"))
    listings = conn.execute(sa.select(instruments, organizations.c.kind).join(
        organizations, organizations.c.id == instruments.c.owner_id)).all()
    events = _events(conn, {row.id: row.owner_id for row in listings})
    periods = sa.table("listing_periods", sa.column("instrument_id"), sa.column("opened_at", UTC_TIME),
                       sa.column("closed_at", UTC_TIME), sa.column("valid_from", sa.Date()),
                       sa.column("valid_until", sa.Date()), sa.column("source"))
    rows = []
    for listing in listings:
        defence = listing.kind == "defence_unit"
        closed, current = _replay(events.get(listing.id, []), zone, defence)
        if listing.status == "published":
            now_validity = [listing.approved_on, listing.valid_until] if defence else [None, None]
            if current is None:
                since = listing.published_at or listing.created_at
                if closed and closed[-1][1] > since:
                    since = closed[-1][1]
                current = [since, None]
            current = current[:2] + now_validity
            closed.append(current)
        for opened_at, closed_at, valid_from, valid_until in closed:
            rows.append({"instrument_id": listing.id, "opened_at": opened_at, "closed_at": closed_at,
                         "valid_from": valid_from, "valid_until": valid_until, "source": "backfilled"})
    if rows:
        conn.execute(periods.insert(), rows)
