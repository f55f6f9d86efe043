"""Migration ccdff2206fe8 (login locks per address, optional email) keeps every account and what hangs on it.

On SQLite, dropping NOT NULL from users.email by copying the table would delete every role grant, token and
failure through ON DELETE CASCADE; the migration edits the definition in place instead. Both ways round, the rows
stay, and afterwards an account without an address can be stored.
"""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text

from instrument_share.db import UTCDateTime, make_engine

from .test_migrations import alembic_config, fresh_url  # noqa: F401  the fixture, used by name

BEFORE = "b84d1e6f3a57"  # the head this migration was written on


def table(name, *names, times=()):
    return sa.table(name, *(sa.column(c) for c in names), *(sa.column(c, UTCDateTime()) for c in times))


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
                for name in ("users", "role_grants", "api_tokens", "login_failures")}


def test_accounts_keep_their_roles_tokens_and_failures_through_upgrade_and_downgrade(fresh_url):  # noqa: F811
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, BEFORE)
    engine = make_engine(fresh_url)
    t0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    orgs = table("organizations", "id", "name", "uscc", "kind", "region_code", "dishonest", "status",
                 times=("created_at",))
    users = table("users", "id", "username", "email", "password_hash", "organization_id", "is_disabled",
                  "is_org_manager", "session_version", times=("password_changed_at", "created_at"))
    try:
        with engine.begin() as conn:
            conn.execute(orgs.insert().values(id=1, name="南京市科学技术局", uscc="113201000141167534",
                                              kind="commission", region_code="320100", dishonest=False,
                                              status="verified", created_at=t0))
            conn.execute(users.insert().values(id=1, username="officer", email="officer@example.cn",
                                               password_hash="x", organization_id=1, is_disabled=False,
                                               is_org_manager=True, session_version=1, password_changed_at=t0,
                                               created_at=t0))
            conn.execute(table("role_grants", "user_id", "role", times=("granted_at",)).insert().values(
                user_id=1, role="commission_officer", granted_at=t0))
            conn.execute(table("api_tokens", "id", "user_id", "name", "token_hash", "prefix",
                               times=("created_at", "expires_at")).insert().values(
                id=1, user_id=1, name="ci", token_hash="0" * 64, prefix="isk_abcdef", created_at=t0, expires_at=t0))
            conn.execute(table("login_failures", "id", "user_id", "remote_addr", times=("failed_at",)).insert()
                         .values(id=1, user_id=1, remote_addr="203.0.113.7", failed_at=t0))
        kept = {"users": 1, "role_grants": 1, "api_tokens": 1, "login_failures": 1}
        assert counts(engine) == kept

        command.upgrade(cfg, "head")
        assert counts(engine) == kept
        with engine.begin() as conn:
            conn.execute(users.insert().values(id=2, username="sysadmin", email=None, password_hash="x",
                                               organization_id=1, is_disabled=False, is_org_manager=False,
                                               session_version=1, password_changed_at=t0, created_at=t0))
            conn.execute(table("login_locks", "user_id", "remote_addr", times=("locked_until",)).insert().values(
                user_id=1, remote_addr="203.0.113.7", locked_until=t0))
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.scalar(text("PRAGMA integrity_check")) == "ok"
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []

        command.downgrade(cfg, BEFORE)  # the account without an address gets a reserved .invalid one
        assert counts(engine) == kept | {"users": 2}
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT email FROM users WHERE id = 2")) == "sysadmin@no-email.invalid"
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(users.insert().values(id=3, username="x", email=None, password_hash="x", organization_id=1,
                                               is_disabled=False, is_org_manager=False, session_version=1,
                                               password_changed_at=t0, created_at=t0))
    finally:
        engine.dispose()
