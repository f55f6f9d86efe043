"""login locks per address, optional email: sign-in locks per (account, source address); accounts without email

The lockout counted failures per account, so anyone could lock anyone out (issue 13). A pair (account, source
address) now locks on its own (`login_locks`); the account as a whole still locks (`users.locked_until`), only at a
much higher threshold. Accounts created on the command line need no email address, so `users.email` may be empty
(NULL); nothing invents an address any more.

SQLite cannot drop a NOT NULL constraint with ALTER TABLE, and Alembic's batch mode would copy and drop the users
table, which with foreign keys on (they are, and PRAGMA foreign_keys cannot change inside the migration's
transaction) deletes every role grant, token and failure of every user through ON DELETE CASCADE. The table's
definition is therefore edited in place, the procedure SQLite documents for removing a NOT NULL constraint
(https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes"): no row is touched.

Revision ID: ccdff2206fe8
Revises: c0360bda30e1
Create Date: 2026-12-08 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import instrument_share

revision: str = "ccdff2206fe8"
down_revision: str | None = "c0360bda30e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_NULL_EMAIL = "email VARCHAR(254) NOT NULL,"
NULLABLE_EMAIL = "email VARCHAR(254),"


def _sqlite_users_definition(old: str, new: str) -> None:
    """Replace `old` by `new` in the stored CREATE TABLE users, inside the migration's transaction."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").scalar_one()
    if sql.count(old) != 1:
        raise RuntimeError(f"users table definition without exactly one {old!r}: {sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'users'",
                         (sql.replace(old, new),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")  # every connection re-reads the schema
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    op.create_table(
        "login_locks",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.Column("locked_until", instrument_share.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_login_locks_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "remote_addr", name=op.f("pk_login_locks")),
    )
    with op.batch_alter_table("login_locks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_locks_locked_until"), ["locked_until"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_users_definition(NOT_NULL_EMAIL, NULLABLE_EMAIL)
    else:
        op.alter_column("users", "email", existing_type=sa.String(length=254), nullable=True)


def downgrade() -> None:
    # The earlier schema needs an address on every account: give those without one the reserved .invalid domain.
    op.execute("UPDATE users SET email = username || '@no-email.invalid' WHERE email IS NULL")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_users_definition(NULLABLE_EMAIL, NOT_NULL_EMAIL)
    else:
        op.alter_column("users", "email", existing_type=sa.String(length=254), nullable=False)
    with op.batch_alter_table("login_locks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_locks_locked_until"))
    op.drop_table("login_locks")
