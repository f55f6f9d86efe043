"""search order indexes: PostgreSQL walks broad matches in value, fee and name order

Revision ID: 5b8e2f41c7d3
Revises: c59209fc74b1
Create Date: 2026-11-28 01:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '5b8e2f41c7d3'
down_revision: str | None = 'c59209fc74b1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The orders of catalogue.search.WALK_ORDERS, exactly as written there (direction and NULLS LAST), so a first page
# of a broad match is a short walk (catalogue/search_walk.py). SQLite reads its pages through the FTS5 index and
# the covering sort index instead. Named with the "_order" suffix that migrations/env.py leaves to this file.
ORDER_INDEXES = {
    "ix_instrument_search_value_order": "original_value_fen DESC NULLS LAST, instrument_id, sort_key",
    "ix_instrument_search_fee_order": "fee_per_hour_fen ASC NULLS LAST, instrument_id, sort_key",
    "ix_instrument_search_name_order": "name_sort ASC NULLS LAST, instrument_id, sort_key",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in ORDER_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON instrument_search ({columns})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in ORDER_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
