"""search generation, name index, no range tags: on PostgreSQL a sequence advanced after every commit that changes
search rows, a GIN index over the visible name's grams with the tags, and rows without fee and value range tags

Revision ID: 9c4d7e2a1f60
Revises: 5b8e2f41c7d3
Create Date: 2026-11-28 01:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '9c4d7e2a1f60'
down_revision: str | None = '5b8e2f41c7d3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL only. The sequence keys the totals each process remembers (catalogue/search_counts.py); the index
# finds the listings whose visible name holds a query, the first tier of relevance (catalogue/search_pages.py).
# SQLite counts in FTS5, whose name_terms column already serves the tier.
NAME_INDEX = "ix_instrument_search_tags_name_terms_tsv"
# PostgreSQL filters fee and value ranges on the columns and never asks for a range tag (见fe…/见fv…: "fe" and "fv"
# begin no other tag), which are most of a row's tags; narrower rows mean fewer pages for a count to read. Taken
# out where they stand, so the remaining tags keep their order (catalogue.search_keys.row_tags with ranges=False).
STRIP_RANGE_TAGS = ("UPDATE instrument_search SET tags = "
                    "btrim(regexp_replace(tags, '(^| )见f[ev][0-9]+x[0-9]+(?= |$)', '', 'g'))")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE search_generation")
        op.execute(STRIP_RANGE_TAGS)
        op.execute(f"CREATE INDEX {NAME_INDEX} ON instrument_search "
                   "USING gin (to_tsvector('simple', (tags || ' ') || name_terms))")


def downgrade() -> None:
    # The range tags are not put back: the code before this revision filters ranges on the columns on PostgreSQL
    # too, and reindexing a listing writes whatever the running code's rows hold.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {NAME_INDEX}")
        op.execute("DROP SEQUENCE IF EXISTS search_generation")
