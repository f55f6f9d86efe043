"""audit anchors: the chain's head at the end of each day, append-only like the audit entries

A deleted tail of audit_entries leaves a shorter chain that still verifies; the daily anchor remembers the head,
so `flask audit verify` notices. The database refuses to change or delete an anchor, as it does for entries.

Revision ID: e48deee7334b
Revises: b84d1e6f3a57
Create Date: 2026-12-08 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import instrument_share.db

revision: str = "e48deee7334b"
down_revision: str | None = "b84d1e6f3a57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_GUARDS = {
    "audit_anchors_no_update": "BEFORE UPDATE",
    "audit_anchors_no_delete": "BEFORE DELETE",
}


def upgrade() -> None:
    op.create_table(
        "audit_anchors",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", instrument_share.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_audit_anchors")),
    )
    if op.get_bind().dialect.name == "sqlite":
        for name, when in SQLITE_GUARDS.items():
            op.execute(f"CREATE TRIGGER {name} {when} ON audit_anchors "
                       "BEGIN SELECT RAISE(ABORT, 'audit anchors are append-only'); END")
        return
    op.execute("""
        CREATE FUNCTION audit_anchors_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit anchors are append-only' USING ERRCODE = 'insufficient_privilege';
        END $$""")
    op.execute("CREATE TRIGGER audit_anchors_no_change BEFORE UPDATE OR DELETE ON audit_anchors "
               "FOR EACH ROW EXECUTE FUNCTION audit_anchors_append_only()")
    op.execute("CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_anchors_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_no_truncate ON audit_anchors")
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_no_change ON audit_anchors")
        op.execute("DROP FUNCTION IF EXISTS audit_anchors_append_only()")
    op.drop_table("audit_anchors")
