"""Database engine, session and transaction boundary shared by views, jobs and commands.

SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE for write transactions, so that
check-then-write logic is serialised; PostgreSQL is reached through psycopg 3.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Primary keys are INTEGER (int4 on PostgreSQL): a larger number names no row and must not reach the driver.
MAX_ID = 2**31 - 1


def id_from_text(raw: str | None) -> int | None:
    """The id a text (a query argument, a hidden field) names, or None: only ASCII digits (str.isdigit takes ² and
    ١٢٣, which int() refuses or reads) and within MAX_ID."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID)) and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Store naive UTC, hand back aware UTC; refuse naive input so local times never slip in."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # SQLite returns text for raw SQL reads
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


def normalise_url(url: str) -> str:
    """Make plain postgres URLs use psycopg 3 explicitly (SQLAlchemy 2.0 and 2.1 differ in the default)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's begin event, not the driver, decide when a transaction starts.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, busy_timeout_ms: int = 10000, pool_size: int = 5) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False})
        _install_sqlite_hooks(engine, busy_timeout_ms)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Database:
    """Engine plus a scoped session, bound to the Flask app or used standalone by jobs and scripts."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session = scoped_session(sessionmaker(expire_on_commit=False))

    def configure(self, url: str, **kwargs) -> None:
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        self.engine = make_engine(url, **kwargs)
        self.session.configure(bind=self.engine)

    def init_app(self, app) -> None:
        self.configure(app.config["DATABASE_URL"], busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
                       pool_size=app.config["DATABASE_POOL_SIZE"])
        app.teardown_appcontext(lambda _exc: self.end_session())

    def end_session(self) -> None:
        """Close the request's session, rolling back what it left open (see rollback() for a lost connection)."""
        try:
            self.session.remove()
        except DBAPIError as exc:
            self._discard(exc)
            self.session.registry.clear()

    def rollback(self) -> None:
        """Roll back the session's transaction.

        A connection the database dropped after the session's last statement (a server restart) fails that
        ROLLBACK, yet has nothing left to roll back: the server ended its transaction with it. It is discarded, not
        raised: the answer (or the error being answered) is already decided, and raising here would make it a 500.
        """
        try:
            self.session.rollback()
        except DBAPIError as exc:
            self._discard(exc)

    def _discard(self, exc: DBAPIError) -> None:
        log.warning("database connection lost before the session ended: %s", exc.orig)
        with suppress(DBAPIError):
            self.session.registry().invalidate()  # closed without ROLLBACK; the pool opens a new one next time

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run a write transaction: commit on success, roll back on any exception.

        Any read transaction already open is ended first, so the write lock (SQLite BEGIN IMMEDIATE) is taken
        before the work reads what it will decide on.
        """
        session = self.session()
        if session.in_transaction():
            session.commit()
        session.connection(execution_options={"write": True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def lock(self, key: int) -> None:
        """Serialise writers of one resource (PostgreSQL advisory lock; SQLite already holds the write lock)."""
        if self.dialect == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


db = Database()
