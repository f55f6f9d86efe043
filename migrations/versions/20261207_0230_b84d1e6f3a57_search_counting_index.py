"""search counting index: PostgreSQL counts broad text-free queries in one index

A catalogue list whose filters keep most listings (every large instrument, a fee ceiling, a common service mode)
is counted on the GIN bitmap of its tags by visiting the heap page of every row the tags match, which is every
row the viewer may see (20-30 ms at 50,000 listings). This index holds the access columns as keys and every
filter column besides, so such a count is an index-only scan (about 10 ms). catalogue/search.py decides which of
the two counts a query (COLUMN_COUNT_SHARE). SQLite counts in its FTS5 index and needs none.

Revision ID: b84d1e6f3a57
Revises: 3f6a0c2d9e14
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b84d1e6f3a57"
down_revision: str | None = "3f6a0c2d9e14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Named with the "_counting" suffix that migrations/env.py leaves to this file.
INDEX = "ix_instrument_search_counting"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE INDEX {INDEX} ON instrument_search (level, status, is_defence, owner_id) "
               "INCLUDE (category_code, district, region_code, owner_kind, service_modes, fee_per_hour_fen, "
               "fee_per_sample_fen, original_value_fen)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
