"""import jobs: catalogue imports too large for a web request, run by the scheduler

Revision ID: c0360bda30e1
Revises: e48deee7334b
Create Date: 2026-12-08 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import instrument_share.db

revision: str = "c0360bda30e1"
down_revision: str | None = "e48deee7334b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("publish", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("instruments_created", sa.Integer(), nullable=True),
        sa.Column("first_instrument_id", sa.Integer(), nullable=True),
        sa.Column("last_instrument_id", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_expires_at", instrument_share.db.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", instrument_share.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", instrument_share.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", instrument_share.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                           name=op.f("ck_import_jobs_known_status")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_import_jobs_created_by_id_users")),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], name=op.f("fk_import_jobs_file_id_stored_files")),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_import_jobs_organization_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index("ix_import_jobs_organization", "import_jobs", ["organization_id", "id"])
    op.create_index("ix_import_jobs_status_lease", "import_jobs", ["status", "lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_import_jobs_status_lease", table_name="import_jobs")
    op.drop_index("ix_import_jobs_organization", table_name="import_jobs")
    op.drop_table("import_jobs")
