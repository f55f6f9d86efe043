"""search index keys and case-insensitive usernames

Revision ID: ea9883771fc5
Revises: 35aac9237c34
Create Date: 2026-11-27 21:53:04.458917

Search rows get a sort key, access and filter tags and the grams of the visible name (catalogue/search_keys.py), so
a search, its viewer's entitlement and its exact filters are one index lookup. SQLite: the FTS5 table is rebuilt
with the new columns and the sort key as its rowid. PostgreSQL: the GIN indexes index the tags with each gram
column. Existing rows are filled from their own columns. Usernames become unique regardless of case.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from instrument_share.db import UTCDateTime

revision: str = 'ea9883771fc5'
down_revision: str | None = '35aac9237c34'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERNAME_INDEX = "CREATE UNIQUE INDEX uq_users_username_lower ON users (lower(username))"

# The FTS5 table and triggers before and after (tests/platform/test_migrations.py names each).
OLD_FTS = ("uni, bi, words", "id")
NEW_FTS = ("uni, bi, words, name_terms, tags", "sort_key")
PG_OLD_GIN = {f"ix_instrument_search_{c}_tsv": c for c in ("uni", "bi", "words")}
PG_NEW_GIN = {"ix_instrument_search_tags_tsv": "tags",
              **{f"ix_instrument_search_tags_{c}_tsv": f"tags || ' ' || {c}" for c in ("uni", "bi", "words")}}
TRIGGER_NAMES = ("instrument_search_ai", "instrument_search_ad", "instrument_search_au")


def _create_fts(columns: str, rowid: str) -> None:
    names = [c.strip() for c in columns.split(",")]
    new = ", ".join(f"new.{c}" for c in names)
    old = ", ".join(f"old.{c}" for c in names)
    op.execute(f"CREATE VIRTUAL TABLE instrument_fts USING fts5({columns}, content='instrument_search', "
               f"content_rowid='{rowid}', tokenize='unicode61 remove_diacritics 0', prefix='2 3')")
    # Constant column lists of this module, not input.
    insert = f"INSERT INTO instrument_fts(rowid, {columns}) VALUES (new.{rowid}, {new});"  # noqa: S608
    delete = (f"INSERT INTO instrument_fts(instrument_fts, rowid, {columns}) "  # noqa: S608
              f"VALUES ('delete', old.{rowid}, {old});")
    op.execute(f"CREATE TRIGGER instrument_search_ai AFTER INSERT ON instrument_search BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER instrument_search_ad AFTER DELETE ON instrument_search BEGIN {delete} END")
    op.execute(f"CREATE TRIGGER instrument_search_au AFTER UPDATE ON instrument_search BEGIN {delete} {insert} END")
    op.execute("INSERT INTO instrument_fts(instrument_fts) VALUES ('rebuild')")


def _drop_fts() -> None:
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS instrument_fts")


def _fill_keys() -> None:
    """Sort key, tags and name grams of every existing row, from the row's own columns."""
    from instrument_share.catalogue import search_keys

    bind = op.get_bind()
    rows = sa.table("instrument_search", sa.column("published_at", UTCDateTime()), *(sa.column(c) for c in (
        "id", "instrument_id", "level", "status", "is_defence", "owner_id", "owner_kind", "category_code",
        "district", "region_code", "service_modes", "fee_per_hour_fen", "fee_per_sample_fen", "original_value_fen",
        "name_sort", "sort_key", "tags", "name_terms")))
    for row in bind.execute(sa.select(rows)).mappings().all():
        facts = search_keys.RowFacts(**{k: row[k] for k in (
            "level", "status", "is_defence", "owner_id", "owner_kind", "category_code", "district", "region_code",
            "service_modes", "fee_per_hour_fen", "fee_per_sample_fen", "original_value_fen")})
        bind.execute(rows.update().where(rows.c.id == row["id"]).values(
            sort_key=search_keys.sort_key(row["instrument_id"], row["published_at"], row["level"]),
            tags=search_keys.row_tags(facts), name_terms=search_keys.name_terms(row["name_sort"])))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _drop_fts()
    else:
        for name in PG_OLD_GIN:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table('instrument_search', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sort_key', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('tags', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('name_terms', sa.Text(), nullable=True))
    _fill_keys()
    with op.batch_alter_table('instrument_search', schema=None) as batch_op:
        for name in ("sort_key", "tags", "name_terms"):
            batch_op.alter_column(name, existing_type=sa.BigInteger() if name == "sort_key" else sa.Text(),
                                  nullable=False)
        batch_op.create_index('ix_instrument_search_sorting', ['sort_key', 'published_at', 'instrument_id',
                                                               'fee_per_hour_fen', 'fee_per_sample_fen',
                                                               'original_value_fen', 'name_sort'], unique=False)
    if sqlite:
        _create_fts(*NEW_FTS)
    else:
        for name, expression in PG_NEW_GIN.items():
            op.execute(f"CREATE INDEX {name} ON instrument_search USING gin (to_tsvector('simple', {expression}))")
    op.execute(USERNAME_INDEX)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute("DROP INDEX IF EXISTS uq_users_username_lower")
    if sqlite:
        _drop_fts()
    else:
        for name in PG_NEW_GIN:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table('instrument_search', schema=None) as batch_op:
        batch_op.drop_index('ix_instrument_search_sorting')
        batch_op.drop_column('name_terms')
        batch_op.drop_column('tags')
        batch_op.drop_column('sort_key')
    if sqlite:
        _create_fts(*OLD_FTS)
    else:
        for name, column in PG_OLD_GIN.items():
            op.execute(f"CREATE INDEX {name} ON instrument_search USING gin (to_tsvector('simple', {column}))")
