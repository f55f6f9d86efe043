"""statistics snapshots: city-wide figures the scheduler computes and every web process reads

Revision ID: d455e046b490
Revises: 9c4d7e2a1f60
Create Date: 2026-11-28 01:35:14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import instrument_share.db

revision: str = 'd455e046b490'
down_revision: str | None = '9c4d7e2a1f60'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'statistics_snapshots',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('computed_at', instrument_share.db.UTCDateTime(), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_statistics_snapshots')),
    )


def downgrade() -> None:
    op.drop_table('statistics_snapshots')
