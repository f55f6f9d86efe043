"""The Alembic migrations give exactly the models' schema on the current backend; the objects Alembic cannot
compare are named here and each is checked by its own test; downgrade and upgrade work; money is integer fen.

Each test migrates a database of its own: a new SQLite file, or on PostgreSQL a scratch schema (first on the
search_path alone) that is dropped afterwards, so the shared test database is never touched.
"""

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from instrument_share import models  # noqa: F401  every table registered
from instrument_share.db import Base, make_engine, normalise_url

from ..conftest import BACKEND, PG_URL

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SCRATCH_SCHEMA = "migration_check"

# Objects the migrations create as raw SQL, which autogenerate cannot compare. Each gets its own existence test
# below; a new one must be added here (and tables of it to UNCOMPARED_TABLE_PREFIXES when it is a table).
UNCOMPARED_OBJECTS = {
    "sqlite": {
        # Audit entries are append-only (ASVS 16.4.2, MLPS 8.1.4.3).
        "audit_entries_no_update": ("trigger", "audit_entries"),
        "audit_entries_no_delete": ("trigger", "audit_entries"),
        # ... and so are the daily anchors of its head (issue 13).
        "audit_anchors_no_update": ("trigger", "audit_anchors"),
        "audit_anchors_no_delete": ("trigger", "audit_anchors"),
        # Full-text search over the catalogue: the FTS5 table and the triggers that keep it in step.
        "instrument_fts": ("fts5 table", "instrument_search"),
        "instrument_search_ai": ("trigger", "instrument_search"),
        "instrument_search_ad": ("trigger", "instrument_search"),
        "instrument_search_au": ("trigger", "instrument_search"),
        # No two holding bookings of one instrument overlap.
        "bookings_no_overlap_insert": ("trigger", "bookings"),
        "bookings_no_overlap_update": ("trigger", "bookings"),
        # The revenue ledger is append-only (issue 5).
        "revenue_entries_no_update": ("trigger", "revenue_entries"),
        "revenue_entries_no_delete": ("trigger", "revenue_entries"),
        # Usernames are unique regardless of case.
        "uq_users_username_lower": ("unique index", "users"),
    },
    "postgresql": {
        "audit_entries_no_change": ("trigger", "audit_entries"),
        "audit_entries_no_truncate": ("trigger", "audit_entries"),
        "audit_entries_append_only": ("function", None),
        "audit_anchors_no_change": ("trigger", "audit_anchors"),
        "audit_anchors_no_truncate": ("trigger", "audit_anchors"),
        "audit_anchors_append_only": ("function", None),
        "revenue_entries_no_change": ("trigger", "revenue_entries"),
        "revenue_entries_no_truncate": ("trigger", "revenue_entries"),
        "revenue_entries_append_only": ("function", None),
        # Catalogue search: the access and filter tags, alone and with each gram column.
        "ix_instrument_search_tags_tsv": ("gin index", "instrument_search"),
        "ix_instrument_search_tags_uni_tsv": ("gin index", "instrument_search"),
        "ix_instrument_search_tags_bi_tsv": ("gin index", "instrument_search"),
        "ix_instrument_search_tags_words_tsv": ("gin index", "instrument_search"),
        "ix_instrument_search_tags_name_terms_tsv": ("gin index", "instrument_search"),
        # ... and the orders a first page of a broad match is walked in (catalogue/search_walk.py).
        "ix_instrument_search_value_order": ("order index", "instrument_search"),
        "ix_instrument_search_fee_order": ("order index", "instrument_search"),
        "ix_instrument_search_name_order": ("order index", "instrument_search"),
        # ... and the index-only count of broad text-free queries (catalogue/search.py, COLUMN_COUNT_SHARE).
        "ix_instrument_search_counting": ("counting index", "instrument_search"),
        # ... and the generation that keys the totals each process remembers (catalogue/search_counts.py).
        "search_generation": ("sequence", None),
        "uq_users_username_lower": ("unique index", "users"),
        "bookings_no_overlap": ("exclusion constraint", "bookings"),
        "btree_gist": ("extension", None),
    },
}
# SQLAlchemy cannot reflect the expression index on lower(username) (named above, tested on its own) and warns.
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
UNCOMPARED_TABLE_PREFIXES = ("instrument_fts",)  # the FTS5 table and its shadow tables (SQLite)
FLOAT_TYPES = (sa.Float, sa.Numeric, sa.REAL, sa.DOUBLE, sa.DOUBLE_PRECISION)


def alembic_config(url: str) -> Config:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = url
    cfg.attributes["skip_logging"] = True
    return cfg


@pytest.fixture
def fresh_url(tmp_path, migrated_template):
    """The URL of an empty database (nothing migrated yet).

    On PostgreSQL an empty schema beside the migrated one: the template's migrations installed the extensions
    (btree_gist, pg_trgm) in `public` first, as in production, so the scratch run does not put them in its schema.
    """
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    admin = sa.create_engine(normalise_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCRATCH_SCHEMA}"))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{SCRATCH_SCHEMA}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE"))
    admin.dispose()


@pytest.fixture
def migrated(fresh_url):
    """An engine on a freshly migrated database."""
    command.upgrade(alembic_config(fresh_url), "head")
    engine = make_engine(fresh_url)
    yield engine
    engine.dispose()


def include_name(name, type_, parent_names) -> bool:
    if type_ == "table":
        return not (name and name.startswith(UNCOMPARED_TABLE_PREFIXES))
    return name not in UNCOMPARED_OBJECTS[BACKEND]  # e.g. the GIN expression indexes on PostgreSQL


def schema_differences(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name,
                                                         "render_as_batch": True})
        return compare_metadata(context, Base.metadata)


def test_the_scratch_database_is_the_one_migrated(migrated):
    """Guards the fixture: on PostgreSQL the tables must land in the scratch schema, not in public."""
    with migrated.connect() as conn:
        if BACKEND == "postgresql":
            assert conn.scalar(text("SELECT current_schema()")) == SCRATCH_SCHEMA
        assert "audit_entries" in inspect(conn).get_table_names()


def test_migrations_give_exactly_the_models_schema(migrated):
    assert schema_differences(migrated) == []


def test_autogenerate_through_env_py_finds_nothing_to_do(migrated, fresh_url):
    """`flask db revision` (autogenerate through migrations/env.py) would write an empty migration."""
    command.check(alembic_config(fresh_url))  # raises AutogenerateDiffsDetected otherwise


def test_migrations_end_at_a_single_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1


def _exists(conn, kind: str, name: str, table: str | None) -> bool:
    if BACKEND == "sqlite":
        if kind == "fts5 table":
            sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": name})
            return sql is not None and "USING fts5" in sql and f"content='{table}'" in sql
        if kind == "unique index":
            sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n "
                                   "AND tbl_name = :tb"), {"n": name, "tb": table})
            return sql is not None and sql.upper().startswith("CREATE UNIQUE INDEX") and "lower(" in sql
        return conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = :t AND name = :n AND tbl_name = :tb"),
                           {"t": kind, "n": name, "tb": table}) == 1
    queries = {
        "trigger": "SELECT count(*) FROM pg_trigger WHERE tgname = :n AND tgrelid = to_regclass(:tb) "
                   "AND NOT tgisinternal AND tgenabled = 'O'",
        "function": "SELECT count(*) FROM pg_proc WHERE proname = :n "
                    "AND pronamespace = current_schema()::regnamespace",
        "gin index": "SELECT count(*) FROM pg_indexes WHERE indexname = :n AND tablename = :tb "
                     "AND schemaname = current_schema() AND indexdef LIKE '%USING gin%'",
        "unique index": "SELECT count(*) FROM pg_indexes WHERE indexname = :n AND tablename = :tb "
                        "AND schemaname = current_schema() AND indexdef LIKE 'CREATE UNIQUE INDEX%lower(%'",
        "order index": "SELECT count(*) FROM pg_indexes WHERE indexname = :n AND tablename = :tb "
                       "AND schemaname = current_schema() AND indexdef LIKE '%btree (%, instrument_id, sort_key)'",
        "counting index": "SELECT count(*) FROM pg_indexes WHERE indexname = :n AND tablename = :tb "
                          "AND schemaname = current_schema() AND indexdef LIKE '%btree (level, status, is_defence, "
                          "owner_id) INCLUDE (%original_value_fen)'",
        "exclusion constraint": "SELECT count(*) FROM pg_constraint WHERE conname = :n AND contype = 'x' "
                                "AND conrelid = to_regclass(:tb)",
        "extension": "SELECT count(*) FROM pg_extension WHERE extname = :n",
        "sequence": "SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relname = :n "
                    "AND relnamespace = current_schema()::regnamespace",
    }
    return conn.scalar(text(queries[kind]), {"n": name, "tb": table}) == 1


@pytest.mark.parametrize("name", sorted(UNCOMPARED_OBJECTS[BACKEND]))
def test_an_object_alembic_cannot_compare_exists_after_migration(migrated, name):
    kind, table = UNCOMPARED_OBJECTS[BACKEND][name]
    with migrated.connect() as conn:
        assert _exists(conn, kind, name, table), f"{kind} {name} missing after `flask db upgrade`"


def test_the_named_list_covers_every_trigger_the_migrations_create(migrated):
    """A new trigger (or FTS table) must be named above, so that its existence is tested."""
    with migrated.connect() as conn:
        if BACKEND == "sqlite":
            found = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                          "OR (type = 'table' AND sql LIKE '%VIRTUAL TABLE%')")))
        else:
            found = set(conn.scalars(text(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")))
            found |= set(conn.scalars(text("SELECT conname FROM pg_constraint WHERE contype = 'x' "
                                           "AND connamespace = current_schema()::regnamespace")))
    assert found <= set(UNCOMPARED_OBJECTS[BACKEND])


def test_downgrade_to_base_and_upgrade_again(fresh_url):
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    engine = make_engine(fresh_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            if BACKEND == "sqlite":
                leftovers = conn.scalars(text("SELECT name FROM sqlite_master WHERE type IN ('trigger', 'index', "
                                              "'view') AND name NOT LIKE 'sqlite_%'")).all()
            else:
                leftovers = conn.scalars(text("SELECT proname FROM pg_proc "
                                              "WHERE pronamespace = current_schema()::regnamespace")).all()
            assert leftovers == []
        command.upgrade(cfg, "head")
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            for name, (kind, table) in UNCOMPARED_OBJECTS[BACKEND].items():
                assert _exists(conn, kind, name, table), name
    finally:
        engine.dispose()


# ---- money is integer fen (reliability goal 7: 0 float money columns) --------------------------------------


def test_every_fen_column_is_bigint_in_the_models():
    fen = [(t.name, c) for t in Base.metadata.sorted_tables for c in t.columns if c.name.endswith("_fen")]
    assert len(fen) >= 2
    assert [(t, c.name) for t, c in fen if not isinstance(c.type, sa.BigInteger)] == []


def test_no_model_column_is_float_or_numeric():
    floats = [(t.name, c.name, str(c.type)) for t in Base.metadata.sorted_tables for c in t.columns
              if isinstance(c.type, FLOAT_TYPES)]
    assert floats == []


def test_the_migrated_schema_stores_money_as_bigint_and_nothing_as_float(migrated):
    fen, floats = [], []
    with migrated.connect() as conn:
        inspector = inspect(conn)
        for table in inspector.get_table_names():
            if table.startswith(UNCOMPARED_TABLE_PREFIXES):
                continue
            for column in inspector.get_columns(table):
                type_name = str(column["type"]).upper()
                if isinstance(column["type"], FLOAT_TYPES) or re.search(r"REAL|FLOAT|DOUBLE|NUMERIC|DECIMAL",
                                                                        type_name):
                    floats.append((table, column["name"], type_name))
                if column["name"].endswith("_fen"):
                    fen.append((table, column["name"], type_name))
    assert floats == []
    assert fen and all(type_name == "BIGINT" for _t, _c, type_name in fen), fen
    model_fen = {(t.name, c.name) for t in Base.metadata.sorted_tables for c in t.columns if c.name.endswith("_fen")}
    assert {(t, c) for t, c, _type in fen} == model_fen


def test_the_comparison_notices_a_schema_that_drifted(migrated):
    """The comparison above can fail: a column added and an index dropped behind Alembic's back are reported."""
    with migrated.begin() as conn:
        conn.execute(text("ALTER TABLE outbox_messages ADD COLUMN surprise INTEGER"))
        conn.execute(text("DROP INDEX ix_outbox_messages_status_next"))
    differences = schema_differences(migrated)
    # ("add_index", Index) and ("remove_column", schema, table name, Column)
    assert ("add_index", "ix_outbox_messages_status_next") in {(d[0], d[1].name) for d in differences
                                                               if d[0] == "add_index"}
    assert ("remove_column", "outbox_messages", "surprise") in {(d[0], d[2], d[3].name) for d in differences
                                                                if d[0] == "remove_column"}


# ---- usernames are unique regardless of case, in the database itself


def test_usernames_differing_only_in_case_cannot_both_be_stored(migrated):
    """The service checks case-insensitively; the unique index on lower(username) holds even when it is bypassed."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    from instrument_share.accounts.models import Organization, User

    with Session(migrated) as session:
        org = Organization(name="大小写测试单位", uscc="91320100MA0000001X", kind="enterprise", region_code="320100")
        session.add(org)
        session.flush()
        session.add(User(username="Zhang.Wei", email="a@example.cn", password_hash="!", organization_id=org.id))
        session.flush()
        session.add(User(username="zhang.wei", email="b@example.cn", password_hash="!", organization_id=org.id))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        session.add(org := Organization(name="大小写测试单位", uscc="91320100MA0000001X", kind="enterprise",
                                        region_code="320100"))
        session.flush()
        session.add_all([User(username=name, email=f"{name}@example.cn", password_hash="!", organization_id=org.id)
                         for name in ("li.na", "li.na2")])
        session.flush()  # names that differ in more than case are still accepted


# ---- search keys are filled for rows that existed before the migration that added them


def test_search_rows_that_existed_before_get_the_keys_reindexing_gives(fresh_url):
    from datetime import UTC, datetime

    from instrument_share.catalogue import search_keys
    from instrument_share.db import UTCDateTime

    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "35aac9237c34")  # the revision before search keys
    engine = make_engine(fresh_url)
    published = datetime(2026, 3, 1, 8, 30, 15, tzinfo=UTC)
    orgs = sa.table("organizations", *(sa.column(c) for c in ("id", "name", "uscc", "kind", "region_code",
                                                                 "dishonest", "status")),
                    sa.column("created_at", UTCDateTime()))
    instruments = sa.table("instruments", *(sa.column(c) for c in (
        "id", "owner_id", "status", "name_zh", "original_value_fen", "category_code", "service_modes")),
        sa.column("created_at", UTCDateTime()), sa.column("updated_at", UTCDateTime()))
    rows = sa.table("instrument_search", *(sa.column(c) for c in (
        "id", "instrument_id", "level", "owner_id", "status", "is_defence", "owner_kind", "region_code", "name_sort",
        "category_code", "district", "service_modes", "fee_per_hour_fen", "fee_per_sample_fen", "original_value_fen",
        "body", "uni", "bi", "words")), sa.column("published_at", UTCDateTime()))
    try:
        with engine.begin() as conn:
            conn.execute(orgs.insert().values(id=7, name="军工研究所", uscc="12320100MB0000001X", kind="defence_unit",
                                              region_code="320100", dishonest=False, status="verified",
                                              created_at=published))
            conn.execute(instruments.insert().values(id=11, owner_id=7, status="published", name_zh="真空质谱检漏仪",
                                                     original_value_fen=900_000_000, category_code="0102",
                                                     service_modes="machine_time", created_at=published,
                                                     updated_at=published))
            common = {"instrument_id": 11, "owner_id": 7, "status": "published", "is_defence": True,
                      "owner_kind": "defence_unit", "published_at": published, "body": "", "uni": "", "bi": "",
                      "words": ""}
            conn.execute(rows.insert().values(common | {"id": 1, "level": "public", "name_sort": "真空质谱检漏仪"}))
            conn.execute(rows.insert().values(common | {
                "id": 2, "level": "cleared", "name_sort": "真空质谱检漏仪", "region_code": "320100",
                "category_code": "0102", "district": "江宁区", "service_modes": ",machine_time,",
                "fee_per_hour_fen": 30_000, "fee_per_sample_fen": 20_000, "original_value_fen": 900_000_000}))
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            stored = {r.level: r for r in conn.execute(text(
                "SELECT level, sort_key, tags, name_terms FROM instrument_search ORDER BY id"))}
            fact_names = list(search_keys.RowFacts.__dataclass_fields__)
            for level in ("public", "cleared"):
                source = conn.execute(sa.select(*(sa.column(k) for k in fact_names)).select_from(rows)
                                      .where(rows.c.level == level)).mappings().one()
                facts = search_keys.RowFacts(**{k: source[k] for k in fact_names})
                # PostgreSQL filters fee and value ranges on the columns: its rows carry no range tags (9c4d7e2a1f60).
                assert stored[level].tags == search_keys.row_tags(facts, ranges=BACKEND == "sqlite")
                assert stored[level].sort_key == search_keys.sort_key(11, published, level)
                assert stored[level].name_terms == search_keys.name_terms("真空质谱检漏仪")
            assert "见acl7" in stored["cleared"].tags.split() and "见fd江宁区" in stored["cleared"].tags.split()
            assert "见fd江宁区" not in stored["public"].tags  # the public row does not show the district
            assert ("见fe0x20000" in stored["cleared"].tags.split()) == (BACKEND == "sqlite")
            if BACKEND == "sqlite":  # the rebuilt FTS5 index finds the rows by their tags, keyed by sort key
                found = conn.scalars(text("SELECT rowid FROM instrument_fts WHERE instrument_fts MATCH "
                                          "'tags : \"见acl7\"'")).all()
                assert found == [stored["cleared"].sort_key]
    finally:
        engine.dispose()


# ---- sessions in progress hold their time from 3f6a0c2d9e14 on


def test_sessions_in_progress_hold_their_time_after_migration_unless_it_was_booked_meanwhile(fresh_url):
    from datetime import UTC, datetime, timedelta

    from instrument_share.db import UTCDateTime

    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "7e1d3c9b5a28")  # when a session in progress held nothing
    engine = make_engine(fresh_url)
    t0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

    def table(name, *names, times=()):
        return sa.table(name, *(sa.column(c) for c in names), *(sa.column(c, UTCDateTime()) for c in times))

    orgs = table("organizations", "id", "name", "uscc", "kind", "region_code", "dishonest", "status",
                 times=("created_at",))
    users = table("users", "id", "username", "email", "password_hash", "organization_id", "is_disabled",
                  "is_org_manager", "session_version", times=("password_changed_at", "created_at"))
    instruments = table("instruments", "id", "owner_id", "status", "name_zh", "original_value_fen",
                        "category_code", "service_modes", times=("created_at", "updated_at"))
    bookings = table("bookings", "id", "instrument_id", "unit_id", "organization_id", "user_id", "mode", "status",
                     "quote_fen", "quote_basis", "late_cancellation",
                     times=("start_at", "end_at", "hold_start", "hold_end", "created_at"))

    def booking(booking_id, status, start_hours, end_hours):
        start, end = t0 + timedelta(hours=start_hours), t0 + timedelta(hours=end_hours)
        return {"id": booking_id, "instrument_id": 11, "unit_id": 7, "organization_id": 8, "user_id": 3,
                "mode": "machine_time", "status": status, "quote_fen": 0, "quote_basis": "test",
                "late_cancellation": False, "start_at": start, "end_at": end, "hold_start": start, "hold_end": end,
                "created_at": t0}

    try:
        with engine.begin() as conn:
            conn.execute(orgs.insert(), [
                {"id": 7, "name": "大学", "uscc": "12320100MB0000001X", "kind": "university", "region_code": "320100",
                 "dishonest": False, "status": "verified", "created_at": t0},
                {"id": 8, "name": "企业", "uscc": "91320100MA0000002X", "kind": "enterprise", "region_code": "320100",
                 "dishonest": False, "status": "verified", "created_at": t0}])
            conn.execute(users.insert().values(id=3, username="u", email="u@example.cn", password_hash="x",
                                               organization_id=8, is_disabled=False, is_org_manager=False,
                                               session_version=0, password_changed_at=t0, created_at=t0))
            conn.execute(instruments.insert().values(id=11, owner_id=7, status="published", name_zh="液相色谱仪",
                                                     original_value_fen=0, category_code="0105",
                                                     service_modes="machine_time", created_at=t0, updated_at=t0))
            conn.execute(bookings.insert(), [
                booking(1, "in_progress", 0, 2), booking(2, "pending", 1, 2),  # its rest was booked meanwhile
                booking(3, "in_progress", 4, 6)])
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            held = dict(conn.execute(text("SELECT id, hold_start IS NOT NULL FROM bookings")).all())
        assert held == {1: False, 2: True, 3: True}
        overlapping = booking(4, "pending", 5, 7)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(bookings.insert().values(overlapping))  # the session under way holds its time
    finally:
        engine.dispose()
