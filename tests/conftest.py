"""Fixtures: a real database per test (SQLite file copied from a migrated template, or PostgreSQL tables emptied).

The suite runs once per backend: SQLite by default, PostgreSQL when TEST_DATABASE_URL is set (the test command
starts a throw-away server and sets it). Under pytest-xdist (`-n 2`, as the test command runs it) each worker uses
a database of its own on that server.
"""

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from instrument_share import create_app
from instrument_share.core import clock
from instrument_share.db import Base, db, normalise_url

from .factories import Factory


def _database_of_this_worker(url: str) -> str:
    """The URL itself, or under pytest-xdist a database of this worker's own beside it (created when missing)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not url.startswith("postgres"):
        return url
    given = make_url(normalise_url(url))
    name = f"{given.database}_{worker}"
    admin = create_engine(given.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
            conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    admin.dispose()
    return given.set(database=name).render_as_string(hide_password=False)


PG_URL = _database_of_this_worker(os.environ.get("TEST_DATABASE_URL", ""))
BACKEND = "postgresql" if PG_URL.startswith("postgres") else "sqlite"
FAST_HASH = "scrypt:1024:8:1"  # still scrypt, with a small cost factor so the suite stays quick


def pytest_report_header(config):
    return f"database backend: {BACKEND}"


FIGURES: list[str] = []  # what the proof tests measured (matrix cells, fuzz inputs), printed at the end of the run


@pytest.fixture
def report_figure(request):
    """Show a line of figures in the run's summary, passed or failed (the report command reads them there).

    The line travels as a user property of the test's report, so it reaches the summary from pytest-xdist workers.
    """
    return lambda line: request.node.user_properties.append(("figure", line))


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        FIGURES.extend(value for name, value in report.user_properties if name == "figure")


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent / "migrations"
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root))
    cfg.attributes["database_url"] = url
    cfg.attributes["skip_logging"] = True
    command.upgrade(cfg, "head")


def reset_postgres_schema(url: str) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


REFERENCE_TABLES = ("instrument_categories",)  # data shipped by the migrations: restored after emptying
REFERENCE_ROWS: dict[str, list[dict]] = {}


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> str:
    """A migrated database to start each test from."""
    if BACKEND == "postgresql":
        reset_postgres_schema(PG_URL)
        migrate(PG_URL)
        engine = create_engine(normalise_url(PG_URL))
        with engine.connect() as conn:
            for name in REFERENCE_TABLES:
                table = Base.metadata.tables[name]
                REFERENCE_ROWS[name] = [dict(r) for r in conn.execute(table.select()).mappings()]
        engine.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate(f"sqlite:///{path}")
    return str(path)


# Tables whose triggers refuse TRUNCATE; only the test teardown may empty them.
APPEND_ONLY_TABLES = ("audit_entries", "audit_anchors", "revenue_entries")


def _empty_postgres(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        for guarded in APPEND_ONLY_TABLES:
            conn.execute(text(f"ALTER TABLE {guarded} DISABLE TRIGGER USER"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        for guarded in APPEND_ONLY_TABLES:
            conn.execute(text(f"ALTER TABLE {guarded} ENABLE TRIGGER USER"))
        for name, rows in REFERENCE_ROWS.items():
            if rows:
                conn.execute(Base.metadata.tables[name].insert(), rows)
    engine.dispose()


@pytest.fixture
def database_url(migrated_template, tmp_path) -> str:
    if BACKEND == "postgresql":
        _empty_postgres(migrated_template)
        return migrated_template
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(migrated_template, path)
    return f"sqlite:///{path}"


def make_test_app(database_url: str, tmp_path: Path, **overrides):
    config = {
        "TESTING": True, "SECRET_KEY": "test-secret-key", "DATABASE_URL": database_url,
        "PASSWORD_HASH_METHOD": FAST_HASH, "SESSION_COOKIE_SECURE": False, "SESSION_COOKIE_NAME": "session",
        "SERVER_NAME": "localhost", "BASE_URL": "http://localhost",
    } | overrides
    app = create_app(config)
    app.instance_path = str(tmp_path / "instance")
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_state)
    return app


def _fresh_request_state() -> None:
    """Give every request a fresh `g` and database view, as in production.

    The app fixture keeps one application context pushed for the whole test and Flask reuses it for the test
    client's requests, so `g` (signed-in user, CSRF token, locale) would otherwise carry over between requests and
    clients and hide session bugs.
    """
    from flask import g

    vars(g).clear()
    db.session.rollback()


@pytest.fixture
def app(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path)
    with app.app_context():
        yield app
        db.session.remove()
    db.engine.dispose()
    clock.freeze(None)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


@pytest.fixture
def frozen_clock():
    """Pin the platform clock; tests move it with frozen_clock.move(...)."""
    from .factories import Clock

    c = Clock()
    yield c
    clock.freeze(None)
