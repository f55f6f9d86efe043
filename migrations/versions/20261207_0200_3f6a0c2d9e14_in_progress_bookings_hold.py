"""in-progress bookings keep holding their interval

A session under way still occupies the instrument until its end (plus buffer): the overlap guard now counts
in_progress bookings as holding. Sessions started before this change may have had their remaining time booked by
someone else; those few give up their hold (as before), so the guard can be created over the existing rows.

Revision ID: 3f6a0c2d9e14
Revises: 7e1d3c9b5a28
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3f6a0c2d9e14"
down_revision: str | None = "7e1d3c9b5a28"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_HOLDING = "('pending', 'confirmed')"
NEW_HOLDING = "('pending', 'confirmed', 'in_progress')"
TRIGGERS = ("bookings_no_overlap_insert", "bookings_no_overlap_update")


def _triggers(holding: str) -> dict[str, str]:
    overlap = (f"SELECT 1 FROM bookings b WHERE b.instrument_id = NEW.instrument_id AND b.status IN {holding} "
               "AND b.hold_start IS NOT NULL AND b.hold_start < NEW.hold_end AND NEW.hold_start < b.hold_end")
    return {
        "bookings_no_overlap_insert": f"BEFORE INSERT ON bookings WHEN NEW.status IN {holding} "
        f"AND NEW.hold_start IS NOT NULL AND EXISTS ({overlap}) "
        "BEGIN SELECT RAISE(ABORT, 'booking_conflict'); END",
        "bookings_no_overlap_update": f"BEFORE UPDATE ON bookings WHEN NEW.status IN {holding} "
        f"AND NEW.hold_start IS NOT NULL AND EXISTS ({overlap} AND b.id <> NEW.id) "
        "BEGIN SELECT RAISE(ABORT, 'booking_conflict'); END",
    }


def _replace_guard(holding: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for name, body in _triggers(holding).items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        return
    op.execute("ALTER TABLE bookings DROP CONSTRAINT IF EXISTS bookings_no_overlap")
    op.execute("ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist "
               "(instrument_id WITH =, tsrange(hold_start, hold_end, '[)') WITH &&) "
               f"WHERE (status IN {holding} AND hold_start IS NOT NULL)")


def upgrade() -> None:
    op.execute(
        "UPDATE bookings SET hold_start = NULL, hold_end = NULL WHERE status = 'in_progress' "
        "AND hold_start IS NOT NULL AND EXISTS (SELECT 1 FROM bookings b WHERE b.instrument_id = bookings.instrument_id "
        f"AND b.id <> bookings.id AND b.status IN {NEW_HOLDING} AND b.hold_start IS NOT NULL "
        "AND b.hold_start < bookings.hold_end AND bookings.hold_start < b.hold_end)")
    _replace_guard(NEW_HOLDING)


def downgrade() -> None:
    _replace_guard(OLD_HOLDING)
