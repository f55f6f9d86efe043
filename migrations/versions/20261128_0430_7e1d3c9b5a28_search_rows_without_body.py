"""search rows without the searched text: snippets are cut from the listing as the viewer sees it

A count of a broad match visits the page of every matching row, so the text (a sixth of a row, kept only for
snippets) cost every search. PostgreSQL keeps a dropped column's bytes in place until the table is rewritten, so
the table is rewritten here in sort-key order (CLUSTER, which may run in a transaction), the order the newest-first
walks read it in.

Revision ID: 7e1d3c9b5a28
Revises: d455e046b490
Create Date: 2026-11-28 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e1d3c9b5a28"
down_revision: str | None = "d455e046b490"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("instrument_search", "body")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CLUSTER instrument_search USING ix_instrument_search_sorting")
        op.execute("ANALYZE instrument_search")


def downgrade() -> None:
    # The text comes back empty: snippets then quote nothing until the listings are indexed again.
    op.add_column("instrument_search", sa.Column("body", sa.Text(), nullable=False, server_default=""))
